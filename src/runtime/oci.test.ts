import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, mkdirSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OciRuntime } from './oci.js';

const which = (cmd: string): string => execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim();

function conmonsOf(id: string): string[] {
  const out = execFileSync('ps', ['-e', '-o', 'args='], { encoding: 'utf8' }).split('\n');
  return out.filter((l) => l.includes('conmon') && l.includes(` -c ${id} `));
}

test('a held conmon never runs the runtime: abort kills it, a bad bundle reports the runtime\'s error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-oci-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const d of ['bundle', 'exits', 'sockets', 'persist']) mkdirSync(join(dir, d));
  const rt = new OciRuntime('runc', which('runc'), join(dir, 'runc'));
  const opts = (id: string) => ({
    conmon: which('conmon'), id, name: id, bundle: join(dir, 'bundle'), exitDir: join(dir, 'exits'), socketDir: join(dir, 'sockets'),
    persistDir: join(dir, 'persist'), logPath: join(dir, 'bundle', `${id}.log`), stdin: false, tty: false,
  });

  const held = rt.launchConmon(opts('berth-oci-held'));
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(conmonsOf('berth-oci-held').length, 1, 'conmon waits on its start pipe');
  held.abort();
  const deadline = Date.now() + 2000;
  while (conmonsOf('berth-oci-held').length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(conmonsOf('berth-oci-held').length, 0, 'aborted conmon is gone');
  assert.equal(existsSync(join(dir, 'runc', 'berth-oci-held')), false, 'the runtime never created anything');

  // No config.json in the bundle: released, conmon runs runc, which refuses.
  const bad = rt.launchConmon(opts('berth-oci-bad'));
  await assert.rejects(bad.create(), /runc create failed.*config\.json/s);
});

/** A runc bundle of busybox `sleep` with the default `runc spec`, created (not started) under `root`. */
function createdContainer(dir: string, root: string, id: string): number {
  const bundle = join(dir, `bundle-${id}`);
  const rootfs = join(bundle, 'rootfs');
  for (const d of ['bin', 'proc', 'sys', 'dev', 'tmp', 'etc']) mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync('/bin/busybox', join(rootfs, 'bin', 'busybox'));
  chmodSync(join(rootfs, 'bin', 'busybox'), 0o755);
  execFileSync('runc', ['spec', '--bundle', bundle]);
  const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
  spec.process.args = ['/bin/busybox', 'sleep', '300'];
  spec.process.terminal = false;
  // The host's network: the test makes no namespace it would have to clean.
  spec.linux.namespaces = spec.linux.namespaces.filter((n: { type: string }) => n.type !== 'network');
  spec.linux.cgroupsPath = `/berth-oci-test/${id}`;
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
  execFileSync('runc', ['--root', root, 'create', '--bundle', bundle, id], { stdio: 'ignore' });
  return (JSON.parse(execFileSync('runc', ['--root', root, 'state', id], { encoding: 'utf8' })) as { pid: number }).pid;
}

test('start through the exec FIFO, through `runc start`, and of a container whose process died', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-oci-'));
  const root = join(dir, 'runc');
  const ids: string[] = [];
  t.after(() => {
    for (const id of ids) spawnSync('runc', ['--root', root, 'delete', '--force', id]);
    for (const base of ['cpu', 'memory', 'pids', 'devices', 'freezer', 'blkio', 'cpuset', 'cpuacct', 'systemd', 'unified']) {
      spawnSync('rmdir', [`/sys/fs/cgroup/${base}/berth-oci-test`]);
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const state = (id: string): string => (JSON.parse(execFileSync('runc', ['--root', root, 'state', id], { encoding: 'utf8' })) as { status: string }).status;
  const comm = (pid: number): string => readFileSync(`/proc/${pid}/comm`, 'utf8').trim();

  const fifoRt = new OciRuntime('runc', which('runc'), root, true);
  ids.push('berth-oci-fifo');
  const pid = createdContainer(dir, root, 'berth-oci-fifo');
  assert.equal(state('berth-oci-fifo'), 'created');
  assert.match(comm(pid), /^runc/, 'parked in runc\'s init until started');
  assert.ok(existsSync(join(root, 'berth-oci-fifo', 'exec.fifo')));
  await fifoRt.start('berth-oci-fifo', pid);
  assert.equal(state('berth-oci-fifo'), 'running', 'runc sees it running once the FIFO is gone');
  assert.equal(existsSync(join(root, 'berth-oci-fifo', 'exec.fifo')), false);
  assert.equal(comm(pid), 'busybox', 'the process was released to exec the container\'s program');

  const plainRt = new OciRuntime('runc', which('runc'), root, false);
  ids.push('berth-oci-plain');
  const pid2 = createdContainer(dir, root, 'berth-oci-plain');
  await plainRt.start('berth-oci-plain', pid2);
  assert.equal(state('berth-oci-plain'), 'running');
  assert.equal(comm(pid2), 'busybox');

  // Killed while created: no writer ever opens the FIFO, so the start must
  // notice the process is gone instead of waiting forever.
  ids.push('berth-oci-dead');
  const pid3 = createdContainer(dir, root, 'berth-oci-dead');
  process.kill(pid3, 'SIGKILL');
  const t0 = Date.now();
  await assert.rejects(fifoRt.start('berth-oci-dead', pid3), /process exited before it was started/);
  assert.ok(Date.now() - t0 < 2000, 'noticed within the polling interval');
});
