import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { readSecretValue } from '../../../cli/state';

describe('stackly state secret set: the value never comes from argv', () => {
  it('reads stdin or --value-file, dropping one trailing newline', async () => {
    assert.equal(await readSecretValue({}, Readable.from([Buffer.from('s3cr3t\n')])), 's3cr3t');
    assert.equal(await readSecretValue({}, Readable.from([Buffer.from('a\nb\r\n')])), 'a\nb');
    const f = join(mkdtempSync(join(tmpdir(), 'sec-')), 'v');
    writeFileSync(f, 'from-file\n\n');
    assert.equal(await readSecretValue({ valueFile: f }), 'from-file\n');
  });
  it('refuses an empty value and a terminal on stdin', async () => {
    await assert.rejects(readSecretValue({}, Readable.from([Buffer.from('\n')])), /the secret value is empty/);
    const tty = Object.assign(Readable.from([]), { isTTY: true });
    await assert.rejects(readSecretValue({}, tty), /stdin .* or with --value-file; never on the command line/);
  });
});
