/**
 * One call from a stack directory to its unit graph: stack.hcl (when present) + root module.
 */
import { access, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { UnitGraph } from '../../workflows/graph-types';
import type { StackConfig } from '../../workflows/model/stack';
import type { CallGraph } from './graph';
import { parseModuleDir } from './parse-module';
import { parseStackConfig } from './stack-config';
import { HclError, type ModuleStructure } from './types';
import { buildUnits } from './units';

export interface StackAnalysis {
  config?: StackConfig;
  structure: ModuleStructure;
  callGraph: CallGraph;
  units: UnitGraph;
}

export async function analyzeStackDir(dir: string): Promise<StackAnalysis> {
  const isDir = await stat(dir).then((s) => s.isDirectory(), () => false);
  if (!isDir) throw new HclError('config', `reading stack directory: ${dir} is not a directory`);
  const stackFile = join(dir, 'stack.hcl');
  let config: StackConfig | undefined;
  const exists = await access(stackFile).then(() => true, () => false);
  if (exists) config = await parseStackConfig(await readFile(stackFile, 'utf8'), 'stack.hcl');
  const structure = await parseModuleDir(dir);
  const { callGraph, units } = buildUnits(structure, { execution: config?.execution ?? 'modules' });
  return config ? { config, structure, callGraph, units } : { structure, callGraph, units };
}
