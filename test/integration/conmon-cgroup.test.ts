// conmon and the pods' infra processes are moved out of berthd's cgroup
// (runtime.conmon_cgroup), so a service manager that stops berthd by its
// cgroup (systemd's default KillMode=control-group) leaves the containers
// and their monitors running. Checked on every cgroup hierarchy of the host.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDaemon } from '../helpers/daemon.js';
import { podFixture, startPodDaemon, runPod, runContainer, execSync, status, leftovers, settleZombies, type PodFixture, type PodDaemon } from '../helpers/pods.js';
import { cgroupsOf, hierarchies, makeTestCgroup, type TestCgroup } from '../helpers/cgroups.js';

let fx: PodFixture;
before(async () => {
  fx = await podFixture();
});
after(async () => {
  await fx?.close();
});

const sharedPid = { linux: { securityContext: { namespaceOptions: { pid: 'POD' } } } };

/** The pod's monitors: its container's conmon, and the infra `unshare` with its catatonit. */
function monitorsOf(d: PodDaemon, containerId: string, infraPid: number): Record<string, number> {
  const conmon = Number(readFileSync(join(d.state, 'containers', containerId, 'conmon.pid'), 'utf8'));
  const children = readFileSync(`/proc/${infraPid}/task/${infraPid}/children`, 'utf8').trim().split(' ').map(Number);
  assert.equal(children.length, 1, 'unshare has one child, catatonit');
  return { conmon, unshare: infraPid, catatonit: children[0]! };
}

async function infraPid(d: PodDaemon, podId: string): Promise<number> {
  const st = await d.client.call<{ info: { info: string } }>('PodSandboxStatus', { podSandboxId: podId, verbose: true });
  const pid = (JSON.parse(st.info.info) as { infraPid?: number }).infraPid;
  assert.ok(pid, 'the pod has an infra process');
  return pid;
}

async function containerPid(d: PodDaemon, id: string): Promise<number> {
  const st = await d.client.call<{ info: { info: string } }>('ContainerStatus', { containerId: id, verbose: true });
  return (JSON.parse(st.info.info) as { pid: number }).pid;
}

/** Asserts each process is in cgroup `path` in every hierarchy. */
function assertIn(pids: Record<string, number>, path: string): void {
  for (const [name, pid] of Object.entries(pids)) {
    const where = cgroupsOf(pid);
    for (const { root } of hierarchies()) assert.equal(where.get(root), path, `${name} (${pid}) in ${root}`);
  }
}

async function removeAll(d: PodDaemon): Promise<void> {
  for (const p of (await d.client.call<{ items: { id: string }[] }>('ListPodSandbox', {})).items) {
    await d.client.call('RemovePodSandbox', { podSandboxId: p.id });
  }
}

test('killing every process of berthd\'s cgroup (systemd\'s default stop) leaves containers and their monitors running', async () => {
  const daemonCgroup: TestCgroup = makeTestCgroup(`/berth-t${randomBytes(4).toString('hex')}-daemon`);
  let d: PodDaemon | undefined;
  let again: PodDaemon | undefined;
  try {
    d = await startPodDaemon(fx.image, { cgroupProcs: daemonCgroup.procsFiles });
    assertIn({ berthd: d.proc.pid ?? 0 }, daemonCgroup.path);
    const pod = await runPod(d, sharedPid);
    const id = await runContainer(d, pod, fx.image);
    const monitors = monitorsOf(d, id, await infraPid(d, pod.id));
    // The default, runtime.conmon_cgroup = "pod": a cgroup beside the containers' under the pod's.
    assertIn(monitors, `${d.cgroupParent}/${pod.id}/berth-conmon`);
    assertIn({ container: await containerPid(d, id) }, `${d.cgroupParent}/${pod.id}/${id}`);
    const inDaemonCgroup = daemonCgroup.pids();
    for (const [name, pid] of Object.entries(monitors)) assert.ok(!inDaemonCgroup.includes(pid), `${name} is not in berthd's cgroup`);

    const exited = new Promise((r) => d!.proc.once('exit', r));
    await daemonCgroup.killAll();
    await exited;
    assert.deepEqual(daemonCgroup.pids(), []);
    for (const [name, pid] of Object.entries(monitors)) {
      assert.ok(readFileSync(`/proc/${pid}/cmdline`, 'utf8').length > 0, `${name} (${pid}) outlived berthd's cgroup`);
    }

    // A new berthd on the same directories finds the container running and reaches it.
    again = Object.assign(await startDaemon({ dir: d.dir }), { cgroupParent: d.cgroupParent });
    assert.equal((await status(again, id)).state, 'CONTAINER_RUNNING');
    assert.deepEqual(await execSync(again, id, ['echo', 'still here']), { stdout: 'still here\n', stderr: '', exitCode: 0 });
    await removeAll(again);
    await again.stop();
    await settleZombies();
    assert.deepEqual(leftovers(again), []);
  } finally {
    await again?.stop();
    await d?.stop();
    d?.cleanup();
    await daemonCgroup.killAll();
    await daemonCgroup.remove();
  }
});

test('runtime.conmon_cgroup as a dedicated cgroup: every monitor goes there; it stays while one runs and goes at shutdown once empty', async () => {
  const dedicated = `/berth-t${randomBytes(4).toString('hex')}-conmon`;
  const toml = `conmon_cgroup = "${dedicated}"\n`;
  const present = (): string[] => hierarchies().map((h) => join(h.root, dedicated)).filter((p) => existsSync(p));
  const d = await startPodDaemon(fx.image, { toml });
  let again: PodDaemon | undefined;
  try {
    const pod = await runPod(d, sharedPid);
    const id = await runContainer(d, pod, fx.image);
    assertIn(monitorsOf(d, id, await infraPid(d, pod.id)), dedicated);
    assertIn({ container: await containerPid(d, id) }, `${d.cgroupParent}/${pod.id}/${id}`);
    assert.ok(!existsSync(join(hierarchies()[0]!.root, d.cgroupParent, pod.id, 'berth-conmon')), 'no per-pod monitors\' cgroup');
    // Monitors still run in it at shutdown: it stays.
    assert.equal(await d.stop(), 0);
    assert.equal(present().length, hierarchies().length);
    again = Object.assign(await startDaemon({ dir: d.dir }), { cgroupParent: d.cgroupParent });
    await removeAll(again);
    assert.equal(await again.stop(), 0);
    assert.deepEqual(present(), [], 'the dedicated cgroup is removed once empty');
    assert.deepEqual(leftovers(again), []);
  } finally {
    await again?.stop();
    await d.stop();
    d.cleanup();
  }
});
