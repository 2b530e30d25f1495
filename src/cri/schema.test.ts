// Wire-format contract tests for the CRI v1 schema (src/cri/proto/api.proto).
//
// Field numbers and wire types are the contract with the kubelet, so the
// expected encodings below were worked out by hand from the schema, never
// produced by the encoder under test:
//   tag    = (field_number << 3) | wire_type
//   wire 0 = varint (ints, bools, enums), wire 2 = length-delimited
//            (strings, bytes, sub-messages, map entries, repeated strings)
//   a map<string,string> entry is a sub-message { key = 1; value = 2; }
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import protobuf from 'protobufjs';

import { protoPath } from './proto-path.js';

function loadRoot(): protobuf.Root {
  const root = new protobuf.Root();
  root.loadSync(protoPath, { keepCase: true });
  root.resolveAll();
  return root;
}

const root = loadRoot();

function type(name: string): protobuf.Type {
  return root.lookupType(`runtime.v1.${name}`);
}

// fromObject accepts enum names and decimal strings for 64-bit fields; a
// misspelt field would be dropped silently and show up as a byte mismatch.
function encode(name: string, value: Record<string, unknown>): Buffer {
  const t = type(name);
  return Buffer.from(t.encode(t.fromObject(value)).finish());
}

/** Joins hex fragments; whitespace inside fragments is ignored. */
function hex(parts: string[]): Buffer {
  return Buffer.from(parts.join('').replace(/\s+/g, ''), 'hex');
}

describe('CRI v1 schema: wire encoding', () => {
  it('encodes PodSandboxConfig', () => {
    const actual = encode('PodSandboxConfig', {
      metadata: { name: 'nginx', uid: 'u1', namespace: 'default', attempt: 1 },
      hostname: 'web',
      log_directory: '/logs',
      labels: { app: 'web' },
    });
    const expected = hex([
      '0a 16', //                  1 metadata (1<<3|2), 22 bytes
      '  0a 05 6e67696e78', //       1 name = "nginx" (1<<3|2)
      '  12 02 7531', //             2 uid = "u1" (2<<3|2)
      '  1a 07 64656661756c74', //   3 namespace = "default" (3<<3|2)
      '  20 01', //                  4 attempt = 1 (4<<3|0)
      '12 03 776562', //           2 hostname = "web" (2<<3|2)
      '1a 05 2f6c6f6773', //       3 log_directory = "/logs" (3<<3|2)
      '32 0a', //                  6 labels entry (6<<3|2), 10 bytes
      '  0a 03 617070', //           key = "app" (1<<3|2)
      '  12 03 776562', //           value = "web" (2<<3|2)
    ]);
    assert.equal(actual.toString('hex'), expected.toString('hex'));
  });

  it('encodes ContainerConfig with a mount and a Linux security context', () => {
    const actual = encode('ContainerConfig', {
      metadata: { name: 'app', attempt: 2 },
      image: { image: 'busybox' },
      command: ['sh', '-c'],
      mounts: [
        {
          container_path: '/data',
          host_path: '/srv',
          readonly: true,
          // "rshared"; the enum has no PROPAGATION_RSHARED member.
          propagation: 'PROPAGATION_BIDIRECTIONAL',
        },
      ],
      linux: {
        security_context: {
          capabilities: { add_capabilities: ['NET_ADMIN'] },
          run_as_user: { value: 1000 },
          readonly_rootfs: true,
        },
      },
    });
    const expected = hex([
      '0a 07', //                      1 metadata (1<<3|2), 7 bytes
      '  0a 03 617070', //               1 name = "app"
      '  10 02', //                      2 attempt = 2 (2<<3|0)
      '12 09', //                      2 image: ImageSpec (2<<3|2), 9 bytes
      '  0a 07 62757379626f78', //       1 image = "busybox"
      '1a 02 7368', //                 3 command[0] = "sh" (3<<3|2)
      '1a 02 2d63', //                 3 command[1] = "-c"
      '3a 11', //                      7 mounts[0] (7<<3|2), 17 bytes
      '  0a 05 2f64617461', //           1 container_path = "/data"
      '  12 04 2f737276', //             2 host_path = "/srv"
      '  18 01', //                      3 readonly = true (3<<3|0)
      '  28 02', //                      5 propagation = BIDIRECTIONAL(2) (5<<3|0)
      '7a 16', //                      15 linux (15<<3|2 = 122), 22 bytes
      '  12 14', //                      2 security_context (2<<3|2), 20 bytes
      '    0a 0b', //                      1 capabilities (1<<3|2), 11 bytes
      '      0a 09 4e45545f41444d494e', //   1 add_capabilities[0] = "NET_ADMIN"
      '    2a 03', //                      5 run_as_user: Int64Value (5<<3|2), 3 bytes
      '      08 e807', //                    1 value = 1000 (varint e8 07)
      '    38 01', //                      7 readonly_rootfs = true (7<<3|0)
    ]);
    assert.equal(actual.toString('hex'), expected.toString('hex'));
  });

  it('encodes ListContainersResponse with a running container', () => {
    const actual = encode('ListContainersResponse', {
      containers: [
        {
          id: 'c1',
          pod_sandbox_id: 'p1',
          metadata: { name: 'app' },
          state: 'CONTAINER_RUNNING',
          created_at: '1700000000000000000',
        },
      ],
    });
    const expected = hex([
      '0a 1b', //                      1 containers[0] (1<<3|2), 27 bytes
      '  0a 02 6331', //                 1 id = "c1"
      '  12 02 7031', //                 2 pod_sandbox_id = "p1"
      '  1a 05', //                      3 metadata (3<<3|2), 5 bytes
      '    0a 03 617070', //               1 name = "app"
      '  30 01', //                      6 state = CONTAINER_RUNNING(1) (6<<3|0)
      // 7 created_at (7<<3|0); 1700000000000000000 = 0x17979cfe362a0000,
      // split into 7-bit groups, least significant first.
      '  38 8080a8b1e39fe7cb17',
    ]);
    assert.equal(actual.toString('hex'), expected.toString('hex'));

    // The hand-written bytes decode back to the same values (64-bit intact).
    const t = type('ListContainersResponse');
    const decoded = t.toObject(t.decode(expected), { longs: String, enums: String });
    assert.deepEqual(decoded, {
      containers: [
        {
          id: 'c1',
          pod_sandbox_id: 'p1',
          metadata: { name: 'app' },
          state: 'CONTAINER_RUNNING',
          created_at: '1700000000000000000',
        },
      ],
    });
  });
});

describe('CRI v1 schema: services', () => {
  const runtimeRpcs = [
    'Version',
    'RunPodSandbox',
    'StopPodSandbox',
    'RemovePodSandbox',
    'PodSandboxStatus',
    'ListPodSandbox',
    'StreamPodSandboxes',
    'CreateContainer',
    'StartContainer',
    'StopContainer',
    'RemoveContainer',
    'ListContainers',
    'StreamContainers',
    'ContainerStatus',
    'UpdateContainerResources',
    'ReopenContainerLog',
    'ExecSync',
    'Exec',
    'Attach',
    'PortForward',
    'ContainerStats',
    'ListContainerStats',
    'StreamContainerStats',
    'PodSandboxStats',
    'ListPodSandboxStats',
    'StreamPodSandboxStats',
    'UpdateRuntimeConfig',
    'Status',
    'CheckpointContainer',
    'CheckpointPod',
    'RestorePod',
    'GetContainerEvents',
    'ListMetricDescriptors',
    'ListPodSandboxMetrics',
    'StreamPodSandboxMetrics',
    'RuntimeConfig',
    'UpdatePodSandboxResources',
  ];
  const imageRpcs = [
    'ListImages',
    'StreamImages',
    'ImageStatus',
    'PullImage',
    'RemoveImage',
    'ImageFsInfo',
  ];
  const serverStreaming = new Set([
    'StreamPodSandboxes',
    'StreamContainers',
    'StreamContainerStats',
    'StreamPodSandboxStats',
    'StreamPodSandboxMetrics',
    'GetContainerEvents',
    'StreamImages',
  ]);

  const runtime = root.lookupService('runtime.v1.RuntimeService');
  const image = root.lookupService('runtime.v1.ImageService');

  it('exposes exactly the expected 43 RPCs', () => {
    assert.deepEqual(Object.keys(runtime.methods).sort(), [...runtimeRpcs].sort());
    assert.deepEqual(Object.keys(image.methods).sort(), [...imageRpcs].sort());
    assert.equal(runtime.methodsArray.length + image.methodsArray.length, 43);
  });

  it('marks only the list-streaming RPCs and GetContainerEvents as server-streaming', () => {
    for (const m of [...runtime.methodsArray, ...image.methodsArray]) {
      assert.equal(m.requestStream ?? false, false, `${m.name} request must be unary`);
      assert.equal(m.responseStream ?? false, serverStreaming.has(m.name), `${m.name} responseStream`);
    }
  });

  it('gives streaming list RPCs the unary filter and a repeated item field 1', () => {
    const pairs: Array<[string, string | null, string, string]> = [
      ['StreamContainers', 'ContainerFilter', 'containers', 'Container'],
      ['StreamPodSandboxes', 'PodSandboxFilter', 'pod_sandboxes', 'PodSandbox'],
      ['StreamContainerStats', 'ContainerStatsFilter', 'container_stats', 'ContainerStats'],
      ['StreamPodSandboxStats', 'PodSandboxStatsFilter', 'pod_sandbox_stats', 'PodSandboxStats'],
      ['StreamPodSandboxMetrics', null, 'pod_sandbox_metrics', 'PodSandboxMetrics'],
      ['StreamImages', 'ImageFilter', 'images', 'Image'],
    ];
    for (const [rpc, filter, field, item] of pairs) {
      const req = type(`${rpc}Request`);
      const res = type(`${rpc}Response`);
      if (filter === null) {
        assert.equal(req.fieldsArray.length, 0, `${rpc}Request is empty`);
      } else {
        assert.equal(req.fieldsById[1]?.name, 'filter');
        assert.equal(req.fieldsById[1]?.type, filter);
      }
      const f = res.fieldsById[1];
      assert.ok(f, `${rpc}Response has field 1`);
      assert.equal(f.name, field);
      assert.equal(f.type, item);
      assert.equal(f.repeated, true);
    }
  });
});
