// The berth CLI is a client for any CRI runtime: the generic uses of
// cli.test.ts, against Debian's containerd (1.6) on a private socket, root
// and CNI network, with pods and containers made through the CLI itself
// from crictl-format config files. containerd 1.6's streaming server speaks
// WebSocket up to v4.channel.k8s.io (no stdin close) and it does not
// implement GetContainerEvents, which berth must say plainly.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { deleteBridge, removeTestDir, tempDir } from '../helpers/daemon.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { pushBusybox, pushPause } from '../helpers/images.js';
import { CONTAINERD_BIN, privateCniConfig, startContainerd, type Containerd } from '../helpers/containerd.js';
import { cli } from '../helpers/cli.js';
import {
  attachScenario, closedPipeScenario, execScenario, portForwardScenario, psScenario, statspScenario, ttyScenario, yamlScenario,
  CHATTY, READER, WEB,
} from '../helpers/cli-scenarios.js';

let skip: string | false = existsSync(CONTAINERD_BIN) ? false : 'containerd is not installed (scripts/install-deps.sh installs it)';
let registry: TestRegistry | undefined;
let ctd: Containerd | undefined;
let dir = '';
let bridge = '';
let image = '';
let pod = '';
const ids: Record<string, string> = {};
// containerd 1.6 has pod stats only for pods with a cgroup parent (kubelet always gives one).
const cgroupParent = `/berth-tctd${randomBytes(4).toString('hex')}`;

const ep = (): string => ctd!.endpoint;

/** `berth <args>` against containerd; fails the test on a non-zero exit. */
async function ok(args: string[]): Promise<string> {
  const r = await cli(ep(), args);
  assert.equal(r.code, 0, `berth ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

before(async () => {
  if (skip) return;
  dir = tempDir('berth-cli-ctd-');
  const cni = privateCniConfig(dir);
  bridge = cni.bridge;
  registry = await startRegistry();
  image = (await pushBusybox(registry)).ref;
  const pause = await pushPause(registry);
  try {
    ctd = await startContainerd({ insecureRegistries: [registry.host], sandboxImage: pause.ref, cniConfDir: cni.confDir, stateTmpfs: true });
  } catch (err) {
    skip = `containerd could not start here: ${(err as Error).message}`;
    return;
  }
  await ok(['pull', pause.ref]);
  assert.match(await ok(['pull', image]), /^Image is up to date for sha256:/);
  mkdirSync(join(dir, 'logs'));
  const podFile = join(dir, 'pod.json');
  writeFileSync(podFile, JSON.stringify({
    metadata: { name: 'ctd-pod', namespace: 'ctd-ns', uid: 'ctd-pod-uid', attempt: 0 }, hostname: 'ctd-pod',
    log_directory: join(dir, 'logs'), linux: { cgroup_parent: cgroupParent },
  }));
  pod = await ok(['runp', podFile]);
  for (const [name, extra] of [
    ['sleeper', { command: ['sleep', '1000'] }],
    ['reader', { command: READER, stdin: true }],
    ['web', { command: WEB }],
    ['chatty', { command: CHATTY }],
  ] as const) {
    const f = join(dir, `${name}.json`);
    writeFileSync(f, JSON.stringify({ metadata: { name }, image: { image }, log_path: `${name}.log`, linux: {}, ...extra }));
    ids[name] = await ok(['create', pod, f, podFile]);
    await ok(['start', ids[name]!]);
  }
});

after(async () => {
  if (ctd) {
    // Through the CLI first (what is being tested), then whatever is left through CRI.
    if (pod) {
      await cli(ep(), ['stopp', pod]);
      await cli(ep(), ['rmp', pod]);
    }
    await ctd.stop();
  }
  await registry?.stop();
  // The parent is ours; containerd removes only the cgroups it made under it.
  for (const ctrl of readdirSync('/sys/fs/cgroup')) {
    if (existsSync(`/sys/fs/cgroup/${ctrl}${cgroupParent}`)) rmdirSync(`/sys/fs/cgroup/${ctrl}${cgroupParent}`);
  }
  deleteBridge(bridge);
  if (dir && existsSync(dir)) removeTestDir(dir);
});

test('containerd: version -o yaml, ps with the pod and its namespace, -o yaml wherever -o json', { skip }, async () => {
  assert.match(await ok(['version', '-o', 'yaml']), /runtimeName: containerd/);
  await psScenario(ep(), { id: ids.sleeper!, name: 'sleeper', pod, podName: 'ctd-pod', namespace: 'ctd-ns' });
  await yamlScenario(ep(), [['version'], ['ps', '-a'], ['pods'], ['images'], ['inspect', ids.sleeper!], ['inspectp', pod], ['info'], ['stats']]);
});

test('containerd: exec with the command\'s own options, exit codes, -i (v4: no stdin close)', { skip }, async () => {
  await execScenario(ep(), ids.sleeper!, { stdinClose: false });
});

test('containerd: exec -it on a terminal follows its size', { skip }, async () => {
  await ttyScenario(ep(), ids.sleeper!, dir);
});

test('containerd: attach -i', { skip }, async () => {
  await attachScenario(ep(), ids.reader!);
});

test('containerd: port-forward', { skip }, async () => {
  await portForwardScenario(ep(), pod, 8080, 'hello-from-pod\n');
});

test('containerd: statsp', { skip }, async () => {
  await statspScenario(ep(), pod, 'ctd-pod', 'ctd-ns');
});

test('containerd: output cut by a closed pipe', { skip }, async () => {
  await closedPipeScenario(ep(), ids.chatty!);
});

test('containerd: events from a runtime without GetContainerEvents says so and exits 1', { skip }, async () => {
  const r = await cli(ep(), ['events']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^berth: GetContainerEvents: UNIMPLEMENTED: /);
});
