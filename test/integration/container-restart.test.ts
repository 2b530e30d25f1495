import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDaemon } from '../helpers/daemon.js';
import { settleZombies, podFixture, startPodDaemon, runPod, runContainer, createContainer, execSync, status, waitState, leftovers, type PodDaemon, type PodFixture } from '../helpers/pods.js';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  // Every cleanup runs (the registry must stop even when a leak assertion fails); the first failure is reported.
  const results = [];
  for (const c of cleanups.reverse()) results.push(await c().then(() => undefined, (e: unknown) => e));
  const failed = results.find((e) => e !== undefined);
  if (failed) throw failed;
});

let shared: Promise<PodFixture> | undefined;

/** A berthd and a pod on it; the registry and image behind them are shared by the file's tests. */
async function daemonWithPod(): Promise<{ fx: PodFixture; d1: PodDaemon; pod: Awaited<ReturnType<typeof runPod>> }> {
  if (!shared) {
    const fixture = (shared = podFixture());
    // First in, so it closes last (cleanups run in reverse).
    cleanups.unshift(async () => (await fixture).close());
  }
  const fx = await shared;
  const d1 = await startPodDaemon(fx.image);
  return { fx, d1, pod: await runPod(d1) };
}

/** A new berthd on a killed one's directory; at the end it must leave nothing behind. */
async function restart(killed: PodDaemon): Promise<PodDaemon> {
  const d = Object.assign(await startDaemon({ dir: killed.dir }), { cgroupParent: killed.cgroupParent });
  cleanups.push(async () => {
    await d.stop();
    const left = leftovers(d);
    d.cleanup();
    await settleZombies();
    assert.deepEqual(left, []);
  });
  return d;
}

test('SIGKILL of berthd in the middle of a parallel workload: containers keep running, every object is restored', async () => {
  const { fx, d1, pod } = await daemonWithPod();

  // Steady objects whose state is known before the crash.
  const running = await runContainer(d1, pod, fx.image, { command: ['sh', '-c', 'echo $$ > /tmp/pid; sleep 1000'] });
  const exitsLater = await runContainer(d1, pod, fx.image, { command: ['sh', '-c', 'sleep 1; exit 42'] });
  const created = await createContainer(d1, pod, fx.image);

  // A burst of parallel work that the kill cuts through.
  const burst = Promise.allSettled(Array.from({ length: 6 }, async () => {
    const p = await runPod(d1);
    const c = await runContainer(d1, p, fx.image);
    await d1.client.call('StopContainer', { containerId: c, timeout: 0 });
    await d1.client.call('RemovePodSandbox', { podSandboxId: p.id });
  }));
  await new Promise((r) => setTimeout(r, 150));
  await d1.kill();
  await burst;

  // Records a power failure could leave empty or torn (they are flushed to
  // disk shortly after each write, not before the call returns).
  const tornContainer = join(d1.root, 'containers', 'f'.repeat(64));
  const tornSandbox = join(d1.root, 'sandboxes', 'e'.repeat(64));
  mkdirSync(tornContainer, { recursive: true });
  mkdirSync(tornSandbox, { recursive: true });
  writeFileSync(join(tornContainer, 'container.json'), '');
  writeFileSync(join(tornSandbox, 'sandbox.json'), '{"id":"eee');

  // The container exits while berthd is down.
  await new Promise((r) => setTimeout(r, 1500));
  const d = await restart(d1);

  assert.equal(existsSync(tornContainer), false, 'a torn container record is dropped with its files');
  assert.equal(existsSync(tornSandbox), false, 'a torn sandbox record is dropped with its files');
  await d.logsMatching(/unreadable container record/);
  await d.logsMatching(/unreadable sandbox record/);

  const r = await status(d, running);
  assert.equal(r.state, 'CONTAINER_RUNNING');
  assert.equal((await execSync(d, running, ['cat', '/tmp/pid'])).stdout.trim(), '1');
  const e = await waitState(d, exitsLater, 'CONTAINER_EXITED');
  assert.equal(e.exitCode, 42);
  assert.equal(e.reason, 'Error');
  assert.ok(BigInt(e.finishedAt) > BigInt(e.startedAt));
  assert.equal((await status(d, created)).state, 'CONTAINER_CREATED');
  await d.client.call('StartContainer', { containerId: created });
  assert.equal((await status(d, created)).state, 'CONTAINER_RUNNING');

  // Whatever the burst left is whole: every listed container has a READY or NOTREADY pod and answers status.
  const pods = (await d.client.call<{ items: { id: string; state: string }[] }>('ListPodSandbox', {})).items;
  const ctrs = (await d.client.call<{ containers: { id: string; podSandboxId: string; state: string }[] }>('ListContainers', {})).containers;
  for (const c of ctrs) {
    assert.ok(pods.some((p) => p.id === c.podSandboxId), `container ${c.id} without pod`);
    await status(d, c.id);
  }
  // No runtime state without a container record, and everything removes cleanly.
  const known = new Set(ctrs.map((c) => c.id));
  const bundles = readdirSync(join(d.state, 'containers'));
  assert.deepEqual(bundles.filter((b) => !known.has(b)), [], 'bundles of unknown containers');
  for (const p of pods) await d.client.call('RemovePodSandbox', { podSandboxId: p.id });
  assert.equal((await d.client.call<{ containers: unknown[] }>('ListContainers', {})).containers.length, 0);
});

test('SIGKILL of berthd right after CreateContainer answered, while the runtime still creates: the container is there after the restart, and starts', async () => {
  const { fx, d1, pod } = await daemonWithPod();
  // CreateContainer answers when conmon is released to run `runc create`; the kill lands inside it.
  const answered = await createContainer(d1, pod, fx.image, { metadata: { name: 'answered' }, command: ['sh', '-c', 'echo hi > /tmp/ran; sleep 1000'] });
  await d1.kill();
  // An image hold whose container is gone (as a kill between hold and bundle could leave).
  const holds = join(d1.root, 'images', 'holds');
  const stale = join(holds, `${'a'.repeat(64)}.json`);
  writeFileSync(stale, readFileSync(join(holds, `${answered}.json`)).toString().replace(answered, 'a'.repeat(64)));
  const d = await restart(d1);
  assert.equal((await status(d, answered)).state, 'CONTAINER_CREATED', 'a container whose creation was answered survives');
  assert.equal(existsSync(stale), false, 'holds of containers that are gone are released');
  await d.client.call('StartContainer', { containerId: answered });
  assert.equal((await status(d, answered)).state, 'CONTAINER_RUNNING');
  assert.equal((await execSync(d, answered, ['cat', '/tmp/ran'])).stdout, 'hi\n');
  // The name stays taken by it: kubelet's retry is refused rather than doubled.
  await assert.rejects(createContainer(d, pod, fx.image, { metadata: { name: 'answered' } }), (err: Error & { code?: number }) => err.code === 6);
  await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
  assert.equal(existsSync(join(d.state, 'runtime', 'runc', answered)), false, 'runc state removed with the pod');
});

test('SIGTERM right after CreateContainer answered: berthd lets the runtime finish first, and the container is there after the restart', async () => {
  const { fx, d1, pod } = await daemonWithPod();
  const made = await createContainer(d1, pod, fx.image, { metadata: { name: 'made' } });
  assert.equal(await d1.stop(), 0);
  const d = await restart(d1);
  assert.equal((await status(d, made)).state, 'CONTAINER_CREATED');
  await d.client.call('StartContainer', { containerId: made });
  assert.equal((await status(d, made)).state, 'CONTAINER_RUNNING');
  await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
});
