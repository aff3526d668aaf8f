/**
 * Where a webhook hook may POST (issue 15): a host whose every resolved address is a public unicast
 * one, or lies in a range an admin of the account allow-listed (`PUT /api/hooks/allowed-addresses`).
 * Loopback, link-local (cloud metadata at 169.254.169.254), private, unique-local, carrier-grade NAT,
 * unspecified, multicast and reserved addresses are refused otherwise. The request then connects to
 * the address that was checked (a fixed `lookup`), so a second DNS answer cannot switch it
 * (DNS rebinding); TLS still verifies the certificate against the URL's host name.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';

export type Lookup = (host: string) => Promise<Array<{ address: string; family: number }>>;

export const systemLookup: Lookup = (host) => dnsLookup(host, { all: true, verbatim: true });

/** A normalised CIDR (`10.0.0.0/8`, `127.0.0.1/32`, `fd00::/8`), or an error naming what is wrong. */
export function normaliseCidr(text: string): { cidr: string } | { error: string } {
  const t = text.trim();
  try {
    if (t.includes('/')) {
      const [addr, bits] = ipaddr.parseCIDR(t);
      const net = addr.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(t) : ipaddr.IPv6.networkAddressFromCIDR(t);
      return { cidr: `${net.toString()}/${bits}` };
    }
    const a = ipaddr.parse(t);
    return { cidr: `${a.toString()}/${a.kind() === 'ipv4' ? 32 : 128}` };
  } catch {
    return { error: `"${t.slice(0, 60)}" is not an IP address or CIDR range (e.g. 10.1.2.0/24, 127.0.0.1, fd00::/8)` };
  }
}

function inAllowed(addr: ipaddr.IPv4 | ipaddr.IPv6, allowed: readonly string[]): boolean {
  for (const c of allowed) {
    try {
      const [net, bits] = ipaddr.parseCIDR(c);
      if (net.kind() === addr.kind() && addr.match([net, bits] as [typeof addr, number])) return true;
    } catch { /* a bad row allows nothing */ }
  }
  return false;
}

/** Why the address may not be reached, or undefined when it may. */
export function addressProblem(address: string, allowed: readonly string[]): string | undefined {
  let a: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    a = ipaddr.parse(address);
  } catch {
    return `${address} is not an IP address`;
  }
  // ::ffff:10.0.0.1 is 10.0.0.1.
  if (a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress()) a = (a as ipaddr.IPv6).toIPv4Address();
  if (inAllowed(a, allowed)) return undefined;
  const range = a.range();
  if (range === 'unicast') return undefined;
  return `${a.toString()} is a ${range} address (an admin may allow it for the account: PUT /api/hooks/allowed-addresses)`;
}

/**
 * The address to connect to for `url`: the host resolved once, every answer checked (one bad answer
 * refuses the host: the resolver could hand any of them to a later lookup).
 */
export async function checkedTarget(url: URL, allowed: readonly string[], lookup: Lookup = systemLookup): Promise<{ address: string; family: number } | { error: string }> {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let answers: Array<{ address: string; family: number }>;
  if (ipaddr.isValid(host)) answers = [{ address: host, family: host.includes(':') ? 6 : 4 }];
  else {
    try {
      answers = await lookup(host);
    } catch (e) {
      return { error: `${host} does not resolve: ${(e as { code?: string }).code ?? (e as Error).message}` };
    }
  }
  if (!answers.length) return { error: `${host} does not resolve` };
  for (const a of answers) {
    const p = addressProblem(a.address, allowed);
    if (p) return { error: `${host} refused: ${p}` };
  }
  return answers[0]!;
}
