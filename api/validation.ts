/** Request bodies are validated with zod; a failure is 400 naming the field. */
import type { z } from 'zod';
import { ApiError } from './errors';

export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const r = schema.safeParse(body ?? {});
  if (!r.success) {
    const i = r.error.issues[0]!;
    const field = i.path.join('.');
    throw new ApiError(400, 'invalid_request', field ? `${field}: ${i.message}` : i.message);
  }
  return r.data;
}
