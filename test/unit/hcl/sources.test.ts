import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseModuleDir } from '../../../activities/hcl/parse-module';
import { checkLocalSources } from '../../../activities/hcl/sources';
import type { HclError } from '../../../activities/hcl/types';

describe('local module sources stay inside the repository', () => {
  let base: string;
  let repo: string;
  const write = (rel: string, text: string) => {
    mkdirSync(join(repo, rel, '..'), { recursive: true });
    writeFileSync(join(repo, rel), text);
  };
  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), 'stackly-sources-'));
    repo = join(base, 'repo');
    mkdirSync(join(base, 'outside'), { recursive: true });
    writeFileSync(join(base, 'outside', 'main.tf'), 'output "x" { value = 1 }\n');
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  const check = async () => checkLocalSources(repo, join(repo, 'stacks', 'app'), await parseModuleDir(join(repo, 'stacks', 'app')));

  it('accepts sources inside the repository at every depth, and remote sources', async () => {
    write('stacks/app/main.tf', 'module "a" {\n  source = "../../modules/a"\n}\nmodule "r" {\n  source = "hashicorp/consul/aws"\n  version = "0.1.0"\n}\n');
    write('modules/a/main.tf', 'module "b" {\n  source = "../b"\n}\n');
    write('modules/b/main.tf', 'output "y" { value = 2 }\n');
    await check();
  });

  it('refuses a root module call whose source leaves the repository, naming module, file and field', async () => {
    write('stacks/app/main.tf', 'module "a" {\n  source = "../../../outside"\n}\n');
    await assert.rejects(check(), (e: HclError) => {
      assert.equal(e.kind, 'source');
      assert.equal(e.field, 'module.a.source');
      assert.equal(e.file, 'main.tf');
      assert.match(e.message, /module "a" \(main\.tf\): source "\.\.\/\.\.\/\.\.\/outside" resolves outside the repository/);
      return true;
    });
  });

  it('refuses a nested module call that escapes, naming the local module holding it', async () => {
    write('stacks/app/main.tf', 'module "a" {\n  source = "../../modules/a"\n}\n');
    write('modules/a/main.tf', 'module "sneaky" {\n  source = "../../../outside"\n}\n');
    await assert.rejects(check(), /module "sneaky" in local module modules\/a \(main\.tf\): source "\.\.\/\.\.\/\.\.\/outside" resolves outside/);
  });

  it('refuses a symlink inside the repository that points outside', async () => {
    write('stacks/app/main.tf', 'module "a" {\n  source = "../../modules/link"\n}\n');
    mkdirSync(join(repo, 'modules'), { recursive: true });
    symlinkSync(join(base, 'outside'), join(repo, 'modules', 'link'));
    await assert.rejects(check(), /module "a" \(main\.tf\).*resolves outside the repository/);
  });

  it('a module cycle of local sources terminates', async () => {
    write('stacks/app/main.tf', 'module "a" {\n  source = "../../modules/a"\n}\n');
    write('modules/a/main.tf', 'module "b" {\n  source = "../b"\n}\n');
    write('modules/b/main.tf', 'module "a" {\n  source = "../a"\n}\n');
    await check();
  });
});
