/**
 * Where a stack state's Terraform state lives in the bucket. Pure.
 *
 * A state's objects live under a prefix derived from its immutable id, `<account>/<state-id>/`, one
 * object per unit (`<prefix><unit>.tfstate`): never from a name read from a file, so two stacks that
 * declare the same name never share state, and a stack moved to another directory keeps its state.
 * The prefix is stored with the state (`stack_states.tf_state_key`) and travels with every run.
 */

const SEGMENT = /^[A-Za-z0-9_.-]+$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class StateKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StateKeyError';
  }
}

function segment(what: string, v: string): string {
  if (!SEGMENT.test(v) || v === '.' || v === '..') throw new StateKeyError(`state key: ${what} "${v}" must match [A-Za-z0-9_.-]+`);
  return v;
}

/** The prefix of a state's objects: `<account>/<state-id>/`. */
export function stateKeyPrefix(account: string, stateId: string): string {
  if (!UUID.test(stateId)) throw new StateKeyError(`state key: state id "${stateId}" is not a uuid`);
  return `${segment('account', account)}/${stateId}/`;
}

/** Is `prefix` one made by {@link stateKeyPrefix}? */
export function isStateKeyPrefix(prefix: string): boolean {
  const parts = prefix.split('/');
  return parts.length === 3 && parts[2] === '' && SEGMENT.test(parts[0]!) && parts[0] !== '.' && parts[0] !== '..' && UUID.test(parts[1]!);
}

/** The state object of one unit: `<prefix><unit>.tfstate`. */
export function stateKey(prefix: string, unit: string): string {
  if (!isStateKeyPrefix(prefix)) throw new StateKeyError(`state key: "${prefix}" is not a state prefix (<account>/<state-id>/)`);
  return `${prefix}${segment('unit', unit)}.tfstate`;
}
