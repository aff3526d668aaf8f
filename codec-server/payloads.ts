/**
 * The codec server protocol's JSON form of payloads (what the Web UI and `temporal --codec-endpoint`
 * send): `{"payloads":[{"metadata":{"encoding":"<base64>",…},"data":"<base64>"},…]}`. This is the
 * protobuf JSON mapping of temporal.api.common.v1.Payloads (bytes as base64).
 */
import type { Payload } from '@temporalio/common';

export interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

export class BadPayloadError extends Error {
  constructor(readonly payloadIndex: number | undefined, message: string) {
    super(message);
    this.name = 'BadPayloadError';
  }
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

function bytes(v: unknown, where: string, index: number): Uint8Array {
  if (typeof v !== 'string' || !BASE64.test(v)) throw new BadPayloadError(index, `payload ${index}: ${where} is not base64`);
  return new Uint8Array(Buffer.from(v, 'base64'));
}

/** Validates the request body and converts it; errors name the payload index, never its content. */
export function payloadsFromJson(body: unknown): Payload[] {
  if (typeof body !== 'object' || body === null || !Array.isArray((body as { payloads?: unknown }).payloads)) {
    throw new BadPayloadError(undefined, 'expected a JSON object {"payloads": [...]}');
  }
  return ((body as { payloads: unknown[] }).payloads).map((p, i) => {
    if (typeof p !== 'object' || p === null || Array.isArray(p)) throw new BadPayloadError(i, `payload ${i}: not an object`);
    const { metadata, data } = p as { metadata?: unknown; data?: unknown };
    const out: Payload = { metadata: {} };
    if (metadata !== undefined && metadata !== null) {
      if (typeof metadata !== 'object' || Array.isArray(metadata)) throw new BadPayloadError(i, `payload ${i}: metadata is not an object`);
      for (const [k, v] of Object.entries(metadata)) out.metadata![k] = bytes(v, `metadata "${k.slice(0, 40)}"`, i);
    }
    if (data !== undefined && data !== null) out.data = bytes(data, 'data', i);
    return out;
  });
}

export function payloadsToJson(payloads: Payload[]): { payloads: JsonPayload[] } {
  return {
    payloads: payloads.map((p) => {
      const metadata: Record<string, string> = {};
      for (const [k, v] of Object.entries(p.metadata ?? {})) if (v) metadata[k] = Buffer.from(v).toString('base64');
      return p.data && p.data.length ? { metadata, data: Buffer.from(p.data).toString('base64') } : { metadata };
    }),
  };
}
