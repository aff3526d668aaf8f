/**
 * `stackly api-key …`: the account's API keys through the REST API (admins only).
 *
 *   stackly api-key create <name> --role <role> [--expires-in-days <n>] [--json]   # POST /api/api-keys
 *   stackly api-key list [--json]                                                  # GET /api/api-keys
 *   stackly api-key revoke <id|prefix>                                             # DELETE /api/api-keys/:id
 *
 * `create` prints the key alone on stdout (so `… > file` keeps just the key) and what it is, with the
 * warning that it is shown only this once, on stderr. `revoke` takes the key's id, its prefix (as
 * `list` shows it, with or without `stk_`), or the whole key (a leaked key is revoked with what leaked).
 */
import { Option, type Command } from 'commander';
import { parseApiKey } from '../common/api-keys';
import { ROLES, type Role } from '../db/tables/people';
import { ApiClient, resolveConnection, withConnection, type ConnectionOptions } from './api-client';

/** An API key as the API shows it (api/routes/people.ts); `key` only in the answer to its creation. */
export interface ApiKeyBody {
  id: string;
  name: string;
  role: Role;
  prefix: string;
  user_id: string | null;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
  status: 'active' | 'expired' | 'revoked';
  key?: string;
}

export function createApiKey(client: Pick<ApiClient, 'request'>, body: { name: string; role: Role; expires_in_days?: number }): Promise<ApiKeyBody & { key: string }> {
  return client.request(`creating API key ${body.name}`, 'POST', '/api/api-keys', body);
}

export async function listApiKeys(client: Pick<ApiClient, 'request'>): Promise<ApiKeyBody[]> {
  return (await client.request<{ items: ApiKeyBody[] }>('listing API keys', 'GET', '/api/api-keys')).items;
}

/**
 * The key `ref` names among `keys`: by id, by prefix (`abc…`, `stk_abc…`, or the whole key), or by the
 * start of a prefix that only one key has. Throws naming the candidates when it is ambiguous.
 */
export function findKey(keys: readonly ApiKeyBody[], ref: string): ApiKeyBody {
  const r = ref.trim();
  const byId = keys.find((k) => k.id.toLowerCase() === r.toLowerCase());
  if (byId) return byId;
  const prefix = parseApiKey(r)?.prefix ?? r.replace(/^stk_/, '').replace(/_$/, '');
  const exact = keys.find((k) => k.prefix === prefix);
  if (exact) return exact;
  const starting = prefix.length >= 4 ? keys.filter((k) => k.prefix.startsWith(prefix)) : [];
  if (starting.length === 1) return starting[0]!;
  if (starting.length > 1) throw new Error(`"${ref}" is the start of several keys' prefixes (${starting.map((k) => k.prefix).join(', ')}): give more of it, or the id`);
  throw new Error(`no API key with id or prefix "${ref}" in this account (stackly api-key list shows them)`);
}

/** Revokes the key `ref` names; answers the key as it was. */
export async function revokeApiKey(client: Pick<ApiClient, 'request'>, ref: string): Promise<ApiKeyBody> {
  const key = findKey(await listApiKeys(client), ref);
  if (key.revoked_at) throw new Error(`API key ${key.name} (${key.prefix}) was already revoked at ${when(key.revoked_at)}`);
  await client.request(`revoking API key ${key.name} (${key.prefix})`, 'DELETE', `/api/api-keys/${encodeURIComponent(key.id)}`);
  return key;
}

/** `2026-12-02 03:43` (UTC), or `-`. */
export function when(iso: string | null): string {
  if (!iso) return '-';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().slice(0, 16).replace('T', ' ')}`;
}

/** The table `list` prints: a header and one line per key, columns padded. */
export function keysTable(keys: readonly ApiKeyBody[]): string {
  const rows = [
    ['ID', 'PREFIX', 'NAME', 'ROLE', 'CREATED', 'EXPIRES', 'LAST USED', 'REVOKED'],
    ...keys.map((k) => [k.id, `stk_${k.prefix}`, k.name, k.role, when(k.created_at), k.expires_at ? when(k.expires_at) + (k.status === 'expired' ? ' (expired)' : '') : 'never', k.last_used_at ? when(k.last_used_at) : 'never', when(k.revoked_at)]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

/** What `create` says on stderr around the key. */
export function createdNotice(k: ApiKeyBody): string {
  return [
    `Created API key ${k.name}: id ${k.id}, prefix stk_${k.prefix}, role ${k.role}, ${k.expires_at ? `expires ${when(k.expires_at)} UTC` : 'never expires'}.`,
    'Store the key (the line on stdout) now, somewhere safe: it is shown only this once; Stackly keeps only its hash.',
    '',
  ].join('\n');
}


function positiveDays(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < 1 || n > 3650) throw new Error(`--expires-in-days must be a whole number of days from 1 to 3650, got "${v}"`);
  return n;
}

export function registerApiKey(program: Command): void {
  const cmd = program.command('api-key').description('API keys of the account (through the REST API; admins only)');

  withConnection(cmd.command('create'))
    .description('make an API key; it is printed once, on stdout')
    .argument('<name>', 'what the key is for (letters, digits, space, _ . -)')
    .addOption(new Option('--role <role>', 'what the key may do (no more than your own role)').choices(ROLES).makeOptionMandatory())
    .option('--expires-in-days <n>', 'the key stops working after this many days (default: never)')
    .option('--json', 'print the API\'s JSON (the key included)')
    .action(async (name: string, opts: ConnectionOptions & { role: Role; expiresInDays?: string; json?: boolean }) => {
      const days = opts.expiresInDays === undefined ? undefined : positiveDays(opts.expiresInDays);
      const client = new ApiClient(resolveConnection(opts));
      const k = await createApiKey(client, { name, role: opts.role, ...(days !== undefined ? { expires_in_days: days } : {}) });
      if (opts.json) {
        process.stdout.write(JSON.stringify(k) + '\n');
        process.stderr.write('The key is in that JSON ("key") and is shown only this once: store it now.\n');
        return;
      }
      process.stderr.write(createdNotice(k));
      process.stdout.write(k.key + '\n');
    });

  withConnection(cmd.command('list'))
    .description('list the account\'s API keys (never the keys themselves)')
    .option('--json', 'print the API\'s JSON')
    .action(async (opts: ConnectionOptions & { json?: boolean }) => {
      const keys = await listApiKeys(new ApiClient(resolveConnection(opts)));
      process.stdout.write(opts.json ? JSON.stringify({ items: keys }) + '\n' : keysTable(keys));
    });

  withConnection(cmd.command('revoke'))
    .description('revoke an API key at once')
    .argument('<id|prefix>', 'the key\'s id, its prefix (as list shows it), or the key itself')
    .action(async (ref: string, opts: ConnectionOptions) => {
      if (ref.trim() === '') throw new Error('say which key: its id or prefix');
      const k = await revokeApiKey(new ApiClient(resolveConnection(opts)), ref);
      process.stdout.write(`Revoked API key ${k.name} (stk_${k.prefix}, id ${k.id}, role ${k.role}): it no longer works.\n`);
    });
}
