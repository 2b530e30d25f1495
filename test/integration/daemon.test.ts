import { loadCri } from '../../src/cri/load.js';
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { writeFileSync, existsSync, statSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isTmpfs } from '../../src/daemon/state-dir.js';
import { startDaemon, runCli, tempDir, removeTestDir, BERTHD, REPO_ROOT, type TestDaemon } from '../helpers/daemon.js';
import type { CallError } from '../../src/cli/client.js';
import { startContainerd, CONTAINERD_BIN } from '../helpers/containerd.js';

const daemons: TestDaemon[] = [];
after(async () => {
  for (const d of daemons) {
    await d.stop();
    d.cleanup();
  }
});

const pkgVersion = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

test('Version and Status over gRPC and through the CLI', async () => {
  const d = await startDaemon();
  daemons.push(d);
  assert.equal(statSync(d.socket).mode & 0o777, 0o660);
  const v = await d.client.call<Record<string, string>>('Version', { version: 'v1' });
  assert.equal(v.runtimeName, 'berth');
  assert.equal(v.runtimeVersion, pkgVersion);
  assert.equal(v.runtimeApiVersion, 'v1');

  const st = await d.client.call<{ status: { conditions: { type: string; status: boolean; reason: string }[] }; info: Record<string, string> }>(
    'Status', { verbose: true },
  );
  const types = st.status.conditions.map((c) => c.type);
  assert.deepEqual(types, ['RuntimeReady', 'NetworkReady']);
  assert.equal(st.status.conditions[0].status, true, JSON.stringify(st.status.conditions[0]));
  const eff = JSON.parse(st.info.config) as { daemon: { root: string } };
  assert.equal(eff.daemon.root, d.root);

  const cli = await runCli(['--runtime-endpoint', d.endpoint, 'version']);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, /RuntimeName:\s+berth/);
  assert.match(cli.stdout, new RegExp(`RuntimeVersion:\\s+${pkgVersion.replace(/\./g, '\\.')}`));

  const viaEnv = await runCli(['version', '-o', 'json'], { BERTH_RUNTIME_ENDPOINT: d.endpoint });
  assert.equal(viaEnv.code, 0, viaEnv.stderr);
  assert.equal((JSON.parse(viaEnv.stdout) as { runtimeApiVersion: string }).runtimeApiVersion, 'v1');

  const info = await runCli(['--runtime-endpoint', d.endpoint, 'info']);
  assert.equal(info.code, 0, info.stderr);
  assert.ok(JSON.parse(info.stdout).config.daemon);

  const rc = await d.client.call<{ linux: { cgroupDriver: string } }>('RuntimeConfig', {});
  assert.equal(rc.linux.cgroupDriver, 'CGROUPFS');
});

test('every RPC of the CRI schema is built: none answers UNIMPLEMENTED, even to an empty request', async () => {
  const d = await startDaemon();
  daemons.push(d);
  const { runtimeService, imageService } = loadCri();
  const seen: string[] = [];
  for (const def of [runtimeService, imageService]) {
    for (const [name, method] of Object.entries(def)) {
      // An empty request is refused (or answered) by every RPC; an event stream is cut by its deadline.
      const code = await (method.responseStream ? d.client.stream(name, {}, 1000) : d.client.call(name, {}, 5000)).then(() => 0, (e: CallError) => e.code);
      assert.notEqual(code, 12, `${name} answered UNIMPLEMENTED`);
      seen.push(name);
    }
  }
  assert.ok(seen.includes('CheckpointPod') && seen.includes('UpdatePodSandboxResources') && seen.length >= 40, seen.join(', '));
});

test('UpdateRuntimeConfig keeps the pod CIDR and rejects a malformed one', async () => {
  const d = await startDaemon();
  daemons.push(d);
  await d.client.call('UpdateRuntimeConfig', { runtimeConfig: { networkConfig: { podCidr: '10.244.1.0/24' } } });
  const st = await d.client.call<{ info: Record<string, string> }>('Status', { verbose: true });
  assert.equal(st.info.podCidr, '10.244.1.0/24');
  await assert.rejects(
    d.client.call('UpdateRuntimeConfig', { runtimeConfig: { networkConfig: { podCidr: 'banana' } } }),
    (e: CallError) => e.code === 3 && /pod_cidr/.test(e.details),
  );
});

test('SIGTERM exits 0 and removes the socket; a second daemon on a live socket is refused', async () => {
  const d = await startDaemon();
  const dir2 = tempDir();
  const cfg2 = join(dir2, 'b.toml');
  writeFileSync(cfg2, `[daemon]\nroot = "${join(dir2, 'root')}"\nstate = "${join(dir2, 'state')}"\nlisten = "${d.socket}"\n[metrics]\naddress = ""\n`);
  const second = spawn(process.execPath, [BERTHD, '--config', cfg2], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  second.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const code2 = await new Promise<number | null>((r) => second.once('exit', r));
  assert.equal(code2, 1);
  assert.match(err, /already serving/);
  // the first one is unharmed
  await d.client.call('Version', {});
  assert.equal(await d.stop(), 0);
  assert.equal(existsSync(d.socket), false);
  d.cleanup();
  removeTestDir(dir2);
});

test('a stale socket from a killed daemon is replaced on restart', async () => {
  const d = await startDaemon();
  // The test directory is on ext4: berthd put its volatile state on a tmpfs, which outlives it.
  assert.match(d.logs(), /mounted a tmpfs on the state directory/);
  await d.kill();
  assert.ok(existsSync(d.socket), 'SIGKILL leaves the socket file');
  assert.ok(isTmpfs(d.state));
  const again = await startDaemon({ dir: d.dir });
  daemons.push(again);
  await again.client.call('Version', {});
  assert.match(await again.logsMatching(/replacing stale socket/), /replacing stale socket/);
  assert.doesNotMatch(again.logs(), /mounted a tmpfs/);
});

test('a bad config is refused with the key named', async () => {
  const dir = tempDir();
  mkdirSync(dir, { recursive: true });
  const cfg = join(dir, 'bad.toml');
  writeFileSync(cfg, '[image]\nmax_concurrent_downloads = -1\n');
  const p = spawn(process.execPath, [BERTHD, '--config', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  p.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const code = await new Promise<number | null>((r) => p.once('exit', r));
  assert.equal(code, 2);
  assert.match(err, /image\.max_concurrent_downloads/);
  assert.match(err, new RegExp(cfg.replace(/[/.]/g, '\\$&')));
  writeFileSync(join(dir, 'empty.toml'), '');
  const flag = spawn(process.execPath, [BERTHD, '--config', join(dir, 'empty.toml'), '--daemon-log-level', 'chatty'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let ferr = '';
  flag.stderr.on('data', (b: Buffer) => (ferr += b.toString()));
  assert.equal(await new Promise<number | null>((r) => flag.once('exit', r)), 2);
  assert.match(ferr, /daemon\.log_level/);
  execFileSync('rm', ['-rf', dir]);
});

test('berthd config default prints a complete file berthd accepts', async () => {
  const out = execFileSync(process.execPath, [BERTHD, 'config', 'default'], { encoding: 'utf8' });
  assert.match(out, /\[daemon\]/);
  assert.match(out, /max_concurrent_downloads = 3/);
  const dir = tempDir();
  writeFileSync(join(dir, 'c.toml'), out);
  const eff = execFileSync(process.execPath, [BERTHD, '--config', join(dir, 'c.toml'), 'config', 'check'], { encoding: 'utf8' });
  assert.equal(JSON.parse(eff).daemon.root, '/var/lib/berth');
  execFileSync('rm', ['-rf', dir]);
});

test('berth version against containerd (Debian package) on its own socket', async (t) => {
  if (!existsSync(CONTAINERD_BIN)) {
    t.skip('containerd is not installed (scripts/install-deps.sh installs it)');
    return;
  }
  let ctd;
  try {
    ctd = await startContainerd();
  } catch (err) {
    t.skip(`containerd could not start here: ${(err as Error).message}`);
    return;
  }
  try {
    const res = await runCli(['--runtime-endpoint', ctd.endpoint, 'version']);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /RuntimeName:\s+containerd/);
  } finally {
    await ctd.stop();
  }
});
