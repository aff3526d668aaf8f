/**
 * The first end-to-end smoke test through every real component the harness starts: Temporal (a
 * workflow runs an activity on a worker), MinIO (an object round-trips), Vault Transit (a value
 * round-trips through node-vault), and tofu (init + apply with the S3 backend and its lock file).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import nodeVault from 'node-vault';
import { s3Client } from '../../scripts/services';
import { createSmokeActivities } from './smoke/activities';
import * as h from '../harness/services';

const run = promisify(execFile);

describe('smoke: every real component', function () {
  this.timeout(180_000);

  it('runs a workflow through the real Temporal server with an activity on a worker', async () => {
    const t = await h.temporal();
    const taskQueue = `smoke-${Date.now()}`;
    const nc = await NativeConnection.connect({ address: t.address });
    const worker = await Worker.create({
      connection: nc, namespace: t.namespace, taskQueue,
      workflowsPath: require.resolve('./smoke/workflows'),
      activities: createSmokeActivities('w1'),
    });
    const conn = await Connection.connect({ address: t.address });
    try {
      const client = new Client({ connection: conn, namespace: t.namespace });
      const result = await worker.runUntil(
        client.workflow.execute('smokeWorkflow', { taskQueue, workflowId: `smoke-${Date.now()}`, args: ['stackly'] }),
      );
      assert.equal(result, 'hello stackly from w1');
    } finally {
      await conn.close();
      await nc.close();
    }
  });

  it('round-trips an object through MinIO with the AWS SDK', async () => {
    const s = await h.s3();
    const client = s3Client(s);
    const key = `smoke/${Date.now()}.txt`;
    await client.send(new PutObjectCommand({ Bucket: s.bucket, Key: key, Body: 'stackly smoke' }));
    const got = await client.send(new GetObjectCommand({ Bucket: s.bucket, Key: key }));
    assert.equal(await got.Body?.transformToString(), 'stackly smoke');
    client.destroy();
  });

  it('round-trips a value through Vault Transit with node-vault', async () => {
    const v = await h.vault();
    const vault = nodeVault({ endpoint: v.addr, token: v.token });
    await vault.write('transit/keys/smoke', { type: 'aes256-gcm96' });
    const plaintext = Buffer.from('a secret value').toString('base64');
    const enc = await vault.write('transit/encrypt/smoke', { plaintext });
    assert.match(enc.data.ciphertext, /^vault:v1:/);
    assert.ok(!enc.data.ciphertext.includes('a secret value'));
    const dec = await vault.write('transit/decrypt/smoke', { ciphertext: enc.data.ciphertext });
    assert.equal(Buffer.from(dec.data.plaintext, 'base64').toString(), 'a secret value');
  });

  it('applies terraform_data resources with tofu and the S3 backend (use_lockfile) on MinIO', async () => {
    const s = await h.s3();
    const tofu = await h.tofu();
    const dir = mkdtempSync(join(h.testStateDir(), 'tofu-'));
    const key = `smoke/${Date.now()}/root.tfstate`;
    writeFileSync(join(dir, 'main.tf'), `
terraform {
  backend "s3" {}
}
resource "terraform_data" "a" { input = "alpha" }
resource "terraform_data" "b" { input = "\${terraform_data.a.output}-beta" }
output "b" { value = terraform_data.b.output }
`);
    writeFileSync(join(dir, 'cli.tfrc'), '');
    writeFileSync(join(dir, 'backend.tfbackend'), [
      `bucket = "${s.bucket}"`, `key = "${key}"`, `region = "${s.region}"`,
      `endpoints = { s3 = "${s.endpoint}" }`, 'use_path_style = true', 'use_lockfile = true',
      'skip_credentials_validation = true', 'skip_requesting_account_id = true',
      'skip_region_validation = true', 'skip_metadata_api_check = true',
    ].join('\n'));
    const env = {
      ...process.env, TF_CLI_CONFIG_FILE: join(dir, 'cli.tfrc'), TF_IN_AUTOMATION: '1',
      AWS_ACCESS_KEY_ID: s.accessKeyId, AWS_SECRET_ACCESS_KEY: s.secretAccessKey,
    };
    await run(tofu, ['init', '-input=false', '-no-color', '-backend-config=backend.tfbackend'], { cwd: dir, env });
    await run(tofu, ['apply', '-auto-approve', '-input=false', '-no-color'], { cwd: dir, env });
    const { stdout } = await run(tofu, ['output', '-json'], { cwd: dir, env });
    assert.equal(JSON.parse(stdout).b.value, 'alpha-beta');
    const client = s3Client(s);
    const listed = await client.send(new ListObjectsV2Command({ Bucket: s.bucket, Prefix: key }));
    const keys = (listed.Contents ?? []).map((o) => o.Key);
    assert.deepEqual(keys, [key], 'the state object is in the bucket and the lock file is released');
    const state = JSON.parse(await (await client.send(new GetObjectCommand({ Bucket: s.bucket, Key: key }))).Body!.transformToString());
    assert.equal(state.outputs.b.value, 'alpha-beta');
    client.destroy();
  });
});
