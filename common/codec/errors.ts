/**
 * Errors of the payload codec. Messages name the namespace, the Transit key and the payload index,
 * never a payload, a plaintext, a data key or a token.
 */
export type CodecErrorCode =
  /** The namespace has no Transit key (or the mount does not exist). */
  | 'namespace_key_missing'
  /** One payload could not be decoded: malformed, tampered, truncated, or another namespace's key. */
  | 'payload_invalid'
  /** Vault did not answer, or answered with a server error. */
  | 'vault_unavailable'
  /** Vault refused the request (permission, sealed, bad request) for a reason not caused by a payload. */
  | 'vault_error';

export class CodecError extends Error {
  readonly code: CodecErrorCode;
  /** Index of the offending payload in the request, when one payload is at fault. */
  readonly payloadIndex?: number;
  readonly namespace?: string;

  constructor(code: CodecErrorCode, message: string, extra: { payloadIndex?: number; namespace?: string } = {}) {
    super(message);
    this.name = 'CodecError';
    this.code = code;
    this.payloadIndex = extra.payloadIndex;
    this.namespace = extra.namespace;
  }
}

export const isCodecError = (e: unknown): e is CodecError => e instanceof CodecError;
