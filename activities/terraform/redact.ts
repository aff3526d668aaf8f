/**
 * Redaction of sensitive values from tofu output before it reaches a log, a heartbeat or an error
 * message. The secrets are the values of sensitive variables and sensitive inputs/outputs: every
 * string leaf of them (and its JSON-quoted form), longest first so a secret that contains another is
 * replaced whole.
 */
export const REDACTED = '(sensitive)';

/** Strings shorter than this are not redacted on their own (they would shred ordinary text). */
const MIN_SECRET_LENGTH = 3;

/**
 * Replaces every secret in a text. `secrets` (longest first) lets a streaming log hold back the end
 * of its text until no secret can straddle the cut (log-stream.ts redactionSafeCut); absent on the
 * identity redactor of a job not yet prepared.
 */
export type Redactor = ((text: string) => string) & { readonly secrets?: readonly string[] };

function leaves(v: unknown, out: Set<string>): void {
  if (v === null || v === undefined) return;
  if (typeof v === 'string') { out.add(v); return; }
  if (typeof v === 'number' || typeof v === 'boolean') { out.add(String(v)); return; }
  if (Array.isArray(v)) { v.forEach((x) => leaves(x, out)); return; }
  if (typeof v === 'object') {
    Object.values(v as Record<string, unknown>).forEach((x) => leaves(x, out));
    const json = JSON.stringify(v);
    if (json.length >= MIN_SECRET_LENGTH) out.add(json);
  }
}

export function createRedactor(secretValues: unknown[]): Redactor {
  const set = new Set<string>();
  for (const v of secretValues) leaves(v, set);
  const secrets = new Set<string>();
  for (const s of set) {
    if (s.length < MIN_SECRET_LENGTH) continue;
    secrets.add(s);
    // The same value as it appears inside JSON or HCL strings (escaped quotes, newlines).
    const quoted = JSON.stringify(s).slice(1, -1);
    if (quoted !== s) secrets.add(quoted);
  }
  const list = [...secrets].sort((a, b) => b.length - a.length);
  if (list.length === 0) return Object.assign((t: string) => t, { secrets: [] as readonly string[] });
  return Object.assign((text: string): string => {
    let out = text;
    for (const s of list) if (out.includes(s)) out = out.split(s).join(REDACTED);
    return out;
  }, { secrets: list as readonly string[] });
}
