// Loaded by path (DataConverter.failureConverterPath), also inside the workflow sandbox: imports only
// @temporalio/common. Error messages and stack traces go into an encoded payload, so the codec
// encrypts them too (a tofu error can quote a variable); Temporal keeps only "Encoded failure".
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
