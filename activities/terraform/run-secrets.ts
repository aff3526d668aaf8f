/**
 * What a tofu activity of a run may know beyond its input (issue 15): the secret variables of the
 * run's state (decrypted here, handed to tofu only as `TF_VAR_<name>`, never returned), and the key
 * that masks sensitive values in plan summaries (a Transit HMAC of the run id under the account's
 * key: the same on every worker of the run, unknown to anyone reading its history).
 *
 * The run's state must belong to an account of the namespace this worker serves for it: a task
 * forged in one account's namespace naming another account's state gets nothing (fails closed).
 */
import { ApplicationFailure } from '@temporalio/common';
import type { DbOrTx } from '../../db';
import { getAccountById } from '../../db/repos/accounts';
import { secretsOfState } from '../../db/repos/secret-variables';
import { getStateForRun } from '../../db/repos/stack-states';
import { accountTransitKey, openSecret, type SecretBoxFor } from '../../common/secret-variables';
import type { RunRef } from '../../workflows/model/terraform';

export interface RunSecretsDeps {
  db: DbOrTx;
  /** SecretBoxes over accounts' Transit keys. */
  secretBoxFor: SecretBoxFor;
  /** The Temporal namespace this worker serves these activities in. */
  namespace: string;
}

export interface RunSecrets {
  /** The state's secret variables (state's own over its stack code's), name → value. */
  variables(run: RunRef): Promise<Map<string, string>>;
  /** The secret masking key of the run (stable for the run on every worker). */
  maskKey(run: RunRef): Promise<string>;
}

export function createRunSecrets(deps: RunSecretsDeps): RunSecrets {
  const maskKeys = new Map<string, Promise<string>>();

  /** The account of the run's state, checked against this worker's namespace. */
  async function accountOf(run: RunRef) {
    const state = await getStateForRun(deps.db, run.stateId);
    if (!state) throw ApplicationFailure.nonRetryable(`state ${run.stateId} of run ${run.runId} does not exist`, 'StateNotFound');
    const account = await getAccountById(deps.db, state.accountId);
    if (!account || account.temporal_namespace !== deps.namespace || account.name !== run.account) {
      throw ApplicationFailure.nonRetryable(`state ${run.stateId} is not a state of account ${run.account} in namespace ${deps.namespace}; refused`, 'AccountNotInNamespace');
    }
    return account;
  }

  return {
    async variables(run) {
      const account = await accountOf(run);
      const rows = await secretsOfState(deps.db, account.id, run.stateId);
      const out = new Map<string, string>();
      if (!rows.length) return out;
      const box = deps.secretBoxFor(accountTransitKey(account));
      for (const r of rows) {
        try {
          out.set(r.name, await openSecret(box, { accountId: account.id, scope: r.scope, scopeId: r.scope_id, name: r.name }, r.value_enc));
        } catch (e) {
          // The message names the variable, never a value or ciphertext.
          throw ApplicationFailure.retryable(`secret variable ${r.name} of state ${run.state}: cannot be decrypted: ${(e as Error).message.replace(/vault:v\d+:\S+/g, '(ciphertext)').slice(0, 200)}`, 'SecretUnavailable');
        }
      }
      return out;
    },

    maskKey(run) {
      let p = maskKeys.get(run.runId);
      if (!p) {
        p = (async () => {
          const account = await accountOf(run);
          const box = deps.secretBoxFor(accountTransitKey(account));
          if (!box.hmac) throw new Error('the secret box of this worker cannot make keyed digests');
          return box.hmac(`stackly-mask-key\n${run.runId}`);
        })();
        p.catch(() => maskKeys.delete(run.runId));
        if (maskKeys.size > 1000) maskKeys.delete(maskKeys.keys().next().value!);
        maskKeys.set(run.runId, p);
      }
      return p;
    },
  };
}
