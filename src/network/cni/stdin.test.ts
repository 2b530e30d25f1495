import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pluginStdin, pluginEnv } from './stdin.js';
import { capabilityArgs, podArgs, parseQuantity, bandwidthFromAnnotations } from './capabilities.js';
import { podIps } from './result.js';
import type { PodNetworkRequest } from '../pod-network.js';
import type { NetConfList } from './types.js';

const req: PodNetworkRequest = {
  sandboxId: 'abc123', name: 'web', namespace: 'default', uid: 'u-1', netnsPath: '/run/berth/sandboxes/abc123/ns/net',
  portMappings: [
    { protocol: 'TCP', containerPort: 80, hostPort: 8080, hostIp: '' },
    { protocol: 'UDP', containerPort: 53, hostPort: 0, hostIp: '' },
  ],
  annotations: { 'kubernetes.io/ingress-bandwidth': '10M', 'kubernetes.io/egress-bandwidth': '1Mi' },
  dns: { servers: ['10.96.0.10'], searches: ['svc'], options: ['ndots:5'] },
};

const list: NetConfList = {
  cniVersion: '1.0.0', name: 'net', disableCheck: false,
  plugins: [{ type: 'bridge' }, { type: 'portmap', capabilities: { portMappings: true, bandwidth: false } }, { type: 'bandwidth', capabilities: { bandwidth: true } }],
};

test('each plugin gets name, cniVersion, prevResult and only the capabilities it declares', () => {
  const caps = capabilityArgs(req);
  const first = pluginStdin(list, list.plugins[0]!, caps);
  assert.deepEqual(first, { type: 'bridge', name: 'net', cniVersion: '1.0.0' });
  const prev = { cniVersion: '1.0.0', ips: [{ address: '10.1.0.2/24' }] };
  const pm = pluginStdin(list, list.plugins[1]!, caps, prev);
  assert.deepEqual(pm.runtimeConfig, { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIP: '' }] });
  assert.deepEqual(pm.prevResult, prev);
  const bw = pluginStdin(list, list.plugins[2]!, caps);
  assert.deepEqual(bw.runtimeConfig, { bandwidth: { ingressRate: 10_000_000, ingressBurst: 2 ** 31 - 1, egressRate: 1_048_576, egressBurst: 2 ** 31 - 1 } });
  assert.deepEqual(caps.dns, { servers: ['10.96.0.10'], searches: ['svc'], options: ['ndots:5'] });
});

test('a plugin config carrying its own runtimeConfig does not leak it when nothing applies', () => {
  const out = pluginStdin(list, { type: 'x', runtimeConfig: { stale: true } }, {});
  assert.equal(out.runtimeConfig, undefined);
});

test('environment: CNI_* parameters with kubelet-style CNI_ARGS', () => {
  const env = pluginEnv('ADD', ['/opt/cni/bin', '/usr/lib/cni'], {
    containerId: req.sandboxId, netns: req.netnsPath, ifName: 'eth0', args: podArgs(req), capabilityArgs: {},
  });
  assert.deepEqual(env, {
    CNI_COMMAND: 'ADD',
    CNI_PATH: '/opt/cni/bin:/usr/lib/cni',
    CNI_CONTAINERID: 'abc123',
    CNI_NETNS: '/run/berth/sandboxes/abc123/ns/net',
    CNI_IFNAME: 'eth0',
    CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=abc123;K8S_POD_UID=u-1',
  });
  assert.deepEqual(pluginEnv('STATUS', ['/x']), { CNI_COMMAND: 'STATUS', CNI_PATH: '/x' });
});

test('quantities and bandwidth annotations', () => {
  assert.equal(parseQuantity('500k'), 500_000);
  assert.equal(parseQuantity('1.5M'), 1_500_000);
  assert.equal(parseQuantity('2Gi'), 2 * 2 ** 30);
  assert.equal(parseQuantity('100'), 100);
  assert.throws(() => parseQuantity('fast'), /not a quantity/);
  assert.throws(() => parseQuantity('10X'), /not a quantity/);
  assert.equal(bandwidthFromAnnotations({}), undefined);
  assert.deepEqual(bandwidthFromAnnotations({ 'kubernetes.io/egress-bandwidth': '1k' }), { egressRate: 1000, egressBurst: 2 ** 31 - 1 });
});

test('pod IPs: sandbox interfaces only, prefix dropped, IPv4 first (0.3.1 and 1.0.0 results)', () => {
  const r1 = {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'cni0' }, { name: 'veth1' }, { name: 'eth0', sandbox: '/run/netns/x' }],
    ips: [{ address: 'fd00::5/64', interface: 2 }, { address: '10.88.0.5/16', gateway: '10.88.0.1', interface: 2 }, { address: '10.88.0.1/16', interface: 0 }],
  };
  assert.deepEqual(podIps(r1), ['10.88.0.5', 'fd00::5']);
  assert.deepEqual(podIps({ cniVersion: '0.3.1', ips: [{ version: '4', address: '10.22.0.9/24' }] }), ['10.22.0.9']);
  assert.deepEqual(podIps(undefined), []);
});
