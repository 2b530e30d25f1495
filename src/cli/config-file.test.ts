import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toMessageShape, readMessageFile } from './config-file.js';

test('crictl snake_case configs become camelCase messages; map keys are kept verbatim', () => {
  const msg = toMessageShape('PodSandboxConfig', {
    metadata: { name: 'web', namespace: 'default', uid: 'u1', attempt: 1 },
    log_directory: '/tmp/logs',
    labels: { 'app.kubernetes.io/name': 'web', some_label: 'x' },
    linux: { security_context: { namespace_options: { network: 2 } }, sysctls: { 'net.core.somaxconn': '1024' } },
    port_mappings: [{ container_port: 80, host_port: 8080 }],
  });
  assert.deepEqual(msg, {
    metadata: { name: 'web', namespace: 'default', uid: 'u1', attempt: 1 },
    logDirectory: '/tmp/logs',
    labels: { 'app.kubernetes.io/name': 'web', some_label: 'x' },
    linux: { securityContext: { namespaceOptions: { network: 2 } }, sysctls: { 'net.core.somaxconn': '1024' } },
    portMappings: [{ containerPort: 80, hostPort: 8080 }],
  });
});

test('unknown fields are reported with the message type', () => {
  assert.throws(() => toMessageShape('ContainerConfig', { imagee: {} }), /unknown field "imagee" in ContainerConfig/);
});

test('YAML and JSON files both load', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-cf-'));
  try {
    writeFileSync(join(dir, 'c.yaml'), 'metadata:\n  name: sleeper\nimage:\n  image: busybox\ncommand: [sleep, "60"]\n');
    writeFileSync(join(dir, 'c.json'), JSON.stringify({ metadata: { name: 'sleeper' }, image: { image: 'busybox' }, command: ['sleep', '60'] }));
    const a = readMessageFile(join(dir, 'c.yaml'), 'ContainerConfig');
    const b = readMessageFile(join(dir, 'c.json'), 'ContainerConfig');
    assert.deepEqual(a, b);
    assert.deepEqual(a.command, ['sleep', '60']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
