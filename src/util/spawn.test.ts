import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { spawnProcess } from './spawn.js';
import { loadNativeModule } from './native.js';

function collect(s: Socket | undefined): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    s!.on('data', (d: Buffer) => (out += d.toString()));
    s!.on('close', () => resolve(out));
  });
}

test('pipes in and out, exit code, environment and working directory', async (t) => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'berth-spawn-')));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { process: p, pipes } = spawnProcess('/bin/sh', ['-c', 'read line; echo "got $line in $(pwd) with $GREETING"; echo oops >&2; exit 7'], {
    env: { PATH: '/usr/bin:/bin', GREETING: 'hello' }, cwd: dir, stdio: ['pipe-in', 'pipe-out', 'pipe-out'],
  });
  const [out, err] = [collect(pipes[1]), collect(pipes[2])];
  pipes[0]!.end('ping\n');
  assert.deepEqual(await p.exited, { code: 7, signal: null });
  assert.equal(p.exitCode, 7);
  assert.equal(await out, `got ping in ${dir} with hello\n`);
  assert.equal(await err, 'oops\n');
});

test('kill, signal exit, and the child is reaped', async () => {
  const { process: p } = spawnProcess('/bin/sleep', ['30'], { env: {}, stdio: ['null', 'null', 'null'] });
  assert.ok(existsSync(`/proc/${p.pid}`));
  assert.equal(p.exitCode, undefined, 'running');
  p.kill('SIGTERM');
  assert.deepEqual(await p.exited, { code: null, signal: 15 });
  assert.equal(existsSync(`/proc/${p.pid}`), false, 'no zombie left behind');
  p.kill('SIGKILL'); // after the exit: a no-op, never a signal to a reused PID
});

test('the child gets default signal handling, an empty mask, and optionally its own session', async () => {
  // Node ignores SIGPIPE; an exec'd program must not inherit that. glibc's
  // posix_spawn leaves its two internal signals (32 and 33, below SIGRTMIN as
  // glibc programs see it) ignored, and nothing else.
  const show = 'grep -E "^(SigIgn|SigBlk)" /proc/self/status; cut -d" " -f6 /proc/self/stat';
  for (const detached of [false, true]) {
    const { process: p, pipes } = spawnProcess('/bin/sh', ['-c', show], { env: {}, detached, stdio: ['null', 'pipe-out', 'null'] });
    const out = collect(pipes[1]);
    await p.exited;
    const text = await out;
    const ignored = BigInt(`0x${/SigIgn:\s+([0-9a-f]+)/.exec(text)![1]}`);
    assert.equal(ignored & ~0x180000000n, 0n, `ignored signals: ${ignored.toString(16)}`);
    assert.match(text, /SigBlk:\s+0+\n/);
    const sid = Number(text.trim().split('\n').pop());
    if (detached) assert.equal(sid, p.pid, 'session leader of its own session');
    else assert.notEqual(sid, p.pid);
  }
});

test('the child holds only the descriptors it was given', async () => {
  const { process: p, pipes } = spawnProcess('/bin/sh', ['-c', 'for f in /proc/self/fd/*; do echo "${f##*/} $(readlink $f)"; done'], {
    env: {}, stdio: ['null', 'pipe-out', 'null', 'pipe-in', 'pipe-out'],
  });
  const out = collect(pipes[1]);
  await p.exited;
  const fds = new Map((await out).trim().split('\n').map((l) => l.split(' ') as [string, string]));
  // A pipe is one inode for both ends: any other descriptor on the same
  // pipes would be the daemon's end, or a duplicate made while mapping, leaked.
  const ours = ['1', '3', '4'].map((fd) => fds.get(fd));
  for (const [fd, target] of fds) {
    if (Number(fd) >= 5) assert.ok(!ours.includes(target), `fd ${fd} (${target}) leaked into the child`);
  }
  assert.equal(fds.get('0'), '/dev/null');
  assert.equal(fds.get('2'), '/dev/null');
  for (const fd of ['1', '3', '4']) assert.match(fds.get(fd) ?? '', /^pipe:/, `fd ${fd} is a pipe`);
  for (const s of pipes) s?.destroy();
});

test('a program that cannot start is an error, with the errno', () => {
  assert.throws(() => spawnProcess('/nonexistent/program', [], { env: {}, stdio: [] }), (err: Error & { errno?: number }) => {
    assert.match(err.message, /spawn \/nonexistent\/program: No such file or directory/);
    assert.equal(err.errno, 2);
    return true;
  });
  assert.throws(() => spawnProcess('/', [], { env: {}, stdio: [] }), /Permission denied/);
});

test('no descriptor is left open in the daemon after a spawn, failed or not', async () => {
  const count = (): number => readdirSync('/proc/self/fd').length;
  // Earlier tests' pipes finish closing first.
  await new Promise((r) => setTimeout(r, 50));
  const before = count();
  for (let i = 0; i < 5; i++) {
    assert.throws(() => spawnProcess('/nonexistent', [], { env: {}, stdio: ['null', 'pipe-out', 'pipe-in'] }));
  }
  assert.equal(count(), before, 'failed spawns closed every pipe end');
  const { process: p, pipes } = spawnProcess('/bin/true', [], { env: {}, stdio: ['null', 'pipe-out', 'pipe-in'] });
  assert.equal(count(), before + 3, 'while it runs: the daemon\'s two ends and the pidfd watching it');
  for (const s of pipes) s?.destroy();
  await p.exited;
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(count(), before, 'once reaped and the pipes closed, nothing');
});

test('the native spawn refuses malformed arguments', () => {
  const n = loadNativeModule();
  const noop = (): void => undefined;
  assert.throws(() => (n.spawn as unknown as (...a: unknown[]) => number)('/bin/true', ['/bin/true'], [], null, [], false, false), /spawn\(file, argv/);
  assert.throws(() => n.spawn('/bin/true', ['/bin/true'], [], null, [-1], false, false, noop), /fds must be open descriptors/);
  assert.throws(() => n.spawn('/bin/true', ['/bin/true', 5 as unknown as string], [], null, [], false, false, noop), /bad arguments/);
});
