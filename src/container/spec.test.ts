import { test } from 'node:test';
import assert from 'node:assert/strict';
import { processArgs, processEnv, validateResources, resourcesSpec } from './spec.js';
import { isNamespacedSysctl } from '../sandbox/sysctl.js';
import { effectiveCapabilities, heldCapabilities, DEFAULT_CAPABILITIES } from './capabilities.js';
import { resolveUser } from './user.js';
import { stopSignalName, logLimit } from './create.js';
import type { Resources } from './types.js';

test('command and args merge with Entrypoint and Cmd as kubelet expects', () => {
  const image = { Entrypoint: ['/ep'], Cmd: ['c1'] };
  assert.deepEqual(processArgs({ command: [], args: [] }, image), ['/ep', 'c1']);
  assert.deepEqual(processArgs({ command: [], args: ['a'] }, image), ['/ep', 'a']);
  assert.deepEqual(processArgs({ command: ['/x'], args: [] }, image), ['/x']);
  assert.deepEqual(processArgs({ command: ['/x'], args: ['y'] }, image), ['/x', 'y']);
  assert.throws(() => processArgs({ command: [], args: [] }, {}), /no command/);
});

test('environment: request overrides image by key; PATH and HOME defaulted', () => {
  const env = processEnv({ envs: [{ key: 'A', value: '2' }, { key: 'B', value: 'x=y' }] }, { Env: ['A=1', 'PATH=/bin'] }, '/home/app');
  assert.deepEqual(env, ['A=2', 'PATH=/bin', 'B=x=y', 'HOME=/home/app']);
});

const passwd = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n';
const group = 'root:x:0:\napp:x:1000:\nextra:x:2000:app\n';

test('users: names from /etc/passwd, groups from /etc/group, run_as_group rules', () => {
  const base = { runAsUsername: '', supplementalGroups: [], imageUser: '' };
  assert.deepEqual(resolveUser({ ...base, runAsUsername: 'app' }, passwd, group), { uid: 1000, gid: 1000, additionalGids: [1000, 2000], name: 'app', home: '/home/app' });
  assert.equal(resolveUser({ ...base, imageUser: 'app:extra' }, passwd, group).gid, 2000);
  assert.deepEqual(resolveUser({ ...base, runAsUser: 7, runAsGroup: 8, supplementalGroups: [9] }, passwd, group).additionalGids, [8, 9]);
  assert.throws(() => resolveUser({ ...base, runAsGroup: 8 }, passwd, group), /run_as_group/);
  assert.throws(() => resolveUser({ ...base, runAsUsername: 'ghost' }, passwd, group), /ghost/);
});

test('capabilities: defaults, drop ALL then add, unknown names refused, never more than the daemon holds', () => {
  const all = heldCapabilities('CapPrm:\t000001fffeffffff\n');
  assert.ok(!all.includes('CAP_SYS_RESOURCE'));
  assert.deepEqual(effectiveCapabilities([], [], all), [...DEFAULT_CAPABILITIES].sort((a, b) => all.indexOf(a) - all.indexOf(b)));
  assert.deepEqual(effectiveCapabilities(['NET_ADMIN'], ['ALL'], all), ['CAP_NET_ADMIN']);
  assert.deepEqual(effectiveCapabilities(['ALL'], [], all), all);
  assert.ok(!effectiveCapabilities([], ['KILL'], all).includes('CAP_KILL'));
  assert.throws(() => effectiveCapabilities(['BOGUS'], [], all), /BOGUS/);
});

const res = (r: Partial<Resources>): Resources => ({
  cpuPeriod: 0, cpuQuota: 0, cpuShares: 0, memoryLimitInBytes: 0, memorySwapLimitInBytes: 0, oomScoreAdj: 0,
  cpusetCpus: '', cpusetMems: '', hugepageLimits: [], unified: {}, ...r,
});

test('resources: impossible values refused naming the field; spec mapping', () => {
  assert.throws(() => validateResources(res({ cpuPeriod: 10 })), /cpuPeriod/);
  assert.throws(() => validateResources(res({ memoryLimitInBytes: 100 })), /memoryLimitInBytes/);
  assert.throws(() => validateResources(res({ cpusetCpus: 'a-b' })), /cpusetCpus/);
  assert.throws(() => validateResources(res({ oomScoreAdj: 5000 })), /oomScoreAdj/);
  const spec = resourcesSpec(res({ cpuShares: 512, cpuQuota: 50000, cpuPeriod: 100000, memoryLimitInBytes: 1 << 26 }), true);
  assert.deepEqual(spec.cpu, { shares: 512, quota: 50000, period: 100000 });
  assert.deepEqual(spec.memory, { limit: 1 << 26, swap: 1 << 26 });
});

test('sysctls and stop signals', () => {
  assert.ok(isNamespacedSysctl('net.ipv4.ip_forward'));
  assert.ok(isNamespacedSysctl('kernel.shm_rmid_forced'));
  assert.ok(!isNamespacedSysctl('kernel.panic'));
  assert.equal(stopSignalName('QUIT'), 'SIGQUIT');
  assert.equal(stopSignalName(undefined), 'SIGTERM');
  assert.equal(stopSignalName('9'), '9');
});

test('log limit: runtime.log_size_max when set; otherwise none for a log kubelet rotates and 64 MiB for one nobody rotates', () => {
  assert.equal(logLimit('/var/log/pods/x/c/0.log', -1), -1);
  assert.equal(logLimit('', -1), 64 * 1024 * 1024);
  assert.equal(logLimit('', 0), 64 * 1024 * 1024);
  assert.equal(logLimit('/var/log/pods/x/c/0.log', 1 << 20), 1 << 20);
  assert.equal(logLimit('', 1 << 20), 1 << 20);
});
