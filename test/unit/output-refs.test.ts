import assert from 'node:assert/strict';
import { isSensitiveRef, REF_FIELD, resolveRef, resolveRefs, sealSensitiveOutputs, type RefStore } from '../../activities/terraform/output-refs';

/** An in-memory bucket with a reversible (but not plaintext) cipher. */
function store(): RefStore & { objects: Map<string, Buffer> } {
  const objects = new Map<string, Buffer>();
  const flip = (b: Buffer) => Buffer.from(b.map((x) => x ^ 0x5a));
  return {
    objects,
    cipher: { encrypt: async (b) => flip(b), decrypt: async (b) => flip(b) },
    put: async (k, b) => void objects.set(k, b),
    get: async (k) => objects.get(k),
  };
}

describe('sensitive outputs travel as references', () => {
  it('sensitive values are stored sealed and replaced by a reference; others stay; resolving gives them back', async () => {
    const st = store();
    const out = await sealSensitiveOutputs(st, 'run-deploy-abc', 'net', {
      id: { value: 'vpc-1', sensitive: false, type: 'string' },
      password: { value: 'hunter2-secret', sensitive: true, type: 'string' },
      obj: { value: { a: ['x'] }, sensitive: true },
    });
    assert.deepEqual(out.id, { value: 'vpc-1', sensitive: false, type: 'string' });
    assert.ok(isSensitiveRef(out.password!.value));
    assert.match((out.password!.value as Record<string, string>)[REF_FIELD]!, /^runs\/run-deploy-abc\/outputs\/net\/password-[0-9a-f-]+\.json\.enc$/);
    assert.ok(!JSON.stringify(out).includes('hunter2'));
    for (const b of st.objects.values()) assert.ok(!b.toString('utf8').includes('hunter2'));
    assert.deepEqual(await resolveRefs(st, { a: out.password!.value, b: out.obj!.value, c: 'plain', d: { [REF_FIELD]: 1 } }), {
      a: 'hunter2-secret', b: { a: ['x'] }, c: 'plain', d: { [REF_FIELD]: 1 },
    });
    // Sealing again keeps references as they are.
    assert.deepEqual(await sealSensitiveOutputs(st, 'run-deploy-abc', 'net', out), out);
  });

  it('a reference to anything but a run output, or a missing one, is refused', async () => {
    const st = store();
    st.objects.set('acme/state-1/net.tfstate', Buffer.from('{}'));
    await assert.rejects(resolveRef(st, { [REF_FIELD]: 'acme/state-1/net.tfstate' }), /which is not a run output/);
    await assert.rejects(resolveRef(st, { [REF_FIELD]: 'runs/r/outputs/u/../../x.json.enc' }), /not a run output/);
    await assert.rejects(resolveRef(st, { [REF_FIELD]: 'runs/r/outputs/u/x.json.enc' }), /is not in the bucket/);
  });
});
