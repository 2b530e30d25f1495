import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { collectProcess, spawnProcess, spawnProcessAsync } from './spawn.js';
import { run, RunError } from './run.js';
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

test('spawnProcessAsync: the same child, exec waited for off the event loop; errno on failure; no descriptor left', async () => {
  const count = (): number => readdirSync('/proc/self/fd').length;
  await new Promise((r) => setTimeout(r, 50));
  const before = count();
  const { process: p, pipes } = await spawnProcessAsync('/bin/sh', ['-c', 'read line; echo "got $line"; for f in /proc/self/fd/*; do echo "${f##*/} $(readlink $f)"; done'], {
    env: {}, stdio: ['pipe-in', 'pipe-out', 'null'],
  });
  assert.ok(p.pid > 0);
  const out = collect(pipes[1]);
  pipes[0]!.end('ping\n');
  assert.deepEqual(await p.exited, { code: 0, signal: null });
  const [first, ...rest] = (await out).trim().split('\n');
  assert.equal(first, 'got ping');
  const fds = new Map(rest.map((l) => l.split(' ') as [string, string]));
  for (const [fd, target] of fds) {
    if (Number(fd) >= 3) assert.ok(![fds.get('0'), fds.get('1')].includes(target), `fd ${fd} (${target}) leaked into the child`);
  }
  await assert.rejects(spawnProcessAsync('/nonexistent/program', [], { env: {}, stdio: ['null', 'pipe-out', 'pipe-in'] }), (err: Error & { errno?: number }) => {
    assert.match(err.message, /spawn \/nonexistent\/program: No such file or directory/);
    assert.equal(err.errno, 2);
    return true;
  });
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(count(), before, 'pipes, duplicates and the pidfd all closed');
  const n = loadNativeModule();
  assert.throws(() => n.spawnAsync('/bin/true', ['/bin/true'], [], null, [-1], false, false, () => undefined), /fds must be open descriptors/);
});

test('collectProcess: input, output, a name found on PATH, timeout and overflow', async () => {
  const echo = await collectProcess('sh', ['-c', 'cat; echo err >&2'], { input: 'abc' });
  assert.deepEqual([echo.code, echo.stdout.toString(), echo.stderr.toString(), echo.timedOut, echo.overflowed], [0, 'abc', 'err\n', false, false]);

  const t0 = Date.now();
  const slow = await collectProcess('sleep', ['5'], { timeoutMs: 100, killSignal: 'SIGKILL' });
  assert.equal(slow.timedOut, true);
  assert.equal(slow.signal, 9);
  assert.ok(Date.now() - t0 < 2000);

  const loud = await collectProcess('sh', ['-c', 'yes | head -c 300000; exec sleep 5'], { maxBuffer: 1000 });
  assert.equal(loud.overflowed, true);
  assert.equal(loud.stdout.length, 1000, 'kept up to the cap');
  assert.equal(loud.signal, 15);

  // A program that does not read its input is not an error.
  const deaf = await collectProcess('true', [], { input: 'x'.repeat(1 << 20) });
  assert.equal(deaf.code, 0);
  await assert.rejects(collectProcess('no-such-program-berth', []), /No such file or directory/);
});

test('collectProcess: niceness lowers the priority of the process, not the daemon\'s', async () => {
  // Field 19 of /proc/PID/stat is the nice value; the shell reads its own once the priority was set.
  const niceOf = (stat: string): number => Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  const r = await collectProcess('sh', ['-c', 'sleep 0.3; cat /proc/$$/stat'], { niceness: 10 });
  assert.equal(niceOf(r.stdout.toString()), 10);
  assert.equal(niceOf(readFileSync('/proc/self/stat', 'utf8')), 0);
  const plain = await collectProcess('sh', ['-c', 'cat /proc/$$/stat']);
  assert.equal(niceOf(plain.stdout.toString()), 0);
});

test('run: helper failures become RunError with what the helper said', async () => {
  assert.deepEqual(await run('sh', ['-c', 'echo out; echo err >&2']), { stdout: 'out\n', stderr: 'err\n' });
  await assert.rejects(run('sh', ['-c', 'echo bad thing >&2; exit 3']), (e: RunError) => e instanceof RunError && e.code === 3 && /exit 3\): bad thing/.test(e.message));
  await assert.rejects(run('sleep', ['5'], { timeoutMs: 100 }), (e: RunError) => e.code === null && /still running after 0.1s; killed/.test(e.message));
  await assert.rejects(run('no-such-program-berth', []), (e: RunError) => e.code === null && /No such file or directory/.test(e.message));
  assert.equal((await run('cat', [], { input: 'piped' })).stdout, 'piped');
});

test('argv0 names the program as it sees itself, and as run\'s errors name it', async () => {
  const r = await collectProcess('/bin/sh', ['-c', 'echo "$0"; exit 3'], { argv0: 'shown-name' });
  assert.equal(r.stdout.toString().trim(), 'shown-name');
  assert.equal(r.code, 3);
  await assert.rejects(run('/bin/sh', ['-c', 'echo no >&2; exit 1'], { argv0: '/usr/bin/named' }), (err: Error) => err instanceof RunError && err.message.startsWith('/usr/bin/named -c echo no'));
});
