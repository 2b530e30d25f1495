// Conformance with kubelet's own clients: critest (the CRI validation suite)
// and a crictl session, unmodified, over grpc-go against berthd. Each critest
// found runs against berthd and, side by side in the same run, against
// Debian's containerd with the same images (BERTH_CONFORMANCE_PEER=0 leaves
// containerd out); only the kit's known digest-pinned spec may fail on berthd.
// Skipped, with the reason, when the clients or the stand-in images are not
// on this machine (see test/helpers/cri-tools.ts).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDaemon, tempDir, removeTestDir, deleteBridge, type TestDaemon } from '../helpers/daemon.js';
import { startRegistry, freePort, type TestRegistry } from '../helpers/registry.js';
import { startContainerd, privateCniConfig, type Containerd } from '../helpers/containerd.js';
import {
  findCritests, findCrictl, findImageKit, pushImages, runCritest, shmSegments, removeNewShm,
  CRITEST_REGISTRIES, KNOWN_KIT_FAILURE, type CritestResult,
} from '../helpers/cri-tools.js';

const run = promisify(execFile);
const critests = findCritests();
const crictl = findCrictl();
const kit = findImageKit();
const skip = kit.why || (critests.tools.length === 0 && !crictl.tool ? `${critests.why}; ${crictl.why}` : '');
const peer = process.env.BERTH_CONFORMANCE_PEER !== '0';

let registry: TestRegistry | undefined;
let daemon: TestDaemon | undefined;
let work = '';

before(async () => {
  if (skip) return;
  work = tempDir('berth-conf-');
  registry = await startRegistry();
  pushImages(kit.dir!, registry.host);
  const servers = CRITEST_REGISTRIES.map((r) => `[registries."${r}"]\nserver = "${registry!.url}"\n`).join('');
  // A cgroup parent of its own, as every test daemon has.
  const runtime = `[runtime]\ncgroup_parent = "/berth-t${randomBytes(4).toString('hex')}"\n`;
  daemon = await startDaemon({ toml: runtime + servers, logLevel: 'info' });
});

after(async () => {
  if (daemon) {
    // Whatever a failed run left: pods go through CRI so their processes and mounts go too.
    const pods = await daemon.client.call<{ items?: { id: string }[] }>('ListPodSandbox', {}).catch(() => ({ items: [] }));
    for (const p of pods.items ?? []) await daemon.client.call('RemovePodSandbox', { podSandboxId: p.id }).catch(() => undefined);
    await daemon.stop();
    daemon.cleanup();
  }
  await registry?.stop();
  if (work) removeTestDir(work);
});

function crictlRun(args: string[], timeoutMs = 60_000): Promise<string> {
  const ep = daemon!.endpoint;
  return run(crictl.tool!.path, ['--runtime-endpoint', ep, '--image-endpoint', ep, '--timeout', '30s', ...args], { timeout: timeoutMs, encoding: 'utf8' })
    .then((r) => r.stdout.trim(), (e: Error & { stderr?: string }) => {
      throw new Error(`crictl ${args.join(' ')}: ${e.message}\n${e.stderr ?? ''}`);
    });
}

test('crictl (kubelet-era grpc-go) drives a whole pod: version, pull, runp, create, start, exec -s, exec over SPDY, logs, port-forward, stats, stop, rmp', { skip: skip || crictl.why || false }, async (t) => {
  t.diagnostic(`crictl ${crictl.tool!.version} at ${crictl.tool!.path}`);
  assert.match(await crictlRun(['version']), /RuntimeName:\s+berth/);
  const image = 'registry.k8s.io/e2e-test-images/busybox:1.29-2';
  assert.match(await crictlRun(['pull', image]), /Image is up to date for sha256:/);
  const dir = join(work, 'crictl');
  mkdirSync(join(dir, 'logs'), { recursive: true });
  writeFileSync(join(dir, 'pod.json'), JSON.stringify({
    metadata: { name: 'crictl-pod', namespace: 'conformance', uid: 'crictl-pod-uid', attempt: 0 },
    log_directory: join(dir, 'logs'), linux: {},
  }));
  writeFileSync(join(dir, 'web.json'), JSON.stringify({
    metadata: { name: 'web' }, image: { image }, log_path: 'web.log', linux: {},
    command: ['sh', '-c', 'mkdir -p /www && echo hello-from-pod > /www/index.html && echo web-started && exec httpd -f -p 8080 -h /www'],
  }));
  const pod = await crictlRun(['runp', join(dir, 'pod.json')]);
  assert.match(pod, /^[0-9a-f]{64}$/);
  try {
    const ctr = await crictlRun(['create', pod, join(dir, 'web.json'), join(dir, 'pod.json')]);
    assert.match(ctr, /^[0-9a-f]{64}$/);
    await crictlRun(['start', ctr]);
    assert.match(await crictlRun(['ps', '--id', ctr]), /Running/);
    // ExecSync, checked from inside: the file the container wrote.
    assert.equal(await crictlRun(['exec', '-s', ctr, 'cat', '/www/index.html']), 'hello-from-pod');
    // Exec through the streaming server (SPDY/3.1 for crictl of this era).
    assert.equal(await crictlRun(['exec', ctr, 'sh', '-c', 'echo $((6*7)) $(id -u)']), '42 0');
    for (let i = 0; i < 50 && !(await crictlRun(['logs', ctr])).includes('web-started'); i++) await sleep(100);
    assert.match(await crictlRun(['logs', ctr]), /web-started/);
    // Port-forward: crictl listens on loopback and carries the stream into the pod.
    const port = await freePort();
    const pf = spawn(crictl.tool!.path, ['--runtime-endpoint', daemon!.endpoint, 'port-forward', pod, `${port}:8080`], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let said = '';
      pf.stdout.on('data', (d: Buffer) => (said += d.toString()));
      pf.stderr.on('data', (d: Buffer) => (said += d.toString()));
      for (let i = 0; i < 100 && !said.includes('Forwarding from'); i++) await sleep(50);
      assert.match(said, /Forwarding from 127\.0\.0\.1:/);
      const body = await (await fetch(`http://127.0.0.1:${port}/index.html`)).text();
      assert.equal(body.trim(), 'hello-from-pod');
    } finally {
      pf.kill('SIGTERM');
    }
    assert.match(await crictlRun(['stats', '--id', ctr]), new RegExp(ctr.slice(0, 13)));
    await crictlRun(['stop', ctr]);
    assert.match(await crictlRun(['ps', '-a', '--id', ctr]), /Exited/);
    assert.match(await crictlRun(['inspect', ctr]), /"exitCode": 137|"exitCode": 0|"exitCode": 143/);
  } finally {
    await crictlRun(['stopp', pod]);
    await crictlRun(['rmp', pod]);
  }
  assert.equal(await crictlRun(['pods', '-q']), '');
});

function summary(r: CritestResult): string {
  return `${r.passed} of ${r.ran} passed, ${r.failed} failed, in ${r.seconds.toFixed(1)} s`;
}

for (const critest of critests.tools) {
  test(`critest ${critest.version} on berthd: every spec passes but the kit's digest-pinned one`, { skip: skip || false }, async (t) => {
    const shmBefore = shmSegments();
    const tmp = join(work, `critest-${critest.version}`);
    mkdirSync(tmp, { recursive: true });
    let berth: CritestResult;
    try {
      berth = await runCritest(critest.path, daemon!.endpoint, tmp);
    } finally {
      removeNewShm(shmBefore);
    }
    t.diagnostic(`critest ${critest.version} on berthd: ${summary(berth)}`);
    let ctd: CritestResult | undefined;
    if (peer) {
      const dir = tempDir('berth-conf-ctd-');
      const cni = privateCniConfig(dir);
      let c: Containerd | undefined;
      try {
        c = await startContainerd({
          sandboxImage: 'registry.k8s.io/pause:3.8', cniConfDir: cni.confDir, stateTmpfs: true,
          registryServer: { registries: CRITEST_REGISTRIES, server: registry!.url },
        });
        const ctdTmp = join(dir, 'tmp');
        mkdirSync(ctdTmp);
        ctd = await runCritest(critest.path, c.endpoint, ctdTmp);
      } finally {
        removeNewShm(shmBefore);
        await c?.stop();
        deleteBridge(cni.bridge);
        if (existsSync(dir)) removeTestDir(dir);
      }
      t.diagnostic(`critest ${critest.version} on containerd (same run, same images): ${summary(ctd)}`);
      t.diagnostic(`wall time berthd/containerd: ${(berth.seconds / ctd.seconds).toFixed(2)}x`);
    }
    const unexpected = berth.failures.filter((f) => !f.includes(KNOWN_KIT_FAILURE));
    assert.deepEqual(unexpected, [], `critest ${critest.version} failures beyond the kit's known one:\n${berth.output.slice(-20_000)}`);
    assert.ok(berth.ran > 0 && berth.passed === berth.ran - berth.failures.length, `critest ${critest.version}: ${summary(berth)}\n${berth.output.slice(-5000)}`);
  });
}

test('conformance clients present', { skip: skip || false }, (t) => {
  // Says, in the run's output, which clients judged this run and which were missing.
  t.diagnostic(`critest: ${critests.tools.map((c) => `${c.version} (${c.path})`).join(', ') || critests.why}`);
  t.diagnostic(`crictl: ${crictl.tool ? `${crictl.tool.version} (${crictl.tool.path})` : crictl.why}`);
});

if (skip) {
  test('conformance with crictl and critest', { skip }, () => undefined);
}
