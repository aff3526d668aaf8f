/** Activities of the codec test workflow: returns "outputs" that include a sensitive value. */
import { ApplicationFailure } from '@temporalio/common';

export function createCodecTestActivities() {
  return {
    async applyStack(input: { variables: Record<string, string> }): Promise<{ outputs: Record<string, string> }> {
      if (input.variables.fail === 'yes') {
        // Like a tofu error that quotes a variable: the failure message must be encrypted too.
        throw ApplicationFailure.nonRetryable(`apply failed: password ${input.variables.db_password} rejected`, 'ApplyFailed');
      }
      return {
        outputs: {
          endpoint: `db.${input.variables.region ?? 'local'}.example`,
          // A sensitive output derived from the sensitive input: must never appear in the raw history.
          connection_string: `postgres://app:${input.variables.db_password}@db/app`,
        },
      };
    },
  };
}
