import assert from 'node:assert/strict';
import { findLocalModules, moduleSources, resolveLocalSource, type ModuleSourceCache } from '../../../activities/hcl/local-modules';
import type { ModuleFiles } from '../../../activities/hcl/parse-module';

/** A repository as a map of repository-relative path → text; reads count per directory. */
function repo(files: Record<string, string>) {
  const reads = new Map<string, number>();
  const read = async (dir: string): Promise<ModuleFiles | undefined> => {
    reads.set(dir, (reads.get(dir) ?? 0) + 1);
    const prefix = dir === '.' ? '' : `${dir}/`;
    const out: ModuleFiles = {};
    for (const [p, text] of Object.entries(files)) {
      if (!p.startsWith(prefix)) continue;
      const rest = p.slice(prefix.length);
      if (!rest.includes('/')) out[rest] = text;
    }
    return Object.keys(out).length ? out : undefined;
  };
  return { read, reads };
}

const call = (name: string, source: string) => `module "${name}" {\n  source = "${source}"\n}\n`;

describe('local modules a stack reads', () => {
  it('follows ./ and ../ sources at any depth, relative to the module holding the call, normalised', async () => {
    const { read } = repo({
      'stacks/a/main.tf': call('x', '../../modules/x') + call('local', './sub') + call('remote', 'hashicorp/consul/aws'),
      'stacks/a/sub/main.tf': call('y', '../../../modules//y/'),
      'modules/x/main.tf': call('z', '../z'),
      'modules/y/main.tf': 'resource "terraform_data" "y" {}\n',
      'modules/z/main.tf': call('deep', './inner'),
      'modules/z/inner/main.tf.json': JSON.stringify({ module: { w: { source: '../../w' } } }),
      'modules/w/main.tf': 'output "w" { value = 1 }\n',
      'modules/unused/main.tf': '',
    });
    const r = await findLocalModules('stacks/a', read);
    assert.deepEqual(r.dirs, ['modules/w', 'modules/x', 'modules/y', 'modules/z', 'modules/z/inner', 'stacks/a/sub']);
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.escaping, []);
    assert.deepEqual(r.cycles, []);
  });

  it('lists a called directory that does not exist (a dependency on whatever appears there)', async () => {
    const { read } = repo({ 'stacks/a/main.tf': call('gone', '../../modules/gone') });
    assert.deepEqual((await findLocalModules('stacks/a', read)).dirs, ['modules/gone']);
  });

  it('does not follow a source that leaves the repository, and says which', async () => {
    const { read } = repo({
      'stacks/a/main.tf': call('out', '../../../outside') + call('x', '../../modules/x'),
      'modules/x/main.tf': call('up', '../../..'),
    });
    const r = await findLocalModules('stacks/a', read);
    assert.deepEqual(r.dirs, ['modules/x']);
    assert.deepEqual(r.escaping, [
      { dir: 'stacks/a', name: 'out', source: '../../../outside', file: 'stacks/a/main.tf' },
      { dir: 'modules/x', name: 'up', source: '../../..', file: 'modules/x/main.tf' },
    ]);
    assert.deepEqual(r.errors, []);
  });

  it('a stack at the repository root resolves from "."', async () => {
    const { read } = repo({ 'main.tf': call('x', './modules/x') + call('o', '../o'), 'modules/x/main.tf': '' });
    const r = await findLocalModules('.', read);
    assert.deepEqual(r.dirs, ['modules/x']);
    assert.deepEqual(r.escaping.map((e) => e.source), ['../o']);
  });

  it('reports cycles and stops on them; each directory read once', async () => {
    const { read, reads } = repo({
      'stacks/a/main.tf': call('p', '../../modules/p') + call('q', '../../modules/q'),
      'modules/p/main.tf': call('q', '../q'),
      'modules/q/main.tf': call('p', '../p') + call('self', './'),
    });
    const r = await findLocalModules('stacks/a', read);
    assert.deepEqual(r.dirs, ['modules/p', 'modules/q']);
    assert.deepEqual(r.cycles, [['modules/p', 'modules/q', 'modules/p'], ['modules/q', 'modules/q']]);
    assert.deepEqual(r.errors, []);
    assert.deepEqual([...reads.values()], [1, 1, 1]);
  });

  it('a call back into the stack directory is a cycle, not a module of its own', async () => {
    const { read } = repo({ 'stacks/a/main.tf': call('m', '../../modules/m'), 'modules/m/main.tf': call('back', '../../stacks/a') });
    const r = await findLocalModules('stacks/a', read);
    assert.deepEqual(r.dirs, ['modules/m']);
    assert.deepEqual(r.cycles, [['stacks/a', 'modules/m', 'stacks/a']]);
  });

  it('caps the depth: a chain deeper than maxDepth is an error naming the chain', async () => {
    const files: Record<string, string> = { 'stacks/a/main.tf': call('m', '../../m/1') };
    for (let i = 1; i <= 5; i++) files[`m/${i}/main.tf`] = call('next', `../${i + 1}`);
    const { read } = repo(files);
    const r = await findLocalModules('stacks/a', read, { maxDepth: 3 });
    assert.deepEqual(r.dirs, ['m/1', 'm/2', 'm/3']);
    assert.equal(r.errors.length, 1);
    assert.match(r.errors[0]!, /^m\/3\/main\.tf: module "next": local modules nested deeper than 3 levels \(stacks\/a → m\/1 → m\/2 → m\/3 → m\/4\); not followed$/);
    const full = await findLocalModules('stacks/a', read);
    assert.deepEqual(full.dirs, ['m/1', 'm/2', 'm/3', 'm/4', 'm/5', 'm/6']);
    assert.deepEqual(full.errors, []);
  });

  it('a module file that does not parse is an error naming file and line; the rest is still followed', async () => {
    const { read } = repo({
      'stacks/a/main.tf': call('bad', '../../modules/bad') + call('ok', '../../modules/ok'),
      'modules/bad/main.tf': 'module "x" {\n  source = \n}\n',
      'modules/ok/main.tf': call('leaf', '../leaf'),
      'modules/leaf/bad.tf.json': '{"module": ',
    });
    const r = await findLocalModules('stacks/a', read);
    assert.deepEqual(r.dirs, ['modules/bad', 'modules/leaf', 'modules/ok']);
    assert.equal(r.errors.length, 2);
    assert.match(r.errors[0]!, /^modules\/bad\/main\.tf:2: Invalid expression/);
    assert.match(r.errors[1]!, /^modules\/leaf\/bad\.tf\.json:1: invalid JSON/);
  });

  it('an override file replaces the source it overrides', async () => {
    const calls = await moduleSources({
      'main.tf': call('a', './old') + call('b', './b'),
      'main_override.tf': call('a', './new'),
      'z.tf.json': JSON.stringify({ module: { c: [{ source: './c' }] } }),
      'notes.txt': call('ignored', './no'),
    }, 'd/');
    assert.deepEqual(calls, [
      { name: 'a', source: './new', file: 'd/main_override.tf' },
      { name: 'b', source: './b', file: 'd/main.tf' },
      { name: 'c', source: './c', file: 'd/z.tf.json' },
    ]);
  });

  it('a shared cache parses a directory with the same files once', async () => {
    const files = {
      'stacks/a/main.tf': call('x', '../../modules/x'),
      'stacks/b/main.tf': call('x', '../../modules/x'),
      'modules/x/main.tf': call('y', '../y'),
    };
    const cache: ModuleSourceCache = new Map();
    await findLocalModules('stacks/a', repo(files).read, { cache });
    await findLocalModules('stacks/b', repo(files).read, { cache });
    // stacks/a, stacks/b and modules/x once (modules/y has no files: nothing to parse).
    assert.equal(cache.size, 3);
  });

  it('resolveLocalSource', () => {
    assert.equal(resolveLocalSource('stacks/a', '../../modules/x/'), 'modules/x');
    assert.equal(resolveLocalSource('stacks/a', './'), 'stacks/a');
    assert.equal(resolveLocalSource('stacks/a', '../..'), '.');
    assert.equal(resolveLocalSource('stacks/a', '../../..'), null);
    assert.equal(resolveLocalSource('.', '../x'), null);
    assert.equal(resolveLocalSource('.', './a/../b'), 'b');
    assert.equal(resolveLocalSource('a', '/abs'), null);
  });
});
