/**
 * Imported first by the CLI, before anything loads @cdktf/hcl2json (it compiles its WASM at import):
 * a one-shot command compiles that module with V8's baseline compiler only. The optimising tier
 * otherwise recompiles it in the background (seconds of CPU) and the process waits for that before
 * it exits; measured on an 8,000-resource chain, parsing was not slower without it (bench/README.md).
 * Long-lived workers keep V8's defaults.
 */
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--liftoff-only');
