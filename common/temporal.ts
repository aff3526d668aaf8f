/** The project's data converter (clients and workers), and workers' connections to Temporal. */
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

export async function connectWorker(cfg: TemporalSettings): Promise<NativeConnection> {
  return NativeConnection.connect({ address: cfg.TEMPORAL_ADDRESS });
}
