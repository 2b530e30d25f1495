import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadCri } from '../cri/load.js';
import { BerthError } from '../util/errors.js';
import { MAX_TIMER_SECONDS } from '../util/timers.js';
import { argv, cidr, enumValue, id, int, str, stringMap, timeoutSeconds } from './validate.js';
import { linuxResources } from './resources.js';
import { criStopSignal, stopSignal } from './signals.js';
import { sandboxConfig } from './sandbox_common.js';
import { containerConfig } from './container_common.js';

const refused = (field: string) => (e: unknown): boolean => e instanceof BerthError && e.kind === 'InvalidArgument' && e.message.includes(field);

/** A request as the server's loader hands it to a handler: through the wire format, defaults filled in. */
function decoded<T>(method: string, req: object): T {
  const m = loadCri().runtimeService[method]!;
  return m.requestDeserialize(m.requestSerialize(req) as Buffer) as T;
}

test('timeouts: negative refused, past a timer\'s range none (ExecSync) or the longest a timer waits (StopContainer)', () => {
  assert.equal(timeoutSeconds('timeout', '0', 'none'), 0);
  assert.equal(timeoutSeconds('timeout', '30', 'clamp'), 30);
  assert.equal(timeoutSeconds('timeout', String(MAX_TIMER_SECONDS + 1), 'none'), 0);
  assert.equal(timeoutSeconds('timeout', '9223372036854775807', 'clamp'), MAX_TIMER_SECONDS);
  assert.ok(MAX_TIMER_SECONDS * 1000 <= 2 ** 31 - 1);
  assert.throws(() => timeoutSeconds('timeout', '-1', 'none'), refused('timeout'));
});

test('strings, IDs, integers, enums, CIDRs and maps', () => {
  assert.throws(() => str('f', 'a\0b'), refused('f'));
  assert.throws(() => str('f', 'a\nb', { printable: true }), refused('f'));
  assert.throws(() => str('f', 'é'.repeat(200)), /longer than 256 bytes/);
  assert.throws(() => id('container_id', 'A'.repeat(64)), refused('container_id'));
  assert.equal(id('container_id', 'abc'), 'abc');
  assert.throws(() => int('n', '99999999999999999999'), refused('n'));
  assert.throws(() => enumValue('state', 99, ['A', 'B']), (e: Error) => refused('state')(e) && /99 is not one of A, B/.test(e.message));
  for (const ok of ['10.0.0.0/8', '::/0', 'fd00::/64', '10.0.0.0/32']) assert.equal(cidr('c', ok), ok);
  for (const bad of ['10.0.0.0/33', '::/129', '10.0.0.0', 'a/8', '10.0.0.0/8/8']) assert.throws(() => cidr('c', bad), refused('c'), bad);
  assert.throws(() => stringMap('labels', Object.fromEntries(Array.from({ length: 1025 }, (_, i) => [`k${i}`, '']))), refused('labels'));
  assert.throws(() => argv('cmd', ['x', 'a'.repeat(128 * 1024)]), refused('cmd[1]'));
});

test('resources: kernel bounds, cpusets within NR_CPUS and MAX_NUMNODES', () => {
  const r = (linux: object) => linuxResources(decoded<{ linux: never }>('UpdateContainerResources', { linux }).linux, 'linux');
  assert.equal(r({ cpuQuota: '-1', cpusetCpus: '0-3,8', cpusetMems: '0' })!.cpuQuota, -1);
  for (const [bad, field] of [[{ cpuQuota: '-5' }, 'cpu_quota'], [{ cpuQuota: '999' }, 'cpu_quota'], [{ cpusetMems: '0-99999' }, 'cpuset_mems'],
    [{ cpusetCpus: '4-2' }, 'cpuset_cpus'], [{ cpusetCpus: '0-8192' }, 'cpuset_cpus'], [{ memoryLimitInBytes: '1024' }, 'memory_limit_in_bytes']] as const) {
    assert.throws(() => r(bad), refused(`linux.${field}`), JSON.stringify(bad));
  }
});

test('stop signals: every enum value maps to what runc takes and back; real-time ones by number', () => {
  assert.equal(stopSignal('s', 'SIGNAL_RUNTIME_DEFAULT'), '');
  assert.equal(stopSignal('s', 'SIGNAL_SIGTERM'), 'SIGTERM');
  assert.equal(stopSignal('s', 'SIGNAL_SIGCLD'), 'SIGCHLD');
  assert.equal(stopSignal('s', 'SIGNAL_SIGRTMINPLUS3'), '37');
  assert.equal(stopSignal('s', 'SIGNAL_SIGRTMAXMINUS1'), '63');
  assert.equal(criStopSignal('37'), 'SIGNAL_SIGRTMINPLUS3');
  assert.equal(criStopSignal('SIGTERM'), 'SIGNAL_SIGTERM');
  assert.equal(criStopSignal('SIGRTMIN+3'), 'SIGNAL_RUNTIME_DEFAULT');
  assert.throws(() => stopSignal('config.stop_signal', 999), refused('config.stop_signal'));
});

test('pod and container configs as the loader delivers them: valid ones pass whole, unknown enum numbers are refused', () => {
  const pod = decoded<{ config: never }>('RunPodSandbox', {
    config: {
      metadata: { name: 'web-0', namespace: 'default', uid: '0f6b5d9e-1a2b-4c3d-8e9f-001122334455' }, hostname: 'web-0', logDirectory: '/var/log/pods/x',
      dnsConfig: { servers: ['10.96.0.10'], searches: ['default.svc.cluster.local'], options: ['ndots:5'] },
      portMappings: [{ protocol: 'UDP', containerPort: 53, hostPort: 5353, hostIp: '127.0.0.1' }],
      linux: { cgroupParent: '/kubepods/pod1', sysctls: { 'net.ipv4.conf.eth0/100.forwarding': '1' }, securityContext: { namespaceOptions: { pid: 'CONTAINER' } } },
    },
  }).config;
  const sb = sandboxConfig(pod);
  assert.equal(sb.portMappings[0]!.protocol, 'UDP');
  assert.equal(sb.namespaces.pid, 'CONTAINER');
  const ctr = decoded<{ config: never }>('CreateContainer', {
    config: {
      metadata: { name: 'c' }, image: { image: 'registry.k8s.io/pause:3.9' }, envs: [{ key: 'A', value: Buffer.from('b') }], workingDir: '/w',
      mounts: [{ containerPath: '/data', hostPath: '/srv', propagation: 'PROPAGATION_HOST_TO_CONTAINER' }], stopSignal: 'SIGNAL_SIGINT',
      linux: { securityContext: { capabilities: { addCapabilities: ['NET_ADMIN'], dropCapabilities: ['ALL'] }, maskedPaths: ['/proc/kcore'] } },
    },
  }).config;
  const c = containerConfig(ctr);
  assert.equal(c.mounts[0]!.propagation, 'rslave');
  assert.equal(c.stopSignal, 'SIGINT');
  assert.throws(() => containerConfig(decoded<{ config: never }>('CreateContainer', { config: { ...ctr as object, stopSignal: 999 } }).config), refused('config.stop_signal'));
});
