// Registry access paths: an htpasswd registry over TLS with a test CA
// (per-registry ca_file), credentials from the request and from config, and
// mirrors tried before the upstream, and a server standing in for a registry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startRegistry } from '../helpers/registry.js';
import { pushBusybox } from '../helpers/images.js';
import { startDaemon } from '../helpers/daemon.js';
import { CallError } from '../../src/cli/client.js';

async function failure(p: Promise<unknown>): Promise<CallError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof CallError, String(err));
    return err;
  }
  assert.fail('call succeeded');
}

test('auth registry over TLS: CA from config, right and wrong credentials', async () => {
  const reg = await startRegistry({ auth: { username: 'alice', password: 's3cret' } });
  const img = await pushBusybox(reg);
  const d = await startDaemon({ toml: `[registries."${reg.host}"]\nca_file = "${reg.caFile}"\n` });
  // A second daemon trusts the CA and holds the credentials itself.
  const d2 = await startDaemon({ toml: `[registries."${reg.host}"]\nca_file = "${reg.caFile}"\nusername = "alice"\npassword = "s3cret"\n` });
  const noCa = await startDaemon({ toml: `[registries."${reg.host}"]\ninsecure = false\ncert_file = ""\n` });
  try {
    let e = await failure(d.client.call('PullImage', { image: { image: img.ref } }));
    assert.equal(e.code, 16 /* UNAUTHENTICATED */);
    assert.match(e.details, new RegExp(`registry ${reg.host}: .*401`));
    e = await failure(d.client.call('PullImage', { image: { image: img.ref }, auth: { username: 'alice', password: 'wrong' } }));
    assert.equal(e.code, 16);
    assert.match(e.details, new RegExp(`registry ${reg.host}: .*401`));
    const ok = await d.client.call<{ imageRef: string }>('PullImage', { image: { image: img.ref }, auth: { username: 'alice', password: 's3cret' } });
    assert.equal(ok.imageRef, img.configDigest);
    const viaAuthField = await d.client.call<{ imageRef: string }>('PullImage', {
      image: { image: `${reg.host}/test/busybox@${img.digest}` }, auth: { auth: Buffer.from('alice:s3cret').toString('base64') },
    });
    assert.equal(viaAuthField.imageRef, img.configDigest);
    const fromConfig = await d2.client.call<{ imageRef: string }>('PullImage', { image: { image: img.ref } });
    assert.equal(fromConfig.imageRef, img.configDigest);
    // Without the CA the local TLS registry is spoken to in plain HTTP and fails.
    e = await failure(noCa.client.call('PullImage', { image: { image: img.ref }, auth: { username: 'alice', password: 's3cret' } }));
    assert.match(e.details, new RegExp(`registry ${reg.host}: `));
  } finally {
    for (const x of [d, d2, noCa]) {
      await x.stop();
      x.cleanup();
    }
    await reg.stop();
  }
});

test('mirrors are tried in order before the upstream registry', async () => {
  const mirror = await startRegistry();
  const upstream = await startRegistry();
  const img = await pushBusybox(mirror);
  // The upstream has nothing under that name and the first mirror is down.
  const toml = `[registries."${upstream.host}"]\nmirrors = ["http://127.0.0.1:1", "http://${mirror.host}"]\n`;
  const d = await startDaemon({ toml: `[image]\nretries = 0\n${toml}` });
  try {
    const res = await d.client.call<{ imageRef: string }>('PullImage', { image: { image: `${upstream.host}/test/busybox:latest` } });
    assert.equal(res.imageRef, img.configDigest);
    const st = await d.client.call<{ image: { repoTags: string[] } }>('ImageStatus', { image: { image: `${upstream.host}/test/busybox` } });
    assert.deepEqual(st.image.repoTags, [`${upstream.host}/test/busybox:latest`]);
    // An image on no endpoint: the upstream's answer is reported.
    const e = await failure(d.client.call('PullImage', { image: { image: `${upstream.host}/test/none:latest` } }));
    assert.equal(e.code, 5);
    assert.match(e.details, new RegExp(`registry ${upstream.host}: http://${upstream.host}/v2/test/none/manifests/latest: 404`));
  } finally {
    await d.stop();
    d.cleanup();
    await mirror.stop();
    await upstream.stop();
  }
});

test('a registry\'s `server` replaces its own host: pulls go there, and never to the registry itself', async () => {
  const server = await startRegistry();
  const own = await startRegistry();
  const img = await pushBusybox(server);
  await pushBusybox(own);
  // registry.k8s.io is never contacted (tests talk to loopback only); `own`
  // has the image too, and must not be asked when its server is down.
  const toml = `[image]\nretries = 0\n[registries."registry.k8s.io"]\nserver = "${server.url}"\n[registries."${own.host}"]\nserver = "http://127.0.0.1:1"\n`;
  const d = await startDaemon({ toml });
  try {
    const res = await d.client.call<{ imageRef: string }>('PullImage', { image: { image: 'registry.k8s.io/test/busybox:latest' } });
    assert.equal(res.imageRef, img.configDigest);
    const st = await d.client.call<{ image: { repoTags: string[] } }>('ImageStatus', { image: { image: 'registry.k8s.io/test/busybox:latest' } });
    assert.deepEqual(st.image.repoTags, ['registry.k8s.io/test/busybox:latest']);
    const e = await failure(d.client.call('PullImage', { image: { image: `${own.host}/test/busybox:latest` } }));
    assert.match(e.details, /127\.0\.0\.1:1/, 'the configured server, not the registry\'s own host, was tried');
  } finally {
    await d.stop();
    d.cleanup();
    await server.stop();
    await own.stop();
  }
});

test('token auth (Bearer realm/service/scope): anonymous refused, credentials get a token', async () => {
  const reg = await startRegistry({ token: { username: 'bob', password: 'pw' } });
  const d = await startDaemon();
  try {
    const img = await pushBusybox(reg);
    const before = reg.tokenRequests!();
    let e = await failure(d.client.call('PullImage', { image: { image: img.ref } }));
    assert.equal(e.code, 16);
    assert.match(e.details, new RegExp(`registry ${reg.host}: .*401`));
    e = await failure(d.client.call('PullImage', { image: { image: img.ref }, auth: { username: 'bob', password: 'nope' } }));
    assert.equal(e.code, 16);
    assert.match(e.details, /authentication failed: token service .* answered 401/);
    const ok = await d.client.call<{ imageRef: string }>('PullImage', { image: { image: img.ref }, auth: { username: 'bob', password: 'pw' } });
    assert.equal(ok.imageRef, img.configDigest);
    assert.ok(reg.tokenRequests!() > before, 'the token server was asked');
  } finally {
    await d.stop();
    d.cleanup();
    await reg.stop();
  }
});
