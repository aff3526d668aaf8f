/** Naming of the Transit key that protects one Temporal namespace. */

/**
 * The Transit key name for a Temporal namespace: `temporal-<namespace>`, with every character Vault
 * key names and URL paths do not take well replaced by `_`. Temporal namespace names are
 * `[A-Za-z0-9._-]`, so for real namespaces this is an identity mapping after the prefix.
 */
export function transitKeyName(namespace: string): string {
  if (!namespace) throw new Error('transitKeyName: namespace is empty');
  return `temporal-${namespace.replace(/[^A-Za-z0-9._-]/g, '_')}`;
}

/** The Transit key version carried by a wrapped data key (`vault:v3:…` → 3), or undefined. */
export function keyVersionOf(wrappedKey: string): number | undefined {
  const m = /^vault:v(\d+):/.exec(wrappedKey);
  return m ? Number(m[1]) : undefined;
}
