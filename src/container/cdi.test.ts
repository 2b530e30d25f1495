import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CdiRegistry, applyCdi, parseQualifiedName, parseSpec, requestedCdiDevices } from './cdi.js';
import { BerthError } from '../util/errors.js';

const kindOf = (e: unknown): string => (e instanceof BerthError ? e.kind : 'other');

/** Devices as CDI_devices names them. */
const asked = (...names: string[]): { name: string; field: string }[] => names.map((name, i) => ({ name, field: `config.CDI_devices[${i}]` }));

test('qualified names and the devices a container asks for (field first, annotations by key, each once)', () => {
  assert.deepEqual(parseQualifiedName('vendor.com/gpu=0'), { kind: 'vendor.com/gpu', device: '0' });
  assert.equal(parseQualifiedName('gpu0'), undefined);
  assert.equal(parseQualifiedName('vendor.com=0'), undefined);
  assert.deepEqual(
    requestedCdiDevices(['a.com/x=1'], { 'cdi.k8s.io/z': 'a.com/x=3', 'cdi.k8s.io/b': 'a.com/x=2, a.com/x=1', other: 'a.com/x=9' }),
    [
      { name: 'a.com/x=1', field: 'config.CDI_devices[0]' },
      { name: 'a.com/x=2', field: 'config.annotations["cdi.k8s.io/b"]' },
      { name: 'a.com/x=3', field: 'config.annotations["cdi.k8s.io/z"]' },
    ],
  );
});

test('spec files: YAML and JSON parse; bad fields are refused naming them', () => {
  const y = parseSpec('/d/a.yaml', 'cdiVersion: "0.6.0"\nkind: a.com/x\ndevices:\n  - name: one\n    containerEdits:\n      env: [A=1]\n');
  assert.equal(y.kind, 'a.com/x');
  assert.deepEqual(y.devices.get('one')?.env, ['A=1']);
  assert.throws(() => parseSpec('/d/a.json', '{"cdiVersion":"0.6.0","kind":"nokind","devices":[]}'), /kind "nokind"/);
  assert.throws(() => parseSpec('/d/a.json', '{"cdiVersion":"0.6.0","kind":"a.com/x","devices":[{"name":"d","containerEdits":{"deviceNodes":[{"path":"rel"}]}}]}'),
    /deviceNodes\[0\]\.path must be an absolute path/);
  assert.throws(() => parseSpec('/d/a.json', '{"cdiVersion":"0.6.0","kind":"a.com/x","devices":[{"name":"d","containerEdits":{"hooks":[{"hookName":"later","path":"/x"}]}}]}'),
    /hookName "later"/);
});

test('registry: later directory overrides, same-directory duplicates conflict, unknown devices are INVALID_ARGUMENT naming them; edits applied to a spec', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-cdi-'));
  try {
    const etc = join(dir, 'etc');
    const run = join(dir, 'run');
    mkdirSync(etc);
    mkdirSync(run);
    const spec = (devices: unknown[], edits?: unknown): string => JSON.stringify({ cdiVersion: '0.6.0', kind: 'test.berth/dev', containerEdits: edits, devices });
    writeFileSync(join(etc, 'a.json'), spec([
      { name: 'null', containerEdits: { deviceNodes: [{ path: '/dev/other-null', hostPath: '/dev/null' }], env: ['WHICH=etc'] } },
      { name: 'dup', containerEdits: {} },
    ], { env: ['SPEC=1'], hooks: [{ hookName: 'createRuntime', path: '/bin/true', args: ['true'] }] }));
    writeFileSync(join(etc, 'b.json'), spec([{ name: 'dup', containerEdits: {} }]));
    writeFileSync(join(etc, 'broken.json'), '{');
    const reg = new CdiRegistry([etc, run]);
    const r = await reg.resolve(asked('test.berth/dev=null'));
    assert.deepEqual(r.env, ['SPEC=1', 'WHICH=etc']);
    assert.equal(r.nodes[0]!.type, 'c');
    assert.equal(r.nodes[0]!.major, 1);
    assert.equal(r.nodes[0]!.minor, 3);
    assert.equal(r.nodes[0]!.permissions, 'rwm');
    assert.deepEqual((await reg.specProblems()).length, 1);
    await assert.rejects(reg.resolve(asked('test.berth/dev=dup')), (e) => kindOf(e) === 'InvalidArgument' && /dup.*more than one spec/.test((e as Error).message));
    await assert.rejects(reg.resolve(asked('test.berth/dev=nope')), (e) => kindOf(e) === 'InvalidArgument' && /"test.berth\/dev=nope"/.test((e as Error).message));
    await assert.rejects(reg.resolve(asked('nope')), (e) => kindOf(e) === 'InvalidArgument' && /"nope" is not a fully qualified/.test((e as Error).message));
    // A file added later is seen without a restart, and the later directory wins.
    writeFileSync(join(run, 'c.yaml'), `cdiVersion: 0.6.0\nkind: test.berth/dev\ndevices:\n  - name: "null"\n    containerEdits:\n      env: [WHICH=run]\n      deviceNodes: [{path: /dev/zz, hostPath: /dev/zero, permissions: r}]\n      mounts: [{hostPath: ${dir}, containerPath: /mnt/x, options: [ro]}]\n      additionalGIDs: [44]\n`);
    const r2 = await reg.resolve(asked('test.berth/dev=null'));
    assert.deepEqual(r2.env, ['WHICH=run']);
    assert.equal(r2.nodes[0]!.minor, 5);
    const oci: Record<string, unknown> = {
      process: { env: ['PATH=/bin', 'WHICH=image'], user: { uid: 0, gid: 0, additionalGids: [1] } },
      mounts: [{ destination: '/mnt/x', type: 'tmpfs', source: 'tmpfs', options: [] }],
      linux: { devices: [], resources: { devices: [{ allow: false, access: 'rwm' }] } },
    };
    applyCdi(oci, r2);
    assert.deepEqual((oci.process as { env: string[] }).env, ['PATH=/bin', 'WHICH=run']);
    assert.deepEqual((oci.process as { user: { additionalGids: number[] } }).user.additionalGids, [1, 44]);
    assert.deepEqual(oci.mounts, [{ destination: '/mnt/x', type: 'bind', source: dir, options: ['rbind', 'ro'] }]);
    const linux = oci.linux as { devices: unknown[]; resources: { devices: unknown[] } };
    assert.deepEqual(linux.devices, [{ path: '/dev/zz', type: 'c', major: 1, minor: 5, fileMode: 0o666, uid: 0, gid: 0 }]);
    assert.deepEqual(linux.resources.devices[1], { allow: true, type: 'c', major: 1, minor: 5, access: 'r' });
    // A node missing on the host is named with its device.
    writeFileSync(join(run, 'd.json'), spec([{ name: 'ghost', containerEdits: { deviceNodes: [{ path: '/dev/ghost-berth-test' }] } }]));
    await assert.rejects(reg.resolve(asked('test.berth/dev=ghost')), (e) => kindOf(e) === 'NotFound' && /ghost.*\/dev\/ghost-berth-test/.test((e as Error).message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
