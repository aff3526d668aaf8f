/**
 * Replay of recorded workflow histories (test/fixtures/histories/<workflowType>/*.json) against the
 * workflow code of this checkout: a change that would make a running workflow issue other commands
 * fails here with the file's name (DeterminismViolationError), before it reaches a worker.
 *
 * And the rule of test/README.md "Replay tests": every `patched('<id>')` in workflows/ has a history
 * without that patch's marker that reaches the patched code and takes the old branch. Proven, not
 * declared: the workflows are bundled with force-patch.ts in place of @temporalio/workflow, whose
 * `patched()` reports through a sink which histories reached which id and on which branch; each
 * history that took an old branch is then replayed once more with that patch forced on, and at least
 * one of them must fail (the old branch issued other commands than the new one would).
 *
 * Payloads in the files are decoded (test/replay/record.ts): the default data converter reads them.
 * No services needed; one workflow bundle for every replay.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { Worker, type InjectedSinks } from '@temporalio/worker';
import { FORCE_PATCH_PREFIX, type ReplayProbeSinks } from './force-patch';
import { historyFromJSON, type History } from './history-json';

const ROOT = resolve(__dirname, '..', '..');
const HISTORIES = join(ROOT, 'test', 'fixtures', 'histories');
const WORKFLOWS = join(ROOT, 'workflows');

function files(dir: string, ext: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((d) => d.isFile() && d.name.endsWith(ext))
    .map((d) => join(d.parentPath, d.name))
    .sort();
}

/** Every `patched('<id>')` of the workflow code (any file under workflows/), with the files calling it. */
function patchIds(): Map<string, string[]> {
  const ids = new Map<string, string[]>();
  for (const f of files(WORKFLOWS, '.ts')) {
    for (const m of readFileSync(f, 'utf8').matchAll(/\bpatched\(\s*(['"`])([^'"`]+)\1\s*\)/g)) {
      ids.set(m[2]!, [...new Set([...(ids.get(m[2]!) ?? []), relative(ROOT, f)])]);
    }
  }
  return ids;
}

/** The patch ids whose markers the history holds. */
function markers(h: History): Set<string> {
  const out = new Set<string>();
  for (const e of h.events ?? []) {
    const m = e.markerRecordedEventAttributes;
    if (m?.markerName !== 'core_patch') continue;
    for (const p of Object.values(m.details ?? {}).flatMap((d) => d.payloads ?? [])) {
      const id = (JSON.parse(Buffer.from(p.data ?? []).toString('utf8')) as { id?: string }).id;
      if (id) out.add(id);
    }
  }
  return out;
}

const forcedId = (patchId: string, file: string) => `${FORCE_PATCH_PREFIX}${patchId}:${file}`;

describe('replay of recorded workflow histories (test/fixtures/histories)', function () {
  this.timeout(180_000);
  const paths = files(HISTORIES, '.json');
  const ids = patchIds();
  const loaded = new Map<string, History>();
  /** Replay errors by workflow id (the file, or forcedId(...)); undefined when it replayed. */
  const results = new Map<string, Error | undefined>();
  /** file → patch id → the branches its patched() calls took during the plain replay. */
  const reached = new Map<string, Map<string, Set<boolean>>>();
  const oldBranch = (file: string, id: string) => reached.get(file)?.get(id)?.has(false) ?? false;

  before(async () => {
    for (const p of paths) loaded.set(relative(HISTORIES, p), historyFromJSON(JSON.parse(readFileSync(p, 'utf8'))));
    const sinks: InjectedSinks<ReplayProbeSinks> = {
      replayProbe: {
        patched: {
          fn: (info, patchId, taken) => {
            if (info.workflowId.startsWith(FORCE_PATCH_PREFIX)) return;
            const byId = reached.get(info.workflowId) ?? new Map<string, Set<boolean>>();
            byId.set(patchId, (byId.get(patchId) ?? new Set<boolean>()).add(taken));
            reached.set(info.workflowId, byId);
          },
          callDuringReplay: true,
        },
      },
    };
    // Every history as recorded; then, with the probe's findings complete, each history that took an
    // old branch once more with that patch forced on (runReplayHistories pulls the next one only after
    // the previous one's result).
    async function* histories() {
      for (const [file, history] of loaded) yield { workflowId: file, history };
      const forced = [...ids.keys()].flatMap((id) => [...loaded.keys()].filter((f) => oldBranch(f, id)).map((f) => ({ id, f })));
      if (forced.length) process.stdout.write(`      ${forced.length} replays with a patch forced on: their nondeterminism warnings are expected\n`);
      for (const { id, f } of forced) yield { workflowId: forcedId(id, f), history: loaded.get(f)! };
    }
    const replay = Worker.runReplayHistories({
      workflowsPath: require.resolve('../../workflows'),
      replayName: 'stackly-replay-test',
      sinks,
      bundlerOptions: {
        webpackConfigHook: (config) => ({
          ...config,
          resolve: {
            ...config.resolve,
            alias: { ...(config.resolve?.alias as Record<string, string | false> | undefined), '@temporalio/workflow$': require.resolve('./force-patch') },
          },
        }),
      },
    }, histories());
    for await (const r of replay) results.set(r.workflowId, r.error);
  });

  it('has histories to replay and patched() ids to check', () => {
    assert.ok(paths.length > 0, `no *.json under ${relative(ROOT, HISTORIES)}`);
    assert.ok(ids.size > 0, 'no patched() call found in workflows/ (is the grep broken?)');
  });

  for (const p of paths) {
    const file = relative(HISTORIES, p);
    it(`replays ${file}`, () => {
      assert.ok(results.has(file), `${file} was not replayed`);
      const e = results.get(file);
      if (e) assert.fail(`${file}: ${e.name}: ${e.message}`);
    });
  }

  for (const [id, where] of ids) {
    it(`patched('${id}') (${where.join(', ')}): a history without its marker reaches it and takes the old branch`, () => {
      const old = [...loaded.keys()].filter((f) => oldBranch(f, id));
      for (const f of old) assert.ok(!markers(loaded.get(f)!).has(id), `${f} took the old branch of ${id} but holds its marker`);
      const differs = old.filter((f) => results.get(forcedId(id, f)) !== undefined);
      process.stdout.write(`      old branch of '${id}' reached by: ${old.join(', ') || 'none'}; issues other commands than the new one in: ${differs.join(', ') || 'none'}\n`);
      assert.ok(old.length > 0, `no history reaches patched('${id}') without its marker: record one with the code from before the patch (test/README.md "Replay tests")`);
      assert.ok(differs.length > 0, `the histories reaching patched('${id}') without its marker (${old.join(', ')}) replay unchanged with the patch forced on: none shows what the old branch does differently`);
    });
  }
});
