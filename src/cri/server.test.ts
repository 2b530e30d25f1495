import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { spawn } from 'node:child_process';
import { CriServer } from './server.js';
import { CriClient, type CallError } from '../cli/client.js';
import { Writable } from 'node:stream';
import { createLogger, silentLogger } from '../log/logger.js';
import { MAX_DETAILS } from './status.js';
import { invalidArgument } from '../util/errors.js';

function dir(): string {
  return mkdtempSync(join(tmpdir(), 'berth-srv-'));
}

test('edge: routes handlers, answers UNIMPLEMENTED by name, maps domain errors', async () => {
  const d = dir();
  const socket = join(d, 'sub', 'cri.sock');
  const seen: string[] = [];
  const server = await CriServer.start({
    socketPath: socket, socketMode: 0o660, maxMessageBytes: 16 << 20, log: silentLogger(),
    observe: (m, code) => seen.push(`${m} ${code}`),
    handlers: {
      unary: {
        Version: async () => ({ runtimeName: 'x' }),
        RemoveContainer: async () => {
          throw invalidArgument('container_id: must not be empty');
        },
      },
      stream: {},
    },
  });
  const client = new CriClient(`unix://${socket}`);
  try {
    assert.equal(statSync(socket).mode & 0o777, 0o660);
    const v = await client.call<{ runtimeName: string }>('Version', {});
    assert.equal(v.runtimeName, 'x');
    await assert.rejects(client.call('CheckpointPod', {}), (e: CallError) => {
      assert.equal(e.code, 12);
      assert.match(e.details, /RuntimeService\/CheckpointPod is not implemented/);
      return true;
    });
    await assert.rejects(client.stream('StreamImages', {}), (e: CallError) => e.code === 12 && /StreamImages/.test(e.details));
    await assert.rejects(client.call('RemoveContainer', {}), (e: CallError) => e.code === 3 && /container_id/.test(e.details));
    assert.deepEqual(seen.slice(0, 2), ['RuntimeService/Version OK', 'RuntimeService/CheckpointPod UNIMPLEMENTED']);
  } finally {
    client.close();
    await server.shutdown(1000);
    rmSync(d, { recursive: true, force: true });
  }
  assert.equal(existsSync(socket), false, 'socket removed on shutdown');
});

test('edge: graceful shutdown lets an in-flight call finish and refuses new ones', async () => {
  const d = dir();
  const socket = join(d, 'cri.sock');
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let entered!: () => void;
  const inside = new Promise<void>((r) => (entered = r));
  const server = await CriServer.start({
    socketPath: socket, socketMode: 0o660, maxMessageBytes: 16 << 20, log: silentLogger(),
    handlers: {
      unary: {
        Version: async () => {
          entered();
          await gate;
          return { runtimeName: 'slow' };
        },
      },
      stream: {},
    },
  });
  const client = new CriClient(`unix://${socket}`);
  try {
    const inflight = client.call<{ runtimeName: string }>('Version', {});
    await inside;
    const closing = server.shutdown(10_000);
    // A fresh client cannot start a call on a shutting-down server.
    const late = new CriClient(`unix://${socket}`, 2000);
    await assert.rejects(late.call('Version', {}));
    late.close();
    release();
    assert.equal((await inflight).runtimeName, 'slow');
    await closing;
  } finally {
    client.close();
    rmSync(d, { recursive: true, force: true });
  }
});

test('edge: a stale socket is replaced, a live one refused', async () => {
  const d = dir();
  const socket = join(d, 'cri.sock');
  // a live listener on the path
  const live = createServer();
  await new Promise<void>((r) => live.listen(socket, r));
  await assert.rejects(
    CriServer.start({ socketPath: socket, socketMode: 0o660, maxMessageBytes: 16 << 20, log: silentLogger(), handlers: { unary: {}, stream: {} } }),
    /already serving/,
  );
  await new Promise<void>((r) => live.close(() => r()));
  // A crashed daemon leaves its socket file behind: listen in a child and SIGKILL it.
  const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(socket)}, () => console.log('up'))`]);
  await new Promise<void>((r) => child.stdout.once('data', () => r()));
  child.kill('SIGKILL');
  await new Promise<void>((r) => child.once('exit', () => r()));
  assert.ok(existsSync(socket));
  const server = await CriServer.start({
    socketPath: socket, socketMode: 0o660, maxMessageBytes: 16 << 20, log: silentLogger(), handlers: { unary: { Version: async () => ({}) }, stream: {} },
  });
  const client = new CriClient(`unix://${socket}`);
  await client.call('Version', {});
  client.close();
  await server.shutdown(1000);
  rmSync(d, { recursive: true, force: true });
});

test('edge: any :authority works for unary and streaming calls (kubelet-era grpc-go sends the socket path); message limits still hold', async () => {
  const d = dir();
  const socket = join(d, 'cri.sock');
  const server = await CriServer.start({
    socketPath: socket, socketMode: 0o660, maxMessageBytes: 1 << 20, log: silentLogger(),
    handlers: {
      unary: { Version: async () => ({ runtimeName: 'x' }), RemoveImage: async () => ({}) },
      stream: { StreamImages: async (_req, send) => { for (let i = 0; i < 3; i++) await send({ images: [{ id: `i${i}` }] }); } },
    },
  });
  try {
    for (const authority of [socket, '/run/berth/berth.sock', 'localhost', '', '%2Frun%2Fberth%2Fberth.sock', 'a b']) {
      const client = new CriClient(`unix://${socket}`, 5000, authority);
      try {
        for (let i = 0; i < 3; i++) assert.equal((await client.call<{ runtimeName: string }>('Version', {})).runtimeName, 'x', `authority ${JSON.stringify(authority)}`);
        const msgs = await client.stream<{ images: { id: string }[] }>('StreamImages', {});
        assert.deepEqual(msgs.map((m) => m.images[0]!.id), ['i0', 'i1', 'i2']);
        await assert.rejects(client.call('RemoveImage', { image: { image: 'x'.repeat(2 << 20) } }), (e: CallError) => e.code === 8, 'a message over the limit is RESOURCE_EXHAUSTED');
      } finally {
        client.close();
      }
    }
  } finally {
    await server.shutdown(1000);
    rmSync(d, { recursive: true, force: true });
  }
});

test('edge: a handler bug answers INTERNAL (never UNKNOWN) with its stack logged and counted; long messages are cut short and the connection keeps working', async () => {
  const d = dir();
  const socket = join(d, 'cri.sock');
  const lines: string[] = [];
  const sink = new Writable({ write(chunk, _enc, cb) { lines.push(chunk.toString()); cb(); } });
  const seen: [string, string, boolean][] = [];
  const huge = 'z'.repeat(256 * 1024);
  const server = await CriServer.start({
    socketPath: socket, socketMode: 0o660, maxMessageBytes: 16 << 20, log: createLogger('info', sink),
    observe: (m, code, _s, unexpected) => seen.push([m, code, unexpected]),
    handlers: {
      unary: {
        // What `undefined.replace` in a converter looks like.
        StartContainer: async (req: { containerId: string }) => (req as unknown as { nope: { x: () => void } }).nope.x(),
        // A domain error quoting a whole request value, and a thrown non-Error.
        ContainerStatus: async (req: { containerId: string }) => { throw invalidArgument(`container_id "${req.containerId}" is bad`); },
        RemoveContainer: async () => { throw 'a string'; },
        Version: async () => ({ runtimeName: 'x' }),
      },
      stream: { StreamContainers: async () => { throw new TypeError('stream bug'); } },
    },
  });
  const client = new CriClient(`unix://${socket}`);
  try {
    await assert.rejects(client.call('StartContainer', { containerId: huge }), (e: CallError) => e.code === 13 && /internal error: Cannot read properties of undefined/.test(e.details));
    await assert.rejects(client.call('RemoveContainer', {}), (e: CallError) => e.code === 13 && /a string/.test(e.details));
    await assert.rejects(client.stream('StreamContainers', {}), (e: CallError) => e.code === 13 && /stream bug/.test(e.details));
    await assert.rejects(client.call('ContainerStatus', { containerId: huge }), (e: CallError) => {
      assert.equal(e.code, 3);
      assert.ok(e.details.length <= MAX_DETAILS + 64, `${e.details.length} characters`);
      assert.match(e.details, /…\(\d+ bytes\)$/);
      return true;
    });
    assert.equal((await client.call<{ runtimeName: string }>('Version', {})).runtimeName, 'x', 'the same connection still answers');
    assert.deepEqual(seen.filter(([, , u]) => u).map(([m, c]) => `${m} ${c}`),
      ['RuntimeService/StartContainer INTERNAL', 'RuntimeService/RemoveContainer INTERNAL', 'RuntimeService/StreamContainers INTERNAL']);
    const logged = lines.join('');
    assert.match(logged, /"stack":"TypeError: Cannot read properties of undefined.*"msg":"cri call failed: unexpected error in handler"/);
    assert.ok(!logged.includes('z'.repeat(5000)), 'the request value is not logged in full');
  } finally {
    client.close();
    await server.shutdown(1000);
    rmSync(d, { recursive: true, force: true });
  }
});
