// The native module's pinNamespaces and openNetDevs: new namespaces pinned on
// files, loopback up, each namespace's net/dev opened from inside it, and no
// thread of the calling process left inside them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, readdirSync, readSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { loadNativeModule } from './native.js';
import { unmountAll } from './mount.js';

const KINDS = ['net', 'ipc', 'uts'] as const;

function scratch(t: { after(fn: () => Promise<void>): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-pin-'));
  t.after(async () => {
    await unmountAll(readdirSync(dir).map((f) => join(dir, f)));
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

function files(dir: string, tag = ''): Record<(typeof KINDS)[number], string> {
  const out = {} as Record<(typeof KINDS)[number], string>;
  for (const k of KINDS) {
    out[k] = join(dir, `${k}${tag}`);
    writeFileSync(out[k], '');
  }
  return out;
}

/** The namespace of each kind a process entered through `nsenter` on the pinned files sees itself in. */
function entered(f: Record<(typeof KINDS)[number], string>): string[] {
  const out = execFileSync('nsenter', [`--net=${f.net}`, `--ipc=${f.ipc}`, `--uts=${f.uts}`, 'readlink', ...KINDS.map((k) => `/proc/self/ns/${k}`)], { encoding: 'utf8' });
  return out.trim().split('\n');
}

test('pinNamespaces makes new net, ipc and uts namespaces on the files, with loopback up, and leaves every thread of the daemon where it was', async (t) => {
  const native = loadNativeModule();
  const dir = scratch(t);
  const mine = KINDS.map((k) => readlinkSync(`/proc/self/ns/${k}`));
  const a = files(dir, 'a');
  const b = files(dir, 'b');
  await Promise.all([native.pinNamespaces(a.net, a.ipc, a.uts), native.pinNamespaces(b.net, b.ipc, b.uts)]);

  const inA = entered(a);
  const inB = entered(b);
  KINDS.forEach((k, i) => {
    assert.match(inA[i]!, new RegExp(`^${k}:\\[\\d+\\]$`));
    assert.notEqual(inA[i], mine[i], `${k}: a new namespace, not the host's`);
    assert.notEqual(inA[i], inB[i], `${k}: each call its own`);
  });
  const lo = execFileSync('nsenter', [`--net=${a.net}`, 'ip', '-o', 'link', 'show'], { encoding: 'utf8' });
  assert.equal(lo.trim().split('\n').length, 1, 'only loopback in a new network namespace');
  assert.match(lo, /^1: lo: <[^>]*\bUP\b[^>]*>/);
  const addrs = execFileSync('nsenter', [`--net=${a.net}`, 'ip', '-o', 'addr', 'show', 'dev', 'lo'], { encoding: 'utf8' });
  assert.match(addrs, /inet 127\.0\.0\.1\/8/);

  // The work is done on a thread that ends with it: no thread of this process
  // (the thread pool's included) is in any of the new namespaces.
  for (const tid of readdirSync('/proc/self/task')) {
    KINDS.forEach((k, i) => assert.equal(readlinkSync(`/proc/self/task/${tid}/ns/${k}`), mine[i], `thread ${tid}: ${k}`));
  }
});

test('pinNamespaces makes only the namespaces given a file; a network namespace alone still gets loopback up', async (t) => {
  const native = loadNativeModule();
  const dir = scratch(t);
  const f = files(dir);
  await native.pinNamespaces(f.net, null, undefined as unknown as null);
  assert.match(execFileSync('nsenter', [`--net=${f.net}`, 'ip', '-o', 'link', 'show', 'lo'], { encoding: 'utf8' }), /\bUP\b/);
  // Not pinned: still the empty files they were.
  assert.throws(() => execFileSync('nsenter', [`--ipc=${f.ipc}`, 'true'], { stdio: 'ignore' }));
  await native.pinNamespaces(null, f.ipc, null);
  const ipc = execFileSync('nsenter', [`--ipc=${f.ipc}`, 'readlink', '/proc/self/ns/ipc'], { encoding: 'utf8' }).trim();
  assert.notEqual(ipc, readlinkSync('/proc/self/ns/ipc'));
});

test('pinNamespaces rejects naming the namespace and file it could not pin, and refuses a call asking for none', async (t) => {
  const native = loadNativeModule();
  const dir = scratch(t);
  const missing = join(dir, 'no-such-dir', 'net');
  await assert.rejects(native.pinNamespaces(missing, null, null), (err: Error) => err.message.includes(`pinning the net namespace on ${missing}`) && err.message.includes('No such file'));
  assert.throws(() => native.pinNamespaces(null, null, null), /no namespace asked for/);
  assert.throws(() => native.pinNamespaces(1 as unknown as string, null, null), TypeError);
  assert.throws(() => (native.pinNamespaces as unknown as (a: string) => Promise<void>)('x'), TypeError);
});

test('openNetDevs opens each pinned network namespace\'s net/dev from inside it; the descriptor keeps showing that namespace after its pin is gone; no thread is left inside', async (t) => {
  const native = loadNativeModule();
  const dir = scratch(t);
  const a = files(dir, 'a');
  const b = files(dir, 'b');
  await Promise.all([native.pinNamespaces(a.net, null, null), native.pinNamespaces(b.net, null, null)]);
  execFileSync('nsenter', [`--net=${a.net}`, 'ip', 'link', 'add', 'berthA0', 'type', 'veth', 'peer', 'name', 'berthA1']);
  const [fa, fb, none] = await native.openNetDevs([a.net, b.net, join(dir, 'missing')]);
  assert.equal(none, null, 'a file that is not there: null');
  assert.ok(typeof fa === 'number' && typeof fb === 'number');
  t.after(() => [fa, fb].forEach((fd) => closeSync(fd!)));
  const names = (fd: number): string[] => {
    const buf = Buffer.alloc(16_384);
    const text = buf.toString('latin1', 0, readSync(fd, buf, 0, buf.length, 0));
    return text.split('\n').slice(2).map((l) => l.split(':')[0]!.trim()).filter(Boolean).sort();
  };
  assert.deepEqual(names(fa!), ['berthA0', 'berthA1', 'lo'], 'namespace a: its own interfaces');
  assert.deepEqual(names(fb!), ['lo'], 'namespace b: loopback alone');
  await unmountAll([a.net]);
  assert.deepEqual(names(fa!), ['berthA0', 'berthA1', 'lo'], 'still namespace a, its pin gone');
  const mine = readlinkSync('/proc/self/ns/net');
  for (const tid of readdirSync('/proc/self/task')) assert.equal(readlinkSync(`/proc/self/task/${tid}/ns/net`), mine, `thread ${tid}`);
  assert.throws(() => native.openNetDevs([1 as unknown as string]), TypeError);
});
