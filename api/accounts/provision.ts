/**
 * Making an account's own Temporal namespace and Vault Transit key (POST /api/accounts). Both steps
 * are idempotent (a namespace or key that exists already is kept), so a request that failed midway is
 * completed by its retry.
 */
import type { Connection } from '@temporalio/client';
import { ensureNamespaceKey, transitKeyName, type VaultAccess } from '../../common/codec';
import { ensureNamespace } from '../../common/temporal';
import { SEARCH_ATTRIBUTES } from '../../workflows/definitions';

export interface AccountProvisioner {
  /** The Temporal namespace of an account of this name: `<TEMPORAL_NAMESPACE>-<name>`. */
  namespaceFor(accountName: string): string;
  transitKeyFor(namespace: string): string;
  /** Creates the namespace's Transit key when missing. */
  ensureTransitKey(namespace: string): Promise<void>;
  /** Registers the namespace with Stackly's search attributes when missing, and waits until it is served. */
  ensureNamespace(namespace: string, accountName: string): Promise<void>;
}

export function createAccountProvisioner(o: { connection: Connection; vault: VaultAccess; namespacePrefix: string; retentionDays?: number }): AccountProvisioner {
  return {
    namespaceFor: (name) => `${o.namespacePrefix}-${name}`,
    transitKeyFor: transitKeyName,
    async ensureTransitKey(namespace) {
      await ensureNamespaceKey({ ...o.vault, namespace });
    },
    async ensureNamespace(namespace, accountName) {
      await ensureNamespace(o.connection, {
        namespace, searchAttributes: SEARCH_ATTRIBUTES, description: `Stackly account ${accountName}`,
        ...(o.retentionDays ? { retentionDays: o.retentionDays } : {}),
      });
    },
  };
}
