/**
 * The one place the push pipeline reads stack.hcl: it delegates to the stack.hcl parser and
 * validator in activities/hcl/stack-config.ts and turns its failures into the stored error shape
 * `{ file, line, field, message }`. Raw → validate → Valid: callers only ever see a `StackConfig`
 * or a `StackConfigError`, never a half-checked object.
 */
import { parseStackConfig, type StackConfig } from './hcl/stack-config';
import { HclError } from './hcl/types';

export type { StackConfig };

/** Where and why a stack.hcl is invalid (stored in stack_codes.error). */
export interface StackConfigError {
  file: string;
  line: number | null;
  field: string | null;
  message: string;
}

export type StackConfigResult = { ok: true; config: StackConfig } | { ok: false; error: StackConfigError };

/** Parses and validates one stack.hcl. Bad input is the result, not an exception. */
export async function validateStackConfig(file: string, text: string): Promise<StackConfigResult> {
  try {
    return { ok: true, config: await parseStackConfig(text, file) };
  } catch (e) {
    if (e instanceof HclError) {
      return { ok: false, error: { file: e.file ?? file, line: e.line ?? null, field: e.field ?? null, message: e.message } };
    }
    throw e;
  }
}
