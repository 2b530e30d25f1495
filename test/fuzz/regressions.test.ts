// Each case of issue 20 ("bad input gets a clear error and nothing else"),
// kept as a named test against a real berthd.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CallError } from '../../src/cli/client.js';
import { podSuite, runPod, runContainer, createContainer, execSync, status, startPodDaemon, networkLeftovers, type PodFixture, type PodDaemon } from '../helpers/pods.js';
import { freeSubnet, startDaemon, tempDir, testBridgeName } from '../helpers/daemon.js';
import { WsChannels, wsCommand } from '../helpers/ws-client.js';
import { memoryOf } from './host.js';
import { buildAndPush } from '../helpers/images.js';

let d: PodDaemon;
let fx: PodFixture;
podSuite({}, (f, daemon) => {
  fx = f;
  d = daemon;
});

const INVALID = 3;
const refused = (field: string, code = INVALID) => (err: CallError): boolean => {
  assert.equal(err.code, code, err.message);
  assert.ok(err.details.includes(field), `"${field}" named in: ${err.details.slice(0, 400)}`);
  return true;
};
const sec = (securityContext: Record<string, unknown>) => ({ linux: { securityContext } });
const propagationOf = (mountPoint: string): string[] => readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
  .filter((l) => l.split(' ')[4] === mountPoint).map((l) => { const f = l.split(' '); return f.slice(6, f.indexOf('-')).join(' '); });

test('1. a 128 KiB ID or reference: a short error, the connection keeps answering, the log holds the value once and cut short', async () => {
  const huge = 'a'.repeat(128 * 1024);
  const ref = `r/${'b'.repeat(128 * 1024)}`;
  const pod = await runPod(d);
  const calls: [string, Record<string, unknown>, string][] = [
    ['ContainerStatus', { containerId: huge }, 'container_id'],
    ['StartContainer', { containerId: huge }, 'container_id'],
    ['ExecSync', { containerId: huge, cmd: ['true'] }, 'container_id'],
    ['PodSandboxStatus', { podSandboxId: huge }, 'pod_sandbox_id'],
    ['RemovePodSandbox', { podSandboxId: huge }, 'pod_sandbox_id'],
    ['CreateContainer', { podSandboxId: huge, config: { metadata: { name: 'c' }, image: { image: fx.image } } }, 'pod_sandbox_id'],
    ['ImageStatus', { image: { image: ref } }, 'image.image'],
    ['RemoveImage', { image: { image: ref } }, 'image.image'],
    ['PullImage', { image: { image: ref } }, 'image.image'],
    ['CreateContainer', { podSandboxId: pod.id, config: { metadata: { name: 'c' }, image: { image: ref } } }, 'config.image.image'],
  ];
  for (const [method, req, field] of calls) {
    // One client, one connection, as kubelet's.
    await assert.rejects(d.client.call(method, req), (err: CallError) => {
      refused(field)(err);
      assert.ok(err.details.length < 1024, `${method}: ${err.details.length} characters`);
      assert.match(err.details, /…\(\d+ bytes\)/);
      return true;
    });
    await d.client.call('Version', {});
  }
  const logs = await d.logsMatching(/config\.image\.image/);
  assert.ok(!logs.includes('a'.repeat(1024)) && !logs.includes('b'.repeat(1024)), 'no value logged in full');
  await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
});

test('2. timeouts past a timer\'s range: ExecSync runs its command to the end, StopContainer waits for the container', async () => {
  const pod = await runPod(d);
  const id = await runContainer(d, pod, fx.image, { command: ['sh', '-c', 'trap "sleep 1; exit 42" TERM; sleep 100000 & wait'] });
  for (const timeout of ['2147484', '9223372036854775807']) {
    const r = await d.client.call<{ exitCode: number }>('ExecSync', { containerId: id, cmd: ['sh', '-c', 'sleep 1; exit 7'], timeout });
    assert.equal(r.exitCode, 7, `timeout ${timeout}`);
  }
  await assert.rejects(d.client.call('ExecSync', { containerId: id, cmd: ['true'], timeout: '-1' }), refused('timeout'));
  await assert.rejects(d.client.call('StopContainer', { containerId: id, timeout: '-1' }), refused('timeout'));
  await d.client.call('StopContainer', { containerId: id, timeout: '9223372036854775807' });
  const s = await status(d, id);
  assert.equal(s.state, 'CONTAINER_EXITED');
  assert.equal(s.exitCode, 42, 'the stop signal\'s handler ran to its end: no early SIGKILL');
  await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
});

test('3. DNS config: servers must be addresses, searches and options single words (no resolv.conf injection)', async () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ servers: ['1.1.1.1\nnameserver 6.6.6.6'] }, 'config.dns_config.servers[0]'],
    [{ servers: ['not-an-ip'] }, 'config.dns_config.servers[0]'],
    [{ searches: ['example.com\nnameserver 6.6.6.6'] }, 'config.dns_config.searches[0]'],
    [{ searches: ['a b'] }, 'config.dns_config.searches[0]'],
    [{ options: ['ndots:5\nnameserver 6.6.6.6'] }, 'config.dns_config.options[0]'],
  ];
  for (const [dnsConfig, field] of cases) await assert.rejects(runPod(d, { dnsConfig }), refused(field));
  const pod = await runPod(d, { dnsConfig: { servers: ['1.1.1.1', '2001:db8::1'], searches: ['svc.cluster.local', 'cluster.local'], options: ['ndots:5'] } });
  const id = await runContainer(d, pod, fx.image);
  assert.equal((await execSync(d, id, ['cat', '/etc/resolv.conf'])).stdout,
    'search svc.cluster.local cluster.local\nnameserver 1.1.1.1\nnameserver 2001:db8::1\noptions ndots:5\n');
  await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
});

test('4. UpdateRuntimeConfig refuses pod_cidr 10.0.0.0/33 and pods still run afterwards', async () => {
  for (const podCidr of ['10.0.0.0/33', '::/129', '10.0.0.0', '10.0.0.0/8,10.1.0.0/16,10.2.0.0/16']) {
    await assert.rejects(d.client.call('UpdateRuntimeConfig', { runtimeConfig: { networkConfig: { podCidr } } }), refused('runtime_config.network_config.pod_cidr'));
  }
  const pod = await runPod(d);
  await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
});

test('5. a Localhost seccomp profile that is a FIFO, /dev/zero, a directory or too large is refused at once; other file work goes on', async () => {
  const pod = await runPod(d);
  const fifo = join(d.dir, 'profile.fifo');
  execFileSync('mkfifo', [fifo]);
  const large = join(d.dir, 'large.json');
  writeFileSync(large, `{"defaultAction":"SCMP_ACT_ALLOW","x":"${'x'.repeat(2 * 1024 * 1024)}"}`);
  const profile = (localhostRef: string) => sec({ seccomp: { profileType: 'Localhost', localhostRef } });
  const field = 'config.linux.security_context.seccomp.localhost_ref';
  // Four FIFOs at once used to take every thread of the pool for good.
  const bad = [fifo, fifo, fifo, fifo, '/dev/zero', d.dir, large].map((p) => assert.rejects(createContainer(d, pod, fx.image, profile(p)), refused(field)));
  await Promise.all([...bad, d.client.call('ImageFsInfo', {})]);
  assert.ok(memoryOf(d.proc.pid!).rss < 400 * 1024 * 1024, 'nothing was read into memory');
  const good = join(d.dir, 'allow.json');
  writeFileSync(good, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', architectures: [], syscalls: [] }));
  const id = await runContainer(d, pod, fx.image, profile(good));
  assert.equal((await execSync(d, id, ['true'])).exitCode, 0);
  await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
});

test('6. propagating mounts need a host source that already propagates; the host\'s mounts are left as they are', async () => {
  const priv = join(d.dir, 'prop-private');
  const master = join(d.dir, 'prop-shared');
  const slave = join(d.dir, 'prop-slave');
  for (const p of [priv, master, slave]) mkdirSync(p);
  execFileSync('mount', ['--bind', priv, priv]);
  execFileSync('mount', ['--make-private', priv]);
  execFileSync('mount', ['--bind', master, master]);
  execFileSync('mount', ['--make-shared', master]);
  execFileSync('mount', ['--bind', master, slave]);
  execFileSync('mount', ['--make-slave', slave]);
  try {
    const before = [propagationOf(priv), propagationOf(slave)];
    assert.doesNotMatch(before[1]!.join(), /shared:/);
    const pod = await runPod(d);
    const mount = (hostPath: string, propagation: string) => ({ mounts: [{ containerPath: '/m', hostPath, propagation }] });
    await assert.rejects(createContainer(d, pod, fx.image, mount(priv, 'PROPAGATION_BIDIRECTIONAL')), refused('config.mounts[0].host_path', 9));
    await assert.rejects(createContainer(d, pod, fx.image, mount(priv, 'PROPAGATION_HOST_TO_CONTAINER')), refused('config.mounts[0].host_path', 9));
    await assert.rejects(createContainer(d, pod, fx.image, mount(slave, 'PROPAGATION_BIDIRECTIONAL')), refused('config.mounts[0].host_path', 9));
    // A slave source is enough for HostToContainer.
    const id = await runContainer(d, pod, fx.image, mount(slave, 'PROPAGATION_HOST_TO_CONTAINER'));
    await d.client.call('RemoveContainer', { containerId: id });
    await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
    assert.deepEqual([propagationOf(priv), propagationOf(slave)], before, 'propagation of the host mounts unchanged');
  } finally {
    for (const p of [slave, master, priv]) execFileSync('umount', ['-l', p]);
  }
});

test('7. unknown enum values and stop_signal 999 are INVALID_ARGUMENT naming the field, never UNKNOWN or a default', async () => {
  const pod = await runPod(d);
  await assert.rejects(d.client.call('ListContainers', { filter: { state: { state: 99 } } }), refused('filter.state.state'));
  await assert.rejects(d.client.stream('StreamContainers', { filter: { state: { state: 99 } } }), refused('filter.state.state'));
  await assert.rejects(d.client.call('ListPodSandbox', { filter: { state: { state: 99 } } }), refused('filter.state.state'));
  await assert.rejects(createContainer(d, pod, fx.image, { stopSignal: 999 }), refused('config.stop_signal'));
  await assert.rejects(createContainer(d, pod, fx.image, { mounts: [{ containerPath: '/m', hostPath: d.dir, propagation: 99 }] }), refused('config.mounts[0].propagation'));
  await assert.rejects(createContainer(d, pod, fx.image, sec({ seccomp: { profileType: 99 } })), refused('config.linux.security_context.seccomp.profile_type'));
  await assert.rejects(createContainer(d, pod, fx.image, sec({ namespaceOptions: { pid: 99 } })), refused('config.linux.security_context.namespace_options.pid'));
  for (const ns of ['network', 'ipc', 'pid']) {
    await assert.rejects(runPod(d, { linux: { securityContext: { namespaceOptions: { [ns]: 99 } } } }), refused(`config.linux.security_context.namespace_options.${ns}`));
  }
  await assert.rejects(runPod(d, { portMappings: [{ protocol: 99, containerPort: 80 }] }), refused('config.port_mappings[0].protocol'));
  // Known signals go through, the real-time ones included.
  for (const sig of ['SIGNAL_SIGUSR1', 'SIGNAL_SIGRTMINPLUS2', 'SIGNAL_SIGRTMAX']) {
    const id = await createContainer(d, pod, fx.image, { stopSignal: sig });
    assert.equal((await d.client.call<{ status: { stopSignal: string } }>('ContainerStatus', { containerId: id })).status.stopSignal, sig);
  }
  await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
});

test('8. host_port 70000, container_port 0, 1 MB names and arguments, localhost:99999/x are INVALID_ARGUMENT', async () => {
  const mb = 'a'.repeat(1024 * 1024);
  await assert.rejects(runPod(d, { portMappings: [{ containerPort: 80, hostPort: 70000 }] }), refused('config.port_mappings[0].host_port'));
  await assert.rejects(runPod(d, { portMappings: [{ containerPort: 0, hostPort: 8080 }] }), refused('config.port_mappings[0].container_port'));
  await assert.rejects(d.client.call('RunPodSandbox', { config: { metadata: { name: mb, namespace: 'n', uid: 'u' } } }), refused('config.metadata.name'));
  const pod = await runPod(d);
  await assert.rejects(createContainer(d, pod, fx.image, { metadata: { name: mb } }), refused('config.metadata.name'));
  const id = await runContainer(d, pod, fx.image);
  await assert.rejects(d.client.call('ExecSync', { containerId: id, cmd: ['echo', mb] }), refused('cmd[1]'));
  await assert.rejects(d.client.call('PullImage', { image: { image: 'localhost:99999/x' } }), refused('image.image'));
  await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
});

test('9. what the request itself gets wrong is refused by RunPodSandbox, CreateContainer and ExecSync, not later', async () => {
  const podCases: [Record<string, unknown>, string][] = [
    [{ portMappings: [{ containerPort: 80, hostPort: -1 }] }, 'config.port_mappings[0].host_port'],
    [{ portMappings: [{ containerPort: 80, hostPort: 8080, hostIp: '1.2.3.4; iptables -F' }] }, 'config.port_mappings[0].host_ip'],
    [{ linux: { sysctls: { 'net.ipv4/../../kernel/core_pattern': '|/bin/false' } } }, 'config.linux.sysctls'],
  ];
  for (const [extra, field] of podCases) await assert.rejects(runPod(d, extra), refused(field));
  const pod = await runPod(d, { logDirectory: join(d.dir, 'logs', 'nine') });
  const cases: [Record<string, unknown>, string][] = [
    [{ logPath: 'c\0.log' }, 'config.log_path'],
    [{ workingDir: 'relative/dir' }, 'config.working_dir'],
    [sec({ supplementalGroups: ['-1'] }), 'config.linux.security_context.supplemental_groups[0]'],
    [{ envs: [{ key: 'A=B', value: Buffer.from('x') }] }, 'config.envs[0].key'],
    [{ envs: [{ key: 'A\0B', value: Buffer.from('x') }] }, 'config.envs[0].key'],
    [sec({ maskedPaths: ['proc/kcore'] }), 'config.linux.security_context.masked_paths[0]'],
    [sec({ readonlyPaths: ['proc/sys'] }), 'config.linux.security_context.readonly_paths[0]'],
    [{ linux: { resources: { cpuQuota: '-5' } } }, 'config.linux.resources.cpu_quota'],
    [{ linux: { resources: { cpusetMems: '0-99999' } } }, 'config.linux.resources.cpuset_mems'],
  ];
  for (const [extra, field] of cases) await assert.rejects(createContainer(d, pod, fx.image, extra), refused(field));
  const id = await runContainer(d, pod, fx.image);
  await assert.rejects(d.client.call('ExecSync', { containerId: id, cmd: ['echo', 'a\0b'] }), refused('cmd[1]'));
  await assert.rejects(d.client.call('ExecSync', { containerId: id, cmd: ['true'], timeout: '-5' }), refused('timeout'));
  await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
});

test('10. a RunPodSandbox whose CNI ADD fails in portmap leaves no cache entry, interface or address, every time', async () => {
  // portmap given an iptables condition iptables refuses: ADD fails after
  // the bridge plugin made the pod's interface and took an address.
  const dir = tempDir();
  const bridge = testBridgeName();
  const conf = join(dir, 'cni-conf');
  mkdirSync(conf, { recursive: true });
  writeFileSync(join(conf, '10-failing.conflist'), JSON.stringify({
    cniVersion: '1.0.0', name: 'failing',
    plugins: [
      { type: 'bridge', bridge, isGateway: true, ipMasq: false, ipam: { type: 'host-local', ranges: [[{ subnet: freeSubnet() }]], dataDir: join(dir, 'root', 'cni-ipam') } },
      { type: 'portmap', capabilities: { portMappings: true }, conditionsV4: ['--no-such-iptables-option'] },
    ],
  }));
  const f = await startPodDaemon(fx.image, { dir, toml: `[network]\ncni_conf_dir = "${conf}"\nwrite_default_config = false\nbridge = "${bridge}"\n` });
  try {
    const cache = join(f.root, 'cni-cache');
    for (let i = 0; i < 4; i++) {
      await assert.rejects(runPod(f, { portMappings: [{ containerPort: 80, hostPort: 40000 + i, hostIp: '127.0.0.1' }] }), (err: CallError) => {
        assert.match(err.details, /portmap/);
        return true;
      });
      assert.deepEqual(existsSync(cache) ? readdirSync(cache) : [], [], `attempt ${i + 1}: no cache entry`);
      assert.deepEqual(networkLeftovers(f), [], `attempt ${i + 1}: no interface, address or entry`);
    }
    assert.equal((await f.client.call<{ items: unknown[] }>('ListPodSandbox', {})).items.length, 0);
  } finally {
    await f.stop();
    f.cleanup();
  }
});

test('10b. a cache entry an earlier berthd left with a runtime config portmap refuses on DEL (container port 0) is released at start', async () => {
  const f = await startDaemon();
  try {
    await f.stop();
    const confFile = join(f.dir, 'cni-conf', '99-berth.conflist');
    const id = 'd'.repeat(64);
    const cache = join(f.root, 'cni-cache');
    mkdirSync(cache, { recursive: true });
    writeFileSync(join(cache, `${id}.json`), JSON.stringify({
      kind: 'berth-cni-cache/v1', file: confFile, config: JSON.parse(readFileSync(confFile, 'utf8')),
      attachment: {
        containerId: id, netns: join(f.dir, 'gone', 'net'), ifName: 'eth0', args: [['IgnoreUnknown', '1'], ['K8S_POD_NAMESPACE', 'n'], ['K8S_POD_NAME', 'p']],
        capabilityArgs: { portMappings: [{ hostPort: 8080, containerPort: 0, protocol: 'tcp', hostIP: '' }] },
      },
    }));
    const again = await startDaemon({ dir: f.dir });
    try {
      await again.logsMatching(/released the network of a sandbox that no longer exists/, 20_000);
      assert.deepEqual(readdirSync(cache), []);
    } finally {
      await again.stop();
    }
  } finally {
    f.cleanup();
  }
});

test('11. a streaming token presented on another kind\'s path or in a plain GET still works for its own session', async () => {
  const pod = await runPod(d);
  const id = await runContainer(d, pod, fx.image);
  const { url } = await d.client.call<{ url: string }>('Exec', { containerId: id, cmd: ['echo', 'still-valid'], stdout: true });
  const u = new URL(url);
  const token = u.pathname.split('/')[2]!;
  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${u.origin}${path}`, { headers }).then((r) => r.status);
  assert.equal(await get(`/attach/${token}`), 404);
  assert.equal(await get(`/portforward/${token}`), 404);
  assert.equal(await get(u.pathname), 400);
  assert.equal((await wsCommand(url, {})).stdout, 'still-valid\n');
  const pf = (await d.client.call<{ url: string }>('PortForward', { podSandboxId: pod.id, port: [80] })).url;
  assert.equal(await get(new URL(pf).pathname), 400);
  const ws = await WsChannels.connect(pf, ['portforward.k8s.io']);
  ws.close();
  await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
});

test('an image\'s /etc/passwd that is a symlink is not followed onto the host\'s', async () => {
  // www-data is in the host's /etc/passwd (Debian), not in the test image's.
  assert.match(readFileSync('/etc/passwd', 'utf8'), /^www-data:/m);
  const img = await buildAndPush(fx.registry, 'test/passwd-link', 'latest', { base: true, layers: [{ files: [{ path: 'etc/passwd', type: 'symlink', target: '/etc/passwd' }] }] });
  await d.client.call('PullImage', { image: { image: img.ref } });
  const pod = await runPod(d);
  await assert.rejects(createContainer(d, pod, img.ref, sec({ runAsUsername: 'www-data' })), (err: CallError) => err.code === INVALID && /www-data/.test(err.details));
  await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
  await d.client.call('RemoveImage', { image: { image: img.ref } });
});
