import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as protoLoader from '@grpc/proto-loader';
import * as grpc from '@grpc/grpc-js';
import { LOADER_OPTIONS, servedRuntimeService } from './load.js';
import { protoPath } from './proto-path.js';
import { criContainerStats, criSandboxStats } from '../server/stats_common.js';
import type { Container } from '../container/types.js';
import type { Sandbox } from '../sandbox/types.js';

test('stats responses encoded directly decode to what proto-loader\'s encoding decodes to', () => {
  const plain = grpc.loadPackageDefinition(protoLoader.loadSync(protoPath, LOADER_OPTIONS)) as unknown as {
    runtime: { v1: { RuntimeService: grpc.ServiceClientConstructor } };
  };
  const reference = plain.runtime.v1.RuntimeService.service;
  const direct = servedRuntimeService();
  const at = 1_733_000_000_123_456_000;
  const container = { id: 'c'.repeat(64), config: { name: 'app', attempt: 2, labels: { a: 'b' }, annotations: { 'x/y': 'z' } } } as unknown as Container;
  const sandbox = { id: 'p'.repeat(64), config: { metadata: { name: 'pod', uid: 'u1', namespace: 'ns', attempt: 1 }, labels: { app: 'x' }, annotations: {} } } as unknown as Sandbox;
  const cstats = criContainerStats({
    container,
    cpu: { atNs: at, usageCoreNs: 2 ** 40 + 7, nanoCores: 1234 },
    memory: { atNs: at, usageBytes: 5e9, workingSetBytes: 4e9, rssBytes: 3e9, pageFaults: 10, majorPageFaults: 0 },
    writableLayer: { atNs: at, mountpoint: '/var/lib/berth', usedBytes: 4096, inodesUsed: 3 },
  });
  const pstats = criSandboxStats({
    sandbox,
    cpu: { atNs: at, usageCoreNs: 99 },
    memory: { atNs: at, usageBytes: 1, workingSetBytes: 1, rssBytes: 1, pageFaults: 1, majorPageFaults: 1, availableBytes: 7 },
    network: { atNs: at, interfaces: [{ name: 'eth0', rxBytes: 1, rxErrors: 0, txBytes: 2 ** 33, txErrors: 1 }], defaultInterface: { name: 'eth0', rxBytes: 1, rxErrors: 0, txBytes: 2 ** 33, txErrors: 1 } },
    processCount: { atNs: at, count: 3 },
    containers: [{ container }],
  });
  const cases: [string, object][] = [
    ['ListPodSandboxStats', { stats: [pstats, pstats] }],
    ['PodSandboxStats', { stats: pstats }],
    ['StreamPodSandboxStats', { podSandboxStats: [pstats] }],
    ['ListContainerStats', { stats: [cstats] }],
    ['ContainerStats', { stats: cstats }],
    ['StreamContainerStats', { containerStats: [cstats] }],
  ];
  for (const [method, msg] of cases) {
    assert.notEqual(direct[method]!.responseSerialize, reference[method]!.responseSerialize, `${method} is encoded directly`);
    const a = direct[method]!.responseSerialize(msg);
    const b = reference[method]!.responseSerialize(msg);
    assert.ok(a.length > 20);
    // Not always the same bytes: a wrapper holding 0 is written empty
    // instead of with an explicit 0, which proto3 reads as the same value.
    const decode = reference[method]!.responseDeserialize;
    assert.deepEqual(decode(a), decode(b), method);
  }
});
