/**
 * Phase: analysis and policies. The stack's unit graph from its code at the run's commit (syntax is
 * checked here), then its policies and hooks, the first policy check recorded (validation pipeline:
 * syntax → policy compliance → security rules over the plan, later).
 */
import type { StackWiring, UnitGraph } from '../graph-types';
import type { RunPolicies } from '../model/run';
import { decisionRecords, prePlanDecisions, type GateContext } from '../gates';
import { stricterHooks, stricterPolicies } from '../../policies';
import type { RunSession } from './session';

export interface Analysed {
  units: UnitGraph;
  wiring: StackWiring;
  policies: RunPolicies;
  gates: GateContext;
}

export async function analyse(s: RunSession): Promise<Analysed> {
  const { input, ctx, progress } = s;
  const analysis = await s.onWorker('analysing the stack', true, (a) => a.analyzeStack({ source: s.source }));
  const units = analysis.units;
  for (const u of units.units) progress.units[u.name] = { status: 'pending' };

  const own = await s.onWorker('loading policies', true, (a) => a.loadRunPolicies({ source: s.source }));
  // The account's policies and the deployed commit's gates, which this commit cannot drop (no extra
  // commands: they came with the run's context; absent in runs started before, which keep their own).
  const policies: RunPolicies = ctx.gates ? {
    ...own,
    policies: stricterPolicies(own.policies, ctx.gates, { current: ctx.environment, state: ctx.state }),
    hooks: stricterHooks(own.hooks, ctx.gates.deployed),
  } : own;
  const gates: GateContext = { policies: policies.policies, environment: ctx.environment, state: ctx.state, author: ctx.authors ?? input.trigger.author };
  await s.event('policy_check', {
    stage: 'pre_plan', outcome: 'pass', policies: policies.policies.map((p) => p.name), decisions: decisionRecords(prePlanDecisions(gates, Date.now())),
  });
  return { units, wiring: analysis.wiring, policies, gates };
}
