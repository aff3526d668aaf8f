/**
 * The project's data converter (clients and workers), workers' connections to Temporal, the api's
 * clients (one per account namespace over one connection), and registering an account's namespace.
 */
import { Client, type Connection } from '@temporalio/client';
import type { DataConverter, PayloadCodec } from '@temporalio/common';
import { msToTs } from '@temporalio/common/lib/time';
import { temporal as proto } from '@temporalio/proto';
import { NativeConnection } from '@temporalio/worker';
import { dataConverterFor } from './codec';

export interface TemporalSettings {
  TEMPORAL_ADDRESS: string;
  TEMPORAL_NAMESPACE: string;
}

/** The project's data converter (Vault codec + encoded failure attributes); none only in tests. */
export function dataConverter(codec?: PayloadCodec): DataConverter | undefined {
  return codec ? dataConverterFor(codec) : undefined;
}

export async function connectWorker(cfg: Pick<TemporalSettings, 'TEMPORAL_ADDRESS'>): Promise<NativeConnection> {
  return NativeConnection.connect({ address: cfg.TEMPORAL_ADDRESS });
}

/**
 * Temporal clients by namespace: each account has its own namespace (and Transit key), so a request
 * talks to Temporal through the client of its account's namespace, never another's.
 */
export interface NamespaceClients {
  forNamespace(namespace: string): Client;
}

/**
 * One client per namespace over one connection, made on first use and kept (a few hundred accounts
 * are a few hundred small objects; the connection is shared). `codecFor` gives the namespace's payload
 * codec (keyring.codec); without it payloads are not encrypted (tests that never reach Temporal).
 */
export function namespaceClients(connection: Connection, codecFor?: (namespace: string) => PayloadCodec): NamespaceClients {
  const clients = new Map<string, Client>();
  return {
    forNamespace(namespace) {
      let c = clients.get(namespace);
      if (!c) {
        const dc = codecFor ? dataConverter(codecFor(namespace)) : undefined;
        c = new Client({ connection, namespace, ...(dc ? { dataConverter: dc } : {}) });
        clients.set(namespace, c);
      }
      return c;
    },
  };
}

/** Clients given by the caller (tests with one namespace): any other namespace is an error, never a fallback. */
export function fixedClients(...given: Client[]): NamespaceClients {
  return {
    forNamespace(namespace) {
      const c = given.find((x) => x.options.namespace === namespace);
      if (!c) throw new Error(`no Temporal client for namespace ${namespace}`);
      return c;
    },
  };
}

const ALREADY_EXISTS = 6;
const INDEXED: Record<string, proto.api.enums.v1.IndexedValueType> = {
  Keyword: proto.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  Text: proto.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
  Int: proto.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT,
  Bool: proto.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
  Datetime: proto.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
};

/**
 * Registers a namespace (RegisterNamespace; one that exists already is fine), adds the search
 * attributes it lacks, and waits until the frontend serves it (a namespace is usable a moment after
 * it is registered). Idempotent: a retry after a failure at any step completes the rest.
 */
export async function ensureNamespace(
  connection: Connection,
  o: { namespace: string; retentionDays?: number; searchAttributes: Readonly<Record<string, string>>; timeoutMs?: number; description?: string },
): Promise<{ registered: boolean }> {
  let registered = false;
  try {
    await connection.workflowService.registerNamespace({
      namespace: o.namespace,
      description: o.description ?? '',
      workflowExecutionRetentionPeriod: msToTs(`${o.retentionDays ?? 30} days`),
    });
    registered = true;
  } catch (e) {
    if ((e as { code?: number }).code !== ALREADY_EXISTS) throw e;
  }
  const deadline = Date.now() + (o.timeoutMs ?? 30_000);
  for (let delay = 100; ; delay = Math.min(delay * 2, 1000)) {
    try {
      const have = (await connection.operatorService.listSearchAttributes({ namespace: o.namespace })).customAttributes ?? {};
      const missing = Object.entries(o.searchAttributes).filter(([name]) => !(name in have));
      if (missing.length) {
        await connection.operatorService.addSearchAttributes({
          namespace: o.namespace,
          searchAttributes: Object.fromEntries(missing.map(([name, type]) => {
            const t = INDEXED[type];
            if (t === undefined) throw new Error(`search attribute ${name}: unknown type ${type}`);
            return [name, t];
          })),
        });
        throw new Error(`search attributes being added: ${missing.map(([n]) => n).join(', ')}`);
      }
      // Served by the frontend's namespace registry (not only stored): a workflow may start now.
      await connection.workflowService.listWorkflowExecutions({ namespace: o.namespace, pageSize: 1 });
      return { registered };
    } catch (e) {
      if (Date.now() + delay > deadline) throw new Error(`namespace ${o.namespace} is not usable yet: ${(e as Error).message}`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
