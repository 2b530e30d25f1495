// The seccomp notifier (M8): a container that opts in by annotation has its
// denials answered by berthd with the profile's errno, counted per pod,
// container and system call, logged, and, with `stop`, ends the container.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { podSuite, runPod, runContainer, execSync, status, waitState, type PodFixture, type PodDaemon } from '../helpers/pods.js';
import { freePort } from '../helpers/registry.js';
import { scrapeMetrics, seriesValue } from '../helpers/prometheus.js';

const address = `127.0.0.1:${await freePort()}`;
let d: PodDaemon;
let fx: PodFixture;
podSuite({ metrics: address }, (f, daemon) => {
  fx = f;
  d = daemon;
});

const runtimeDefault = { linux: { securityContext: { seccomp: { profileType: 'RuntimeDefault' } } } };

test('a denied system call in a container that opted in is answered with the profile\'s errno, counted and logged', async () => {
  const pod = await runPod(d);
  const podName = (pod.config.metadata as { name: string }).name;
  const watched = await runContainer(d, pod, fx.image, { ...runtimeDefault, metadata: { name: 'watched' }, annotations: { 'berth.io/seccomp-notifier': 'log' } });
  const plain = await runContainer(d, pod, fx.image, { ...runtimeDefault, metadata: { name: 'plain' } });
  // sethostname: refused by the profile without CAP_SYS_ADMIN.
  const r = await execSync(d, watched, ['hostname', 'denied-name']);
  assert.notEqual(r.exitCode, 0);
  assert.match(r.stderr, /not permitted/i, 'the program sees the errno the profile would have returned');
  assert.equal((await execSync(d, plain, ['hostname', 'denied-too'])).exitCode, 1);
  const series = `berth_seccomp_denials_total{namespace="test",pod="${podName}",container="watched",syscall="sethostname"}`;
  let n = NaN;
  for (let i = 0; i < 50 && !(n >= 1); i++) {
    n = seriesValue(await scrapeMetrics(address), series);
    if (!(n >= 1)) await sleep(100);
  }
  assert.equal(n, 1, series);
  assert.ok(!(await scrapeMetrics(address)).includes('container="plain"'), 'a container that did not opt in is not counted');
  assert.match(await d.logsMatching(/seccomp denied a system call/), /"syscall":"sethostname"/);
  // What the profile allows is untouched: the container goes on.
  assert.equal((await execSync(d, watched, ['cat', '/etc/hostname'])).exitCode, 0);
  assert.equal((await status(d, watched)).state, 'CONTAINER_RUNNING');
  await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
});

test('with `stop` (CRI-O\'s annotation, here on the pod) the first denial stops the container, and its status says why', async () => {
  const pod = await runPod(d, { annotations: { 'io.kubernetes.cri-o.seccompNotifierAction': 'stop' } });
  const id = await runContainer(d, pod, fx.image, { ...runtimeDefault, command: ['sh', '-c', 'sleep 1; hostname nope; sleep 1000'] });
  const s = await waitState(d, id, 'CONTAINER_EXITED', 20_000);
  assert.equal(s.state, 'CONTAINER_EXITED');
  assert.match(s.message, /seccomp notifier: the profile denied sethostname/);
  await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
});
