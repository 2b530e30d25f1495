import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { CallError } from '../../src/cli/client.js';
import { podSuite, runPod, runContainer, createContainer, execSync, waitState, type PodFixture, type PodDaemon } from '../helpers/pods.js';

let d: PodDaemon;
let fx: PodFixture;
podSuite({}, (f, daemon) => {
  fx = f;
  d = daemon;
});

const procStatus = async (id: string, field: string): Promise<string> => {
  const out = (await execSync(d, id, ['cat', '/proc/self/status'])).stdout;
  return new RegExp(`^${field}:\\s*(\\S+)`, 'm').exec(out)?.[1] ?? '';
};
const sec = (securityContext: Record<string, unknown>) => ({ linux: { securityContext } });

test('users and groups: run_as_user/group, run_as_username from the image, supplemental groups from /etc/group', async () => {
  const pod = await runPod(d);
  const byName = await runContainer(d, pod, fx.image, sec({ runAsUsername: 'app' }));
  assert.equal((await execSync(d, byName, ['id'])).stdout.trim(), 'uid=1000(app) gid=1000(app) groups=1000(app),2000(extra)');
  const byId = await runContainer(d, pod, fx.image, sec({ runAsUser: { value: '1234' }, runAsGroup: { value: '555' }, supplementalGroups: ['777'] }));
  assert.equal((await execSync(d, byId, ['id', '-u'])).stdout.trim(), '1234');
  assert.equal((await execSync(d, byId, ['id', '-g'])).stdout.trim(), '555');
  assert.deepEqual((await execSync(d, byId, ['id', '-G'])).stdout.trim().split(' ').sort(), ['555', '777']);
  const st = (await d.client.call<{ status: { user: { linux: { uid: string; gid: string; supplementalGroups: string[] } } } }>('ContainerStatus', { containerId: byId })).status;
  assert.deepEqual(st.user.linux, { uid: '1234', gid: '555', supplementalGroups: ['555', '777'] });
  await assert.rejects(runContainer(d, pod, fx.image, sec({ runAsUsername: 'nobody-here' })), (e: CallError) => e.code === 3 && /nobody-here/.test(e.details));
  await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
});

test('capabilities, no_new_privs, seccomp modes, readonly rootfs, privileged', async () => {
  const pod = await runPod(d);
  const plain = await runContainer(d, pod, fx.image);
  assert.equal(await procStatus(plain, 'CapEff'), '00000000a80425fb');
  assert.equal(await procStatus(plain, 'NoNewPrivs'), '0');
  assert.equal(await procStatus(plain, 'Seccomp'), '0');
  const tight = await runContainer(d, pod, fx.image, sec({
    capabilities: { dropCapabilities: ['ALL'], addCapabilities: ['NET_ADMIN'] },
    noNewPrivs: true, readonlyRootfs: true, seccomp: { profileType: 'RuntimeDefault' },
  }));
  assert.equal(await procStatus(tight, 'CapEff'), '0000000000001000');
  assert.equal(await procStatus(tight, 'NoNewPrivs'), '1');
  assert.equal(await procStatus(tight, 'Seccomp'), '2');
  const w = await execSync(d, tight, ['touch', '/newfile']);
  assert.notEqual(w.exitCode, 0);
  assert.match(w.stderr, /Read-only file system/);
  const tmp = await execSync(d, tight, ['sh', '-c', 'echo x > /dev/shm/ok && cat /dev/shm/ok']);
  assert.equal(tmp.stdout, 'x\n');
  // sethostname: refused by the RuntimeDefault profile without CAP_SYS_ADMIN.
  const hn = await execSync(d, tight, ['hostname', 'other']);
  assert.notEqual(hn.exitCode, 0);
  assert.match(hn.stderr, /not permitted/i);
  // With SYS_ADMIN and no seccomp filter the same call works (in the pod's own UTS namespace).
  const admin = await runContainer(d, pod, fx.image, sec({ capabilities: { addCapabilities: ['SYS_ADMIN'] }, seccomp: { profileType: 'Unconfined' } }));
  assert.equal((await execSync(d, admin, ['hostname', 'renamed'])).exitCode, 0);
  const priv = await runContainer(d, pod, fx.image, sec({ privileged: true }));
  assert.equal(await procStatus(priv, 'CapEff'), '000001fffeffffff');
  // CRI: no seccomp for a privileged container, even one that names a profile.
  const blockHostname = join(d.dir, 'block-hostname.json');
  writeFileSync(blockHostname, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['sethostname'], action: 'SCMP_ACT_ERRNO' }] }));
  const privProfile = await runContainer(d, pod, fx.image, sec({ privileged: true, seccomp: { profileType: 'Localhost', localhostRef: blockHostname } }));
  assert.equal(await procStatus(privProfile, 'Seccomp'), '0');
  assert.equal((await execSync(d, privProfile, ['hostname', 'privileged-renamed'])).exitCode, 0);
  assert.equal((await execSync(d, priv, ['ls', '/dev/vda'])).exitCode, 0, 'privileged sees host devices');
  assert.notEqual((await execSync(d, plain, ['ls', '/dev/vda'])).exitCode, 0);
  const masked = await execSync(d, plain, ['sh', '-c', 'wc -c < /proc/timer_list']);
  assert.equal(masked.stdout.trim(), '0', `/proc/timer_list is masked by default: ${JSON.stringify(masked)}`);
  assert.notEqual((await execSync(d, priv, ['sh', '-c', 'wc -c < /proc/timer_list'])).stdout.trim(), '0', 'not masked when privileged');
  assert.notEqual((await execSync(d, plain, ['sh', '-c', 'echo 1 > /proc/sys/kernel/shm_rmid_forced'])).exitCode, 0, '/proc/sys is read-only');
  await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
});

test('an allocation beyond the memory limit reports OOMKilled; sysctls, DNS and shared PID namespace apply', async () => {
  const pod = await runPod(d, {
    dnsConfig: { servers: ['10.0.0.53'], searches: ['svc.test'], options: ['ndots:2'] },
    linux: { sysctls: { 'kernel.shm_rmid_forced': '1', 'net.ipv4.ip_unprivileged_port_start': '81' }, securityContext: { namespaceOptions: { pid: 'POD' } } },
  });
  const oom = await runContainer(d, pod, fx.image, { command: ['tail', '/dev/zero'], linux: { resources: { memoryLimitInBytes: String(16 << 20) } } });
  const s = await waitState(d, oom, 'CONTAINER_EXITED', 20_000);
  assert.equal(s.reason, 'OOMKilled');
  assert.equal(s.exitCode, 137);
  const a = await runContainer(d, pod, fx.image, { command: ['sleep', '999'], linux: { securityContext: { namespaceOptions: { pid: 'POD' } } } });
  const b = await runContainer(d, pod, fx.image, { linux: { securityContext: { namespaceOptions: { pid: 'POD' } } } });
  assert.match((await execSync(d, b, ['ps'])).stdout, /sleep 999/);
  assert.equal((await execSync(d, a, ['cat', '/proc/sys/kernel/shm_rmid_forced'])).stdout.trim(), '1');
  assert.equal((await execSync(d, a, ['cat', '/proc/sys/net/ipv4/ip_unprivileged_port_start'])).stdout.trim(), '81');
  const resolv = (await execSync(d, a, ['cat', '/etc/resolv.conf'])).stdout;
  assert.match(resolv, /nameserver 10\.0\.0\.53/);
  assert.match(resolv, /search svc\.test/);
  assert.match(resolv, /options ndots:2/);
  const links = (await execSync(d, a, ['ip', '-o', 'link'])).stdout;
  assert.deepEqual(links.trim().split('\n').map((l) => l.split(':')[1]!.trim().split('@')[0]), ['lo', 'eth0'], 'the pod namespace: loopback and the CNI interface');
  await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
});

test('PID namespace TARGET joins another container\'s namespace, also one whose creation is still under way; a container of another pod is refused', async () => {
  const pod = await runPod(d, { linux: { securityContext: { namespaceOptions: { pid: 'CONTAINER' } } } });
  const own = { linux: { securityContext: { namespaceOptions: { pid: 'CONTAINER' } } } };
  // CreateContainer of the target answers before runc has made it; the debug container asks at once.
  const target = await createContainer(d, pod, fx.image, { command: ['sleep', '998'], ...own });
  const debug = await createContainer(d, pod, fx.image, { linux: { securityContext: { namespaceOptions: { pid: 'TARGET', targetId: target } } } });
  await d.client.call('StartContainer', { containerId: target });
  await d.client.call('StartContainer', { containerId: debug });
  const ps = (await execSync(d, debug, ['ps', '-o', 'pid,args'])).stdout;
  assert.match(ps, /^\s*1 sleep 998$/m, 'the target\'s process is PID 1 of the shared namespace');
  // A container with its own namespace sees only itself.
  const alone = await runContainer(d, pod, fx.image, own);
  assert.doesNotMatch((await execSync(d, alone, ['ps'])).stdout, /sleep 998/);
  const other = await runPod(d);
  await assert.rejects(createContainer(d, other, fx.image, { linux: { securityContext: { namespaceOptions: { pid: 'TARGET', targetId: target } } } }),
    (err: CallError) => err.code === 5 && /target_id/.test(err.details));
  await d.client.call('RemovePodSandbox', { podSandboxId: other.id });
  await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
});

test('mount propagation: rshared shows container mounts on the host, rslave shows host mounts in the container', async () => {
  const shared = join(d.dir, 'shared');
  const slave = join(d.dir, 'slave');
  mkdirSync(join(shared, 'sub'), { recursive: true });
  mkdirSync(join(slave, 'sub'), { recursive: true });
  writeFileSync(join(slave, 'file'), 'hi');
  const pod = await runPod(d);
  // berthd leaves the host's mounts alone: a propagating source on a private
  // mount is refused, naming the field, and the host mount stays private.
  await assert.rejects(createContainer(d, pod, fx.image, { mounts: [{ containerPath: '/shared', hostPath: shared, propagation: 'PROPAGATION_BIDIRECTIONAL' }] }),
    (err: CallError) => err.code === 9 && /config\.mounts\[0\]\.host_path/.test(err.details) && /not a shared mount/.test(err.details));
  assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === shared), 'no mount made on the source');
  // As kubelet's volume plugins (and critest) do, the host makes them propagate.
  for (const dir of [shared, slave]) {
    execFileSync('mount', ['--bind', dir, dir]);
    execFileSync('mount', ['--make-rshared', dir]);
  }
  const id = await runContainer(d, pod, fx.image, {
    linux: { securityContext: { privileged: true } },
    mounts: [
      { containerPath: '/shared', hostPath: shared, propagation: 'PROPAGATION_BIDIRECTIONAL' },
      { containerPath: '/slave', hostPath: slave, propagation: 'PROPAGATION_HOST_TO_CONTAINER', readonly: true },
    ],
  });
  assert.equal((await execSync(d, id, ['cat', '/slave/file'])).stdout, 'hi');
  assert.notEqual((await execSync(d, id, ['touch', '/slave/x'])).exitCode, 0, 'readonly mount');
  assert.equal((await execSync(d, id, ['mount', '-t', 'tmpfs', 'fromctr', '/shared/sub'])).exitCode, 0);
  await execSync(d, id, ['touch', '/shared/sub/made-inside']);
  assert.ok(existsSync(join(shared, 'sub', 'made-inside')), 'container mount seen on the host');
  execFileSync('mount', ['-t', 'tmpfs', 'fromhost', join(slave, 'sub')]);
  writeFileSync(join(slave, 'sub', 'made-outside'), '1');
  assert.equal((await execSync(d, id, ['cat', '/slave/sub/made-outside'])).stdout, '1', 'host mount seen in the container');
  const st = (await d.client.call<{ status: { mounts: { propagation: string }[] } }>('ContainerStatus', { containerId: id })).status;
  assert.deepEqual(st.mounts.map((m) => m.propagation), ['PROPAGATION_BIDIRECTIONAL', 'PROPAGATION_HOST_TO_CONTAINER']);
  execFileSync('umount', [join(slave, 'sub')]);
  if (readFileSync('/proc/self/mounts', 'utf8').includes(join(shared, 'sub'))) execFileSync('umount', [join(shared, 'sub')]);
  await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
  for (const dir of [shared, slave]) execFileSync('umount', ['-l', dir]);
});
