/**
 * `stackly graph <dir>`: the unit graph of a stack directory as text, DOT (`--dot`) or JSON (`--json`).
 */
import type { Command } from 'commander';
import { analyzeStackDir } from '../activities/hcl/analyze';
import type { UnitGraph } from '../workflows/graph-types';
import { executionOrder } from '../workflows/scheduler';

/** The `--json` shape: exactly units (name, members, dependsOn) and references (from, to). */
export function graphJson(g: UnitGraph): { units: Array<{ name: string; members: string[]; dependsOn: string[] }>; references: Array<{ from: string; to: string }> } {
  return {
    units: g.units.map((u) => ({ name: u.name, members: u.members, dependsOn: u.dependsOn })),
    references: g.references.map((r) => ({ from: r.from, to: r.to })),
  };
}

const q = (s: string): string => JSON.stringify(s);

export function graphDot(g: UnitGraph): string {
  const lines = ['digraph stack {', '  rankdir = "BT";', '  node [shape = box];'];
  g.units.forEach((u, i) => {
    lines.push(`  subgraph ${q(`cluster_${i}`)} {`, `    label = ${q(`${u.name} (${u.kind})`)};`);
    if (u.members.length > 1) lines.push('    style = "rounded,filled"; fillcolor = "#eef3ff";');
    for (const m of u.members) lines.push(`    ${q(m)};`);
    lines.push('  }');
  });
  for (const o of g.outputs) lines.push(`  ${q(`output.${o.name}`)} [shape = note];`);
  for (const r of g.references) lines.push(`  ${q(r.from)} -> ${q(r.to)};`);
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

export function graphText(g: UnitGraph): string {
  const out: string[] = [`execution: ${g.execution}`, '', 'units:'];
  for (const u of g.units) {
    out.push(`  ${u.name} (${u.kind})${u.dependsOn.length ? ` ← ${u.dependsOn.join(', ')}` : ''}`);
    for (const m of u.members) out.push(`    ${m}`);
  }
  out.push('', 'execution order:');
  executionOrder(g).forEach((n, i) => out.push(`  ${i + 1}. ${n}`));
  if (g.outputs.length) {
    out.push('', 'outputs (evaluated last):');
    for (const o of g.outputs) out.push(`  ${o.name}${o.dependsOn.length ? ` ← ${o.dependsOn.join(', ')}` : ''}${o.sensitive ? ' (sensitive)' : ''}`);
  }
  out.push('', 'references:');
  for (const r of g.references) out.push(`  ${r.from} → ${r.to}`);
  return `${out.join('\n')}\n`;
}

export function registerGraph(program: Command): void {
  program
    .command('graph')
    .description('print the unit graph of a stack directory (units, edges, execution order)')
    .argument('<dir>', 'stack directory (root module, optional stack.hcl)')
    .option('--dot', 'print Graphviz DOT (clusters for units)')
    .option('--json', 'print JSON: {"units":[{"name","members","dependsOn"}],"references":[{"from","to"}]}')
    .action(async (dir: string, opts: { dot?: boolean; json?: boolean }) => {
      const { units } = await analyzeStackDir(dir);
      if (opts.json) process.stdout.write(`${JSON.stringify(graphJson(units), null, 2)}\n`);
      else if (opts.dot) process.stdout.write(graphDot(units));
      else process.stdout.write(graphText(units));
    });
}
