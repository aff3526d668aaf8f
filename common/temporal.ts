/** Connections to Temporal for clients and workers, with the project's data converter. */
import { Client, Connection } from '@temporalio/client';
import type { DataConverter, PayloadCodec } from '@temporalio/common';
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

export async function connectClient(cfg: TemporalSettings, codec?: PayloadCodec): Promise<Client> {
  const connection = await Connection.connect({ address: cfg.TEMPORAL_ADDRESS });
  return new Client({ connection, namespace: cfg.TEMPORAL_NAMESPACE, dataConverter: dataConverter(codec) });
}

export async function connectWorker(cfg: TemporalSettings): Promise<NativeConnection> {
  return NativeConnection.connect({ address: cfg.TEMPORAL_ADDRESS });
}
