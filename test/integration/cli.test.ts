// The berth CLI against a real berthd, used as on a node: exec with the
// command's own options, exec -it on a terminal with resize, attach,
// port-forward, statsp, events, -o yaml, ps with the pod's namespace, output
// cut by a closed pipe, and pull credentials. The generic uses
// (test/helpers/cli-scenarios.ts) run against containerd too, in
// cli-containerd.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { podSuite, runPod, runContainer, status, waitState, type PodDaemon } from '../helpers/pods.js';
import { startRegistry } from '../helpers/registry.js';
import { pushBusybox } from '../helpers/images.js';
import { cli, startCli } from '../helpers/cli.js';
import {
  attachScenario, closedPipeScenario, execScenario, portForwardScenario, psScenario, statspScenario, ttyScenario, yamlScenario,
  CHATTY, READER, WEB,
} from '../helpers/cli-scenarios.js';

let d: PodDaemon;
let image: string;
podSuite({}, (fx, daemon) => {
  d = daemon;
  image = fx.image;
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
type Pod = { id: string; config: Record<string, unknown> };

let shared: { pod: Pod; sleeper: string } | undefined;
async function fixture(): Promise<{ pod: Pod; sleeper: string }> {
  if (shared) return shared;
  const pod = await runPod(d, { metadata: { name: 'cli-pod', namespace: 'cli-ns', uid: 'cli-pod-uid', attempt: 0 }, logDirectory: join(d.dir, 'logs') });
  const sleeper = await runContainer(d, pod, image, { metadata: { name: 'sleeper' }, command: ['sleep', '1000'], logPath: 'sleeper.log' });
  shared = { pod, sleeper };
  return shared;
}

const ep = (): string => d.endpoint;

test('exec: options after the container ID belong to the command (sh -c), exit codes pass through, -i ends with stdin', async () => {
  await execScenario(ep(), (await fixture()).sleeper, { stdinClose: true });
});

test('exec -it: a terminal of the right size, resized with the local one; the exit code comes back', async () => {
  await ttyScenario(ep(), (await fixture()).sleeper, d.dir);
});

test('attach -i: stdin reaches the container, its output comes back, the session ends with it', async () => {
  const { pod } = await fixture();
  const reader = await runContainer(d, pod, image, { metadata: { name: 'reader' }, stdin: true, logPath: 'reader.log', command: READER });
  await attachScenario(ep(), reader);
  assert.equal((await waitState(d, reader, 'CONTAINER_EXITED')).exitCode, 0);
});

test('port-forward: local ports carry connections into the pod until interrupted', async () => {
  const { pod } = await fixture();
  await runContainer(d, pod, image, { metadata: { name: 'web' }, logPath: 'web.log', command: WEB });
  await portForwardScenario(ep(), pod.id, 8080, 'hello-from-pod\n');
});

test('statsp: the pod\'s CPU and memory, with name and namespace; -o json and -o yaml', async () => {
  await statspScenario(ep(), (await fixture()).pod.id, 'cli-pod', 'cli-ns');
});

test('ps shows each container\'s pod and namespace and filters by namespace; -o yaml equals -o json wherever both exist', async () => {
  const { pod, sleeper } = await fixture();
  await psScenario(ep(), { id: sleeper, name: 'sleeper', pod: pod.id, podName: 'cli-pod', namespace: 'cli-ns' });
  await yamlScenario(ep(), [
    ['version'], ['ps', '-a'], ['pods'], ['images'], ['inspect', sleeper], ['inspectp', pod.id], ['inspecti', image],
    ['info'], ['runtime-config'], ['imagefsinfo'], ['stats'],
  ]);
  const two = await cli(ep(), ['inspect', sleeper, sleeper, '-o', 'yaml']);
  assert.equal(two.stdout.split(/^---$/m).length, 2, 'documents separated by ---');
});

test('output cut by a closed pipe ends berth quietly (logs | head, logs -f | head, ps | head)', async () => {
  const { pod } = await fixture();
  const chatty = await runContainer(d, pod, image, { metadata: { name: 'chatty' }, logPath: 'chatty.log', command: CHATTY });
  await closedPipeScenario(ep(), chatty);
  assert.equal((await status(d, chatty)).state, 'CONTAINER_RUNNING');
});

test('events: a container\'s lifecycle as it happens, as a table and as JSON lines', async () => {
  const { pod } = await fixture();
  const table = startCli(ep(), ['events']);
  const json = startCli(ep(), ['events', '-o', 'json']);
  try {
    // The subscriptions are live once each has printed an event: make some until both have.
    for (let i = 0; !(/\S/.test(table.stdout()) && /\S/.test(json.stdout())); i++) {
      assert.ok(i < 100, `no events seen: ${table.stderr()} ${json.stderr()}`);
      const probe = await runPod(d);
      await d.client.call('RemovePodSandbox', { podSandboxId: probe.id });
      await Promise.race([json.waitFor(new RegExp(probe.id), 1000), sleep(1000)]).catch(() => undefined);
    }
    const id = await runContainer(d, pod, image, { metadata: { name: 'evented' }, command: ['sleep', '1000'], logPath: 'evented.log' });
    await d.client.call('StopContainer', { containerId: id, timeout: 0 });
    await d.client.call('RemoveContainer', { containerId: id });
    const want = ['CONTAINER_CREATED_EVENT', 'CONTAINER_STARTED_EVENT', 'CONTAINER_STOPPED_EVENT', 'CONTAINER_DELETED_EVENT'];
    await json.waitFor(new RegExp(`"containerId":"${id}","containerEventType":"CONTAINER_DELETED_EVENT"`));
    const mine = json.stdout().trim().split('\n')
      .map((l) => JSON.parse(l) as { containerId: string; containerEventType: string; podSandboxStatus: { id: string } })
      .filter((e) => e.containerId === id);
    assert.deepEqual(mine.map((e) => e.containerEventType), want);
    assert.ok(mine.every((e) => e.podSandboxStatus.id === pod.id));
    await table.waitFor(new RegExp(`DELETED\\s+${id.slice(0, 13)}`));
    assert.match(table.stdout(), new RegExp(`STARTED\\s+${id.slice(0, 13)}\\s+evented\\s+${pod.id.slice(0, 13)}\\s+cli-ns/cli-pod`));
  } finally {
    table.proc.kill('SIGINT');
    json.proc.kill('SIGTERM');
  }
  assert.equal(await table.exited, 0, table.stderr());
  assert.equal(await json.exited, 0, json.stderr());
});

test('pull --creds user:password splits at the first colon; --username reads the password; no password is an empty one', async () => {
  const reg = await startRegistry({ token: { username: 'alice', password: 'pa:ss' } });
  try {
    const img = await pushBusybox(reg);
    const ok = await cli(ep(), ['pull', '--creds', 'alice:pa:ss', img.ref]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^Image is up to date for sha256:[0-9a-f]{64}\n$/);
    await d.client.call('RemoveImage', { image: { image: img.ref } });
    const prompted = await cli(ep(), ['pull', '--username', 'alice', img.ref], 'pa:ss\n');
    assert.equal(prompted.code, 0, prompted.stderr);
    await d.client.call('RemoveImage', { image: { image: img.ref } });
    // The token alice got a moment ago must not serve a pull that names her without her password.
    const noPassword = await cli(ep(), ['pull', '--creds', 'alice', img.ref]);
    assert.equal(noPassword.code, 1);
    assert.match(noPassword.stderr, /^berth: PullImage: UNAUTHENTICATED: .*401/);
    const both = await cli(ep(), ['pull', '--creds', 'alice:x', '--auth', 'YWxpY2U6eA==', img.ref]);
    assert.match(both.stderr, /only one of --creds, --auth and --username/);
  } finally {
    await reg.stop();
  }
});
