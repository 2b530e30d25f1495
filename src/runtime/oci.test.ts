import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, mkdirSync, existsSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OciRuntime } from './oci.js';
import { SealedBinary } from './sealed-binary.js';

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

  const held = await rt.launchConmon(opts('berth-oci-held'));
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(conmonsOf('berth-oci-held').length, 1, 'conmon waits on its start pipe');
  held.abort();
  const deadline = Date.now() + 2000;
  while (conmonsOf('berth-oci-held').length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(conmonsOf('berth-oci-held').length, 0, 'aborted conmon is gone');
  assert.equal(existsSync(join(dir, 'runc', 'berth-oci-held')), false, 'the runtime never created anything');

  // No config.json in the bundle: released, conmon runs runc, which refuses.
  const bad = await rt.launchConmon(opts('berth-oci-bad'));
  await assert.rejects(bad.create(), /runc create failed.*config\.json/s);
});

/** A runc bundle of busybox `sleep` with the default `runc spec`, in its own cgroup under /berth-oci-test. */
function busyboxBundle(dir: string, id: string): string {
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
  return bundle;
}

/** busyboxBundle, created (not started) under `root`; returns its init's PID. */
function createdContainer(dir: string, root: string, id: string): number {
  execFileSync('runc', ['--root', root, 'create', '--bundle', busyboxBundle(dir, id), id], { stdio: 'ignore' });
  return runcState(root, id).pid;
}

function runcState(root: string, id: string): { pid: number; status: string } {
  return JSON.parse(execFileSync('runc', ['--root', root, 'state', id], { encoding: 'utf8' })) as { pid: number; status: string };
}

function removeTestCgroups(): void {
  for (const base of ['cpu', 'memory', 'pids', 'devices', 'freezer', 'blkio', 'cpuset', 'cpuacct', 'systemd', 'unified']) {
    spawnSync('rmdir', [`/sys/fs/cgroup/${base}/berth-oci-test`]);
  }
}

test('conmon\'s PID is kept in the bundle; create answers with the PID runc writes, and conmon, reporting after, lives on', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-oci-'));
  const root = join(dir, 'runc');
  const id = 'berth-oci-pidfile';
  for (const d of ['exits', 'sockets', 'persist']) mkdirSync(join(dir, d));
  let conmonPid = 0;
  t.after(() => {
    spawnSync('runc', ['--root', root, 'delete', '--force', id]);
    if (conmonPid) spawnSync('kill', ['-9', String(conmonPid)]);
    removeTestCgroups();
    rmSync(dir, { recursive: true, force: true });
  });
  const bundle = busyboxBundle(dir, id);
  const rt = new OciRuntime('runc', which('runc'), root, true);
  const launch = await rt.launchConmon({
    conmon: which('conmon'), id, name: id, bundle, exitDir: join(dir, 'exits'), socketDir: join(dir, 'sockets'),
    persistDir: join(dir, 'persist'), logPath: join(bundle, 'c.log'), stdin: false, tty: false,
  });
  conmonPid = Number(readFileSync(join(bundle, 'conmon.pid'), 'utf8'));
  assert.ok(conmonPid > 0);
  // posix_spawn returns once the child has let go of the daemon's memory,
  // which is a moment before exec has set its command line up.
  const cmdline = async (): Promise<string> => {
    for (let i = 0; i < 100 && !readFileSync(`/proc/${conmonPid}/cmdline`, 'utf8'); i++) await new Promise((r) => setTimeout(r, 10));
    return readFileSync(`/proc/${conmonPid}/cmdline`, 'utf8');
  };
  assert.ok((await cmdline()).includes(bundle), 'conmon.pid names this container\'s conmon');
  const pid = await launch.create();
  assert.equal(pid, runcState(root, id).pid);
  assert.equal(Number(readFileSync(join(bundle, 'pidfile'), 'utf8')), pid);
  // conmon writes its report after the answer; its pipe must still be open then.
  await new Promise((r) => setTimeout(r, 300));
  assert.doesNotThrow(() => process.kill(conmonPid, 0), 'conmon still watches the container');
  assert.equal(runcState(root, id).status, 'created');
  await rt.start(id, pid);
  assert.equal(runcState(root, id).status, 'running');
  // conmon records the exit of the container it watches.
  process.kill(pid, 'SIGKILL');
  const deadline = Date.now() + 5000;
  while (!existsSync(join(dir, 'exits', id)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(readFileSync(join(dir, 'exits', id), 'utf8'), '137');
});

test('start through the exec FIFO, through `runc start`, and of a container whose process died', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-oci-'));
  const root = join(dir, 'runc');
  const ids: string[] = [];
  t.after(() => {
    for (const id of ids) spawnSync('runc', ['--root', root, 'delete', '--force', id]);
    removeTestCgroups();
    rmSync(dir, { recursive: true, force: true });
  });
  const state = (id: string): string => runcState(root, id).status;
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

test('a runtime run from its sealed copy: conmon creates through it, runc\'s init runs from the copy (no clone of its own), exec and delete work', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-oci-'));
  const root = join(dir, 'runc');
  const id = 'berth-oci-sealed';
  for (const d of ['exits', 'sockets', 'persist']) mkdirSync(join(dir, d));
  const binary = new SealedBinary(which('runc'));
  t.after(() => {
    spawnSync('runc', ['--root', root, 'delete', '--force', id]);
    const conmon = readFileSync(join(dir, `bundle-${id}`, 'conmon.pid'), 'utf8');
    if (conmon) spawnSync('kill', ['-9', conmon]);
    binary.close();
    removeTestCgroups();
    rmSync(dir, { recursive: true, force: true });
  });
  const rt = new OciRuntime('runc', which('runc'), root, true, binary);
  assert.match(rt.exe(), new RegExp(`^/proc/${process.pid}/fd/\\d+$`));
  const bundle = busyboxBundle(dir, id);
  const launch = await rt.launchConmon({
    conmon: which('conmon'), id, name: id, bundle, exitDir: join(dir, 'exits'), socketDir: join(dir, 'sockets'),
    persistDir: join(dir, 'persist'), logPath: join(bundle, 'c.log'), stdin: false, tty: false,
  });
  const pid = await launch.create();
  // Parked on the exec FIFO, the init is still runc: run from the sealed
  // memfd. Cloning itself, runc would run from a bind mount of its binary.
  assert.match(readlinkSync(`/proc/${pid}/exe`), /^\/memfd:/);
  await rt.start(id, pid);
  assert.equal(runcState(root, id).status, 'running');
  const out = execFileSync(rt.exe(), rt.execArgs(id, ['/bin/busybox', 'echo', 'from-exec'], {}), { encoding: 'utf8' });
  assert.equal(out.trim(), 'from-exec');
  await rt.delete(id);
  assert.equal(existsSync(join(root, id)), false);
  // Errors name the runtime as configured, not the copy's /proc path.
  await assert.rejects(rt.update(id, {}), (err: Error) => err.message.startsWith(`${which('runc')} --root ${root} update failed`));
});
