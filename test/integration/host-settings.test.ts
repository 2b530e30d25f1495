// Settings berthd must be honest about: a cgroup driver it cannot run is
// refused, the RuntimeDefault seccomp profile in force is named, and
// credentials in the configuration never show in clear.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDaemon, tempDir, removeTestDir, BERTHD, type TestDaemon } from '../helpers/daemon.js';
import { initSystem } from '../../src/runtime/cgroup-driver.js';

const MAINTAINED = '/usr/share/containers/seccomp.json';
const SECRETS = ['reg-pass-5f1c', 'mirror-pass-9a2e', 'otlp-pass-77d0'];
const SECRET_TOML = `
[tracing]
otlp_endpoint = "http://otel:${SECRETS[2]}@127.0.0.1:9"
sample_ratio = "0"

[registries."registry.test:5000"]
username = "puller"
password = "${SECRETS[0]}"
mirrors = ["https://puller:${SECRETS[1]}@127.0.0.1:9"]
`;

const daemons: TestDaemon[] = [];
after(async () => {
  for (const d of daemons) {
    await d.stop();
    d.cleanup();
  }
});

/** Runs berthd on a config of its own to its exit; returns the code and what it printed. */
async function berthdExit(toml: string, args: string[] = []): Promise<{ code: number | null; out: string; dir: string }> {
  const dir = tempDir();
  const cfg = join(dir, 'berth.toml');
  writeFileSync(cfg, `[daemon]\nroot = "${join(dir, 'root')}"\nstate = "${join(dir, 'state')}"\n[metrics]\naddress = ""\n${toml}`);
  const p = spawn(process.execPath, [BERTHD, '--config', cfg, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (b: Buffer) => (out += b.toString()));
  p.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const code = await new Promise<number | null>((r) => p.once('exit', r));
  return { code, out, dir };
}

test('runtime.cgroup_driver = "systemd" stops berthd at start with the key named, before it touches the host', async () => {
  const { code, out, dir } = await berthdExit('[runtime]\ncgroup_driver = "systemd"\n');
  try {
    assert.notEqual(code, 0);
    assert.match(out, /berthd: key "runtime\.cgroup_driver": "systemd"/);
    if (initSystem().systemdBooted) assert.match(out, /not implemented by berthd/);
    else assert.match(out, /needs systemd as PID 1/);
    assert.match(out, /"cgroupfs"/);
    assert.ok(!existsSync(join(dir, 'state')) && !existsSync(join(dir, 'root')), 'nothing made on the host');
  } finally {
    removeTestDir(dir);
  }
});

test('daemon.socket_group: the CRI socket belongs to the group, 0660; a group that does not exist stops berthd naming the key', async () => {
  const { code, out, dir } = await berthdExit('', ['--daemon-socket-group', 'berth-no-such-group']);
  removeTestDir(dir);
  assert.notEqual(code, 0);
  assert.match(out, /key "daemon\.socket_group": group "berth-no-such-group" does not exist/);
  // Debian's "daemon" group (gid 1) stands in for the group an operator makes for crictl users.
  const d = await startDaemon({ args: ['--daemon-socket-group', 'daemon'] });
  daemons.push(d);
  const st = statSync(d.socket);
  assert.equal(st.gid, 1);
  assert.equal(st.mode & 0o777, 0o660);
});

test('a seccomp_profile file that does not parse stops berthd naming the key; an absent one selects the built-in copy', async () => {
  const bad = tempDir();
  writeFileSync(join(bad, 'broken.json'), JSON.stringify({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read'] }] }));
  const { code, out, dir } = await berthdExit(`[runtime]\nseccomp_profile = "${join(bad, 'broken.json')}"\n`);
  removeTestDir(dir);
  removeTestDir(bad);
  assert.notEqual(code, 0);
  assert.match(out, /key "runtime\.seccomp_profile": .*broken\.json is not a seccomp profile: syscalls\[0\]\.action/);

  const d = await startDaemon({ toml: '[runtime]\nseccomp_profile = "/nonexistent/berth/seccomp.json"\n' });
  daemons.push(d);
  const st = await d.client.call<{ info: Record<string, string> }>('Status', { verbose: true });
  assert.deepEqual(JSON.parse(st.info.seccompProfile!), {
    source: 'builtin', path: '/nonexistent/berth/seccomp.json', reason: '/nonexistent/berth/seccomp.json does not exist',
  });
  assert.match(d.logs(), /"level":"warn".*"reason":"\/nonexistent\/berth\/seccomp\.json does not exist".*using the built-in copy/);
});

test('the maintained profile is read by default; registry, mirror and OTLP credentials never show: config check, Status, log', async (t) => {
  const d = await startDaemon({ toml: SECRET_TOML });
  daemons.push(d);
  const st = await d.client.call<{ info: Record<string, string> }>('Status', { verbose: true });
  if (existsSync(MAINTAINED)) {
    assert.deepEqual(JSON.parse(st.info.seccompProfile!), { source: 'file', path: MAINTAINED });
    assert.match(d.logs(), new RegExp(`"profile":"${MAINTAINED}".*RuntimeDefault seccomp profile read`));
  } else {
    t.diagnostic(`${MAINTAINED} is not installed: only the built-in copy could be checked`);
    assert.equal(JSON.parse(st.info.seccompProfile!).source, 'builtin');
  }
  const shown = JSON.parse(st.info.config!) as { registries: Record<string, { password: string; username: string; mirrors: string[] }> };
  assert.equal(shown.registries['registry.test:5000']!.password, '[redacted]');
  assert.equal(shown.registries['registry.test:5000']!.username, 'puller');
  assert.deepEqual(shown.registries['registry.test:5000']!.mirrors, ['https://puller:[redacted]@127.0.0.1:9']);

  const checked = execFileSync(process.execPath, [BERTHD, '--config', join(d.dir, 'berth.toml'), 'config', 'check'], { encoding: 'utf8' });
  assert.match(checked, /"password": "\[redacted\]"/);

  // The daemon logs its effective configuration at debug level (the tests' level), and the endpoints it uses.
  const logs = await d.logsMatching(/"msg":"configuration"/);
  assert.match(logs, /"msg":"configuration"/);
  assert.match(logs, /"endpoint":"http:\/\/otel:\[redacted\]@127\.0\.0\.1:9"/);
  for (const secret of SECRETS) {
    assert.ok(!st.info.config!.includes(secret), `Status shows ${secret}`);
    assert.ok(!checked.includes(secret), `config check shows ${secret}`);
    assert.ok(!logs.includes(secret), `the log shows ${secret}`);
  }
});
