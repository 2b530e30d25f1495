// berthd exports spans of CRI calls and their slow steps over OTLP/HTTP to a
// receiver on loopback (a small node:http server standing in for a collector).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { podFixture, podConfig } from '../helpers/pods.js';
import { startDaemon } from '../helpers/daemon.js';

interface OtlpSpan { name: string; traceId: string; spanId: string; parentSpanId?: string; attributes: { key: string; value: { stringValue?: string } }[]; status?: { code?: number } }
interface OtlpBody { resourceSpans: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { spans: OtlpSpan[] }[] }[] }

test('spans of CRI calls and of pull, sandbox setup and runtime create/start reach an OTLP/HTTP receiver', async () => {
  const bodies: OtlpBody[] = [];
  const paths: string[] = [];
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      paths.push(`${req.method} ${req.url} ${req.headers['content-type']}`);
      bodies.push(JSON.parse(Buffer.concat(chunks).toString()) as OtlpBody);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  const port = (receiver.address() as AddressInfo).port;
  const fx = await podFixture();
  const d = await startDaemon({ toml: `\n[tracing]\notlp_endpoint = "http://127.0.0.1:${port}"\n\n[runtime]\ncgroup_parent = "/berth-trace${process.pid}"\n` });
  try {
    await d.client.call('Version', {});
    await d.client.call('PullImage', { image: { image: fx.image } }, 60_000);
    const config = podConfig();
    const { podSandboxId } = await d.client.call<{ podSandboxId: string }>('RunPodSandbox', { config });
    const { containerId } = await d.client.call<{ containerId: string }>('CreateContainer', {
      podSandboxId, sandboxConfig: config, config: { metadata: { name: 'c' }, image: { image: fx.image }, command: ['sleep', '100'] },
    });
    await d.client.call('StartContainer', { containerId });
    await assert.rejects(d.client.call('ContainerStatus', { containerId: 'nope' }));
    await d.client.call('RemovePodSandbox', { podSandboxId });
    assert.equal(await d.stop(), 0); // shutdown flushes the batch
  } finally {
    await d.stop();
    d.cleanup();
    await fx.close();
    receiver.close();
  }
  assert.ok(paths.every((p) => p.startsWith('POST /v1/traces application/json')), paths.join('\n'));
  const spans = bodies.flatMap((b) => b.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)));
  const service = bodies[0]?.resourceSpans[0]?.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue;
  assert.equal(service, 'berthd');
  const byName = (n: string): OtlpSpan[] => spans.filter((s) => s.name === n);
  for (const n of ['cri RuntimeService/Version', 'cri ImageService/PullImage', 'image.pull', 'image.layer', 'cri RuntimeService/RunPodSandbox',
    'sandbox.setup', 'cri RuntimeService/CreateContainer', 'runtime.create', 'cri RuntimeService/StartContainer', 'runtime.start']) {
    assert.ok(byName(n).length >= 1, `span ${n} in ${[...new Set(spans.map((s) => s.name))].join(', ')}`);
  }
  // Domain spans are children of their CRI call's span.
  const pull = byName('cri ImageService/PullImage')[0]!;
  const imagePull = byName('image.pull')[0]!;
  assert.equal(imagePull.traceId, pull.traceId);
  assert.equal(imagePull.parentSpanId, pull.spanId);
  const start = byName('cri RuntimeService/StartContainer')[0]!;
  assert.equal(byName('runtime.start')[0]!.parentSpanId, start.spanId);
  const failed = byName('cri RuntimeService/ContainerStatus')[0]!;
  assert.equal(failed.status?.code, 2, 'a failed call is an error span');
  assert.notEqual(failed.attributes.find((a) => a.key === 'rpc.grpc.status_code')?.value.stringValue ?? 'OK', 'OK');
});
