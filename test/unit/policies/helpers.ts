import * as path from 'node:path';
import { readFileSync } from 'node:fs';
import type { DeploymentWindow, Policy } from '../../../policies/types';
import { parseDays, parseTimeRange } from '../../../policies/schedule';

export const FIXTURES = path.resolve(__dirname, '../../fixtures/policies');

export function plan(name: string): unknown {
  return JSON.parse(readFileSync(path.join(FIXTURES, 'plans', `${name}.json`), 'utf8'));
}

/** A window built the way the validator builds it. */
export function windowOf(hours: string[], days: string[], timezone = 'UTC', onViolation: 'queue' | 'reject' = 'queue'): DeploymentWindow {
  const ranges = hours.map((h) => {
    const r = parseTimeRange(h);
    if (typeof r === 'string') throw new Error(r);
    return r;
  });
  const d = parseDays(days);
  if (typeof d === 'string') throw new Error(d);
  return { hours: ranges, days: d, timezone, onViolation };
}

export function policy(name: string, extra: Partial<Policy>): Policy {
  return { name, file: 'policies/test.hcl', line: 1, ...extra };
}
