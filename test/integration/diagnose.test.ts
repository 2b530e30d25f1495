// `berth diagnose` on a node with a running pod, then with berthd killed
// under that pod: the bundle is extracted and each part checked against
// what the node really has (the pod, its container, runc's state, conmon,
// catatonit, mounts, cgroups, CNI files, the log), and no secret is in it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { podFixture, startPodDaemon, runPod, runContainer, leftovers, settleZombies, type PodFixture, type PodDaemon } from '../helpers/pods.js';
import { cli } from '../helpers/cli.js';

const SECRET = 'hunter2-diagnose-secret';
const TOML = `\n[registries."private.example.com"]\nusername = "ops"\npassword = "${SECRET}"\n`;

let fx: PodFixture | undefined;
let d: PodDaemon | undefined;
let pod: { id: string; config: Record<string, unknown> };
let ctr = '';

before(async () => {
  fx = await podFixture();
  d = await startPodDaemon(fx.image, { toml: TOML });
  // A shared PID namespace, so the pod has its catatonit.
  pod = await runPod(d, {
    logDirectory: join(d.dir, 'logs'),
    linux: { securityContext: { namespaceOptions: { pid: 'POD' } } },
  });
  ctr = await runContainer(d, pod, fx.image, {
    metadata: { name: 'worker' }, logPath: 'worker.log', command: ['sleep', '1000'], envs: [{ key: 'API_TOKEN', value: Buffer.from(SECRET) }],
  });
});

after(async () => {
  if (d && (d.proc.exitCode !== null || d.proc.signalCode !== null)) {
    // Killed by a test: back on the same state, so the pod is cleaned up through berthd.
    d = Object.assign(await startPodDaemon(fx!.image, { dir: d.dir }), { cgroupParent: d.cgroupParent });
  }
  if (d) {
    for (const p of (await d.client.call<{ items: { id: string }[] }>('ListPodSandbox', {})).items) {
      await d.client.call('RemovePodSandbox', { podSandboxId: p.id });
    }
    await d.stop();
    await settleZombies();
    const left = leftovers(d);
    d.cleanup();
    assert.deepEqual(left, []);
  }
  await fx?.close();
});

/** Runs `berth diagnose` and extracts the bundle; the files by path relative to its top directory. */
async function diagnose(args: string[]): Promise<{ code: number | null; stderr: string; file: string; dir: string; read(p: string): string; has(p: string): boolean; all(): string }> {
  const dest = join(d!.dir, `diag-${Date.now()}`);
  const r = await cli(d!.endpoint, ['diagnose', '--config', join(d!.dir, 'berth.toml'), '-d', dest, ...args]);
  const file = r.stdout.trim();
  assert.match(file, new RegExp(`^${dest}/berth-diagnose-[A-Za-z0-9._-]+-\\d{8}T\\d{6}Z\\.tar\\.gz$`), r.stderr);
  assert.equal(statSync(file).mode & 0o777, 0o600, 'the bundle is for root only');
  execFileSync('tar', ['-xzf', file, '-C', dest]);
  const top = readdirSync(dest).find((n) => !n.endsWith('.tar.gz'))!;
  const dir = join(dest, top);
  const walk = (p: string): string[] => readdirSync(p, { withFileTypes: true }).flatMap((e) => e.isDirectory() ? walk(join(p, e.name)) : [join(p, e.name)]);
  return {
    code: r.code, stderr: r.stderr, file, dir,
    read: (p) => readFileSync(join(dir, p), 'utf8'),
    has: (p) => existsSync(join(dir, p)),
    all: () => walk(dir).map((f) => readFileSync(f, 'utf8')).join('\n'),
  };
}

test('diagnose with a running pod: versions, config, status, pods, containers, log, runc state, processes, mounts, cgroups, CNI, disk, kernel', async () => {
  const logFile = join(d!.dir, 'berthd.log');
  writeFileSync(logFile, d!.logs());
  const b = await diagnose(['--log-file', logFile]);
  assert.equal(b.code, 0, b.stderr);
  const summary = b.read('summary.txt');
  assert.match(summary, new RegExp(`^berthd: reachable at ${d!.endpoint}$`, 'm'));
  assert.match(summary, /berthd process \d+ \(serves this endpoint\)/);
  assert.doesNotMatch(summary, /^failed/m);
  assert.equal(b.stderr, summary, 'the summary is also shown');

  assert.equal(JSON.parse(b.read('version.json')).runtime.runtimeName, 'berth');
  const effective = JSON.parse(b.read('config/effective.json'));
  assert.equal(effective.registries['private.example.com'].password, '[redacted]');
  assert.equal(effective.daemon.state, d!.state);
  assert.equal(JSON.parse(b.read('config/local.json')).config.registries['private.example.com'].password, '[redacted]');
  assert.ok(!b.all().includes(SECRET), 'no secret anywhere in the bundle');
  assert.deepEqual(JSON.parse(b.read('status.json')).status.conditions.map((c: { type: string; status: boolean }) => [c.type, c.status]), [['RuntimeReady', true], ['NetworkReady', true]]);

  const pods = JSON.parse(b.read('pods.json'));
  assert.deepEqual(pods.items.map((p: { id: string }) => p.id), [pod.id]);
  assert.equal(pods.statuses[0].status.state, 'SANDBOX_READY');
  assert.match(b.read('pods.txt'), new RegExp(`${pod.id.slice(0, 13)}.*READY`));
  const ctrs = JSON.parse(b.read('containers.json'));
  assert.equal(ctrs.containers[0].id, ctr);
  assert.equal(ctrs.statuses[0].status.state, 'CONTAINER_RUNNING');
  const pid = ctrs.statuses[0].info.info.pid as number;
  assert.ok(pid > 0);
  assert.match(b.read('logs/berthd.log'), /berthd serving CRI/);

  const state = JSON.parse(b.read(`runtime/runc/${ctr}.state.json`));
  assert.equal(state.status, 'running');
  assert.equal(state.pid, pid);
  assert.ok(JSON.parse(b.read('runtime/runc/list.json')).some((c: { id: string }) => c.id === ctr));

  const ps = b.read('processes.txt');
  assert.match(ps, new RegExp(`conmon .*-c ${ctr}`));
  assert.match(ps, /catatonit/);
  assert.match(ps, new RegExp(`^\\s*${pid}\\s.*sleep 1000`, 'm'));
  const mounts = b.read('mounts.txt');
  assert.match(mounts, new RegExp(`${d!.state}/sandboxes/${pod.id}/ns/net `));
  assert.match(mounts, new RegExp(` ${d!.state} .* - tmpfs `));

  // cgroup v1 here (the memory hierarchy), v2 where the host is unified.
  const cg = b.has('cgroups/memory.txt') ? b.read('cgroups/memory.txt') : b.read('cgroups/unified.txt');
  assert.match(cg, new RegExp(`^== ${d!.cgroupParent}/${pod.id}/${ctr}$`, 'm'));
  assert.match(cg, /memory\.(limit_in_bytes|max): /);
  assert.match(b.read('cgroups/container-processes.txt'), new RegExp(`${pod.id}/${ctr}`));

  assert.equal(JSON.parse(b.read('cni/conf/99-berth.conflist')).plugins[0].type, 'bridge');
  assert.equal(JSON.parse(b.read(`cni/cache/${pod.id}.json`)).kind, 'berth-cni-cache/v1');
  assert.match(b.read('network.txt'), /\$ ip -d addr/);
  const disk = b.read('disk.txt');
  assert.match(disk, new RegExp(`\\$ df -h ${d!.root} ${d!.state}`));
  assert.match(disk, new RegExp(`\\s${d!.root}/containers\\n`));
  assert.ok(b.has('kernel/oom-seccomp.txt'));
  assert.ok(b.read('kernel/dmesg-tail.txt').length > 0);
});

test('diagnose with berthd killed under a running pod: says it was unreachable and still collects the host\'s side', async () => {
  await d!.kill();
  const b = await diagnose([]);
  assert.equal(b.code, 0, b.stderr);
  const summary = b.read('summary.txt');
  assert.match(summary, new RegExp(`^berthd: UNREACHABLE at ${d!.endpoint}: `, 'm'));
  // (Other berthd processes on this machine, other tests', may be listed.)
  assert.match(summary, new RegExp(`^no berthd process holds ${d!.socket}$`, 'm'));
  assert.doesNotMatch(summary, /serves this endpoint/);
  assert.match(summary, /^skipped\s+pods: berthd unreachable/m);
  assert.match(summary, /^skipped\s+berthd log: not found/m);
  assert.equal(JSON.parse(b.read('summary.json')).reachable, false);
  assert.equal(JSON.parse(b.read('version.json')).runtime, null);
  assert.ok(!b.has('pods.json'));
  assert.equal(JSON.parse(b.read('config/local.json')).config.daemon.state, d!.state);
  assert.ok(!b.all().includes(SECRET));
  // The runtime and the host still know the container.
  assert.equal(JSON.parse(b.read(`runtime/runc/${ctr}.state.json`)).status, 'running');
  assert.match(b.read('processes.txt'), new RegExp(`conmon .*-c ${ctr}`));
  assert.match(b.read('mounts.txt'), new RegExp(`${d!.state}/sandboxes/${pod.id}/ns/net `));
  assert.match(b.read('cgroups/container-processes.txt'), new RegExp(ctr));
  assert.ok(b.has(`cni/cache/${pod.id}.json`));
});
