/**
 * The one place the push pipeline reads stack.hcl: it delegates to the stack.hcl parser and
 * validator in activities/hcl/stack-config.ts and turns its failures into the stored error shape
 * `{ file, line, field, message }`. Raw → validate → Valid: callers only ever see a `StackConfig`
 * or a `StackConfigError` (workflows/model/stack.ts), never a half-checked object.
 */
import type { StackConfigResult } from '../workflows/model/stack';
import { parseStackConfig } from './hcl/stack-config';
import { HclError } from './hcl/types';

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
