// Protocol-level tests of the SPDY/3.1 framing and session, built from the
// spec (draft-mbelshe-httpbis-spdy-00 and the 3.1 flow-control changes).
// The peer side is driven with raw frames and an independent zlib context.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import zlib from 'node:zlib';
import { once } from 'node:events';
import { SPDY3_DICTIONARY } from './dictionary.js';
import {
  decodeHeaderBlock, encodeFrame, encodeHeaderBlock, FrameDecoder, RstStatus, Setting, SpdyProtocolError,
  type Frame,
} from './frames.js';
import { HeaderCompressor, HeaderDecompressor } from './zlib.js';
import { SpdySession, SpdyStream } from './session.js';

function adler32(b: Buffer): number {
  let a = 1;
  let s = 0;
  for (const x of b) {
    a = (a + x) % 65521;
    s = (s + a) % 65521;
  }
  return ((s << 16) | a) >>> 0;
}

test('dictionary is the spec\'s 1423 bytes (adler32 0xe3c6a7c2)', () => {
  assert.equal(SPDY3_DICTIONARY.length, 1423);
  assert.equal(adler32(SPDY3_DICTIONARY), 0xe3c6a7c2);
  assert.equal(SPDY3_DICTIONARY.subarray(0, 11).toString('latin1'), '\0\0\0\x07options');
  assert.equal(SPDY3_DICTIONARY.subarray(-7).toString('latin1'), ',enq=0.');
});

test('control frame header layout: C bit, version 3, type, flags, 24-bit length', () => {
  const b = encodeFrame({ type: 'ping', id: 0x01020304 });
  assert.deepEqual([...b], [0x80, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 1, 2, 3, 4]);
  const d = encodeFrame({ type: 'data', streamId: 5, fin: true, data: Buffer.from('ab') });
  assert.deepEqual([...d], [0, 0, 0, 5, 0x01, 0, 0, 2, 0x61, 0x62]);
  const w = encodeFrame({ type: 'window_update', streamId: 0, delta: 0x7fffffff });
  assert.deepEqual([...w.subarray(0, 8)], [0x80, 3, 0, 9, 0, 0, 0, 8]);
  assert.equal(w.readUInt32BE(12), 0x7fffffff);
  const syn = encodeFrame({ type: 'syn_stream', streamId: 1, associatedId: 0, priority: 7, slot: 0, fin: true, unidirectional: true, headerBlock: Buffer.alloc(0) });
  assert.equal(syn[4], 0x03);
  assert.equal(syn[16], 0xe0);
});

test('every frame type round-trips through encode and the incremental decoder', () => {
  const frames: Frame[] = [
    { type: 'data', streamId: 1, fin: false, data: Buffer.from('hello') },
    { type: 'data', streamId: 0x7fffffff, fin: true, data: Buffer.alloc(0) },
    { type: 'syn_stream', streamId: 3, associatedId: 1, priority: 3, slot: 2, fin: false, unidirectional: true, headerBlock: Buffer.from([1, 2, 3]) },
    { type: 'syn_reply', streamId: 3, fin: true, headerBlock: Buffer.from([9]) },
    { type: 'rst_stream', streamId: 3, status: RstStatus.CANCEL },
    { type: 'settings', clear: true, entries: [{ id: Setting.INITIAL_WINDOW_SIZE, value: 1 << 20, flags: 1 }, { id: Setting.MAX_CONCURRENT_STREAMS, value: 100, flags: 0 }] },
    { type: 'ping', id: 7 },
    { type: 'goaway', lastGoodStreamId: 9, status: 2 },
    { type: 'headers', streamId: 5, fin: false, headerBlock: Buffer.from('x') },
    { type: 'window_update', streamId: 5, delta: 1000 },
    { type: 'unknown', frameType: 10, flags: 0, payload: Buffer.from('cred') },
  ];
  const wire = Buffer.concat(frames.map(encodeFrame));
  // Byte by byte: no frame may come out before it is whole.
  const dec = new FrameDecoder();
  const out: Frame[] = [];
  for (const byte of wire) out.push(...dec.push(Buffer.from([byte])));
  assert.deepEqual(out, frames);
  assert.equal(dec.pending, 0);
});

test('malformed frames are protocol errors', () => {
  const bad = (b: Buffer, re: RegExp): void => assert.throws(() => new FrameDecoder().push(b), (e: unknown) => e instanceof SpdyProtocolError && re.test(e.message));
  const v2 = encodeFrame({ type: 'ping', id: 1 });
  v2[1] = 2;
  bad(v2, /version 2/);
  const shortRst = encodeFrame({ type: 'unknown', frameType: 3, flags: 0, payload: Buffer.alloc(4) });
  bad(shortRst, /RST_STREAM/);
  const zeroDelta = encodeFrame({ type: 'unknown', frameType: 9, flags: 0, payload: Buffer.from([0, 0, 0, 1, 0, 0, 0, 0]) });
  bad(zeroDelta, /delta of 0/);
  const settings = encodeFrame({ type: 'unknown', frameType: 4, flags: 0, payload: Buffer.from([0, 0, 0, 2, 0, 0, 0, 7, 0, 0, 0, 1]) });
  bad(settings, /cannot hold 2/);
  assert.throws(() => new FrameDecoder(100).push(encodeFrame({ type: 'data', streamId: 1, fin: false, data: Buffer.alloc(101) })),
    (e: unknown) => e instanceof SpdyProtocolError && e.status === RstStatus.FRAME_TOO_LARGE && e.streamId === 1);
});

test('header blocks: layout, lower-case names, NUL-joined values, duplicates refused', () => {
  const raw = encodeHeaderBlock({ streamType: 'error', port: '80\x0081' });
  assert.equal(raw.readUInt32BE(0), 2);
  assert.equal(raw.readUInt32BE(4), 10);
  assert.equal(raw.subarray(8, 18).toString(), 'streamtype');
  assert.deepEqual(decodeHeaderBlock(raw), { streamtype: 'error', port: '80\x0081' });
  const upper = Buffer.concat([Buffer.from([0, 0, 0, 1, 0, 0, 0, 1]), Buffer.from('A'), Buffer.from([0, 0, 0, 0])]);
  assert.throws(() => decodeHeaderBlock(upper), /lower case/);
  const dup = Buffer.concat([Buffer.from([0, 0, 0, 2]), ...[0, 1].map(() => Buffer.concat([Buffer.from([0, 0, 0, 1]), Buffer.from('a'), Buffer.from([0, 0, 0, 0])]))]);
  assert.throws(() => decodeHeaderBlock(dup), /duplicate/);
  assert.throws(() => decodeHeaderBlock(Buffer.from([0, 0, 0, 1, 0, 0, 0, 9])), /truncated/);
});

test('header compression: one zlib context per direction, primed with the dictionary, sync-flushed', () => {
  const c = new HeaderCompressor();
  const first = c.compress({ streamtype: 'stdout', version: 'HTTP/1.1' });
  // zlib header with FDICT set and the dictionary's adler32 (RFC 1950).
  assert.equal(first[0]! & 0x0f, 8);
  assert.equal((first[1]! & 0x20) !== 0, true);
  assert.equal(first.readUInt32BE(2), 0xe3c6a7c2);
  // Sync flush ends every block with an empty stored block.
  assert.deepEqual([...first.subarray(-4)], [0, 0, 0xff, 0xff]);
  // An independent inflater can read the first block alone.
  const raw = zlib.inflateSync(first, { dictionary: SPDY3_DICTIONARY, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  assert.deepEqual(decodeHeaderBlock(raw), { streamtype: 'stdout', version: 'HTTP/1.1' });
  // Later blocks depend on the shared context: they shrink, and only the same
  // context inflates them.
  const second = c.compress({ streamtype: 'stdout', version: 'HTTP/1.1' });
  assert.ok(second.length < first.length);
  const d = new HeaderDecompressor();
  assert.deepEqual(d.decompress(first), { streamtype: 'stdout', version: 'HTTP/1.1' });
  assert.deepEqual(d.decompress(second), { streamtype: 'stdout', version: 'HTTP/1.1' });
  assert.throws(() => new HeaderDecompressor().decompress(Buffer.from('garbage!')), SpdyProtocolError);
  c.close();
  d.close();
});

// ---- sessions: a server session against a raw peer on a loopback socket ----

interface RawPeer {
  sock: net.Socket;
  send(f: Frame): void;
  syn(id: number, headers: Record<string, string>, fin?: boolean): void;
  next(pred?: (f: Frame) => boolean): Promise<Frame>;
  headers(block: Buffer): Record<string, string>;
}

async function pair(): Promise<{ server: SpdySession; peer: RawPeer; close(): void }> {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as net.AddressInfo;
  const accepted = once(srv, 'connection');
  const sock = net.connect(port, '127.0.0.1');
  const [conn] = (await accepted) as [net.Socket];
  const server = new SpdySession(conn, { isServer: true });
  // The peer's own contexts, independent of the session's.
  const deflate = new HeaderCompressor();
  const inflate = new HeaderDecompressor();
  const dec = new FrameDecoder();
  const frames: Frame[] = [];
  const waiters: (() => void)[] = [];
  sock.on('data', (d: Buffer) => {
    frames.push(...dec.push(d));
    waiters.splice(0).forEach((w) => w());
  });
  const peer: RawPeer = {
    sock,
    send: (f) => sock.write(encodeFrame(f)),
    syn: (id, headers, fin = false) => peer.send({
      type: 'syn_stream', streamId: id, associatedId: 0, priority: 0, slot: 0, fin, unidirectional: false,
      headerBlock: deflate.compress(headers),
    }),
    async next(pred = () => true) {
      for (;;) {
        const i = frames.findIndex(pred);
        if (i >= 0) return frames.splice(i, 1)[0]!;
        await new Promise<void>((r) => waiters.push(r));
      }
    },
    headers: (block) => inflate.decompress(block),
  };
  return {
    server, peer,
    close() {
      sock.destroy();
      server.destroy();
      srv.close();
    },
  };
}

test('session: SYN_STREAM opens a stream with its headers; SYN_REPLY, data both ways, FIN closes it', async () => {
  const { server, peer, close } = await pair();
  const got = once(server, 'stream') as Promise<[SpdyStream]>;
  peer.syn(1, { streamtype: 'stdin', port: '80' });
  const [s] = await got;
  assert.equal(s.id, 1);
  assert.deepEqual(s.headers, { streamtype: 'stdin', port: '80' });
  s.reply();
  const reply = await peer.next((f) => f.type === 'syn_reply');
  assert.equal(reply.type === 'syn_reply' && reply.streamId, 1);
  assert.deepEqual(reply.type === 'syn_reply' && peer.headers(reply.headerBlock), {});
  peer.send({ type: 'data', streamId: 1, fin: true, data: Buffer.from('ping') });
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  await once(s, 'end');
  assert.equal(Buffer.concat(chunks).toString(), 'ping');
  s.end('pong');
  const data = await peer.next((f) => f.type === 'data');
  assert.deepEqual(data, { type: 'data', streamId: 1, fin: false, data: Buffer.from('pong') });
  const fin = await peer.next((f) => f.type === 'data');
  assert.deepEqual(fin, { type: 'data', streamId: 1, fin: true, data: Buffer.alloc(0) });
  assert.equal(server.streams.size, 0);
  close();
});

test('session: PING from the peer is echoed; our PINGs use even ids and resolve on the echo', async () => {
  const { server, peer, close } = await pair();
  peer.send({ type: 'ping', id: 1 });
  assert.deepEqual(await peer.next(), { type: 'ping', id: 1 });
  const rtt = server.ping();
  const p = await peer.next();
  assert.equal(p.type === 'ping' && p.id % 2, 0);
  peer.send(p);
  assert.ok((await rtt) >= 0);
  close();
});

test('session: stream ids must be odd and increasing; a decreasing id is a session error (GOAWAY)', async () => {
  const { server, peer, close } = await pair();
  peer.syn(5, { a: 'b' });
  await once(server, 'stream');
  const errors: Error[] = [];
  server.on('error', (e: Error) => errors.push(e));
  const closed = new Promise((r) => server.once('close', r));
  peer.syn(3, { a: 'b' });
  const g = await peer.next((f) => f.type === 'goaway');
  assert.deepEqual(g, { type: 'goaway', lastGoodStreamId: 5, status: 1 });
  await closed;
  assert.match(errors[0]?.message ?? '', /out of order/);
  close();
});

test('session: RST_STREAM from the peer ends the stream; data for an unknown stream gets INVALID_STREAM', async () => {
  const { server, peer, close } = await pair();
  peer.syn(1, {});
  const [s] = (await once(server, 'stream')) as [SpdyStream];
  const reset = once(s, 'reset');
  peer.send({ type: 'rst_stream', streamId: 1, status: RstStatus.CANCEL });
  assert.deepEqual(await reset, [RstStatus.CANCEL]);
  assert.equal(server.streams.size, 0);
  peer.send({ type: 'data', streamId: 99, fin: false, data: Buffer.from('x') });
  assert.deepEqual(await peer.next(), { type: 'rst_stream', streamId: 99, status: RstStatus.INVALID_STREAM });
  close();
});

test('session: GOAWAY from us refuses new streams; GOAWAY from the peer closes once streams are done', async () => {
  const { server, peer, close } = await pair();
  peer.syn(1, {});
  const [s] = (await once(server, 'stream')) as [SpdyStream];
  server.goAway();
  assert.deepEqual(await peer.next(), { type: 'goaway', lastGoodStreamId: 1, status: 0 });
  peer.syn(3, {});
  assert.deepEqual(await peer.next(), { type: 'rst_stream', streamId: 3, status: RstStatus.REFUSED_STREAM });
  peer.send({ type: 'goaway', lastGoodStreamId: 0, status: 0 });
  const closed = once(peer.sock, 'end');
  s.reply();
  s.end();
  peer.send({ type: 'data', streamId: 1, fin: true, data: Buffer.alloc(0) });
  await closed;
  close();
});

test('flow control: once the peer takes part, sending stops at the window and resumes on WINDOW_UPDATE', async () => {
  const { server, peer, close } = await pair();
  peer.send({ type: 'settings', clear: false, entries: [{ id: Setting.INITIAL_WINDOW_SIZE, value: 1000, flags: 0 }] });
  peer.syn(1, {});
  const [s] = (await once(server, 'stream')) as [SpdyStream];
  assert.equal(server.peerFlowControl, true);
  s.reply();
  let written = false;
  s.write(Buffer.alloc(2500, 1), () => (written = true));
  let got = 0;
  const take = async (): Promise<void> => {
    const f = await peer.next((x) => x.type === 'data');
    if (f.type === 'data') got += f.data.length;
  };
  await take();
  assert.equal(got, 1000);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(written, false);
  assert.equal(s.sendWindow, 0);
  peer.send({ type: 'window_update', streamId: 1, delta: 1000 });
  await take();
  assert.equal(got, 2000);
  peer.send({ type: 'window_update', streamId: 1, delta: 5000 });
  await take();
  assert.equal(got, 2500);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(written, true);
  // The session window (3.1, stream 0) limits too: 64 KiB minus what was sent.
  assert.equal(server.sessionSendWindow, 65536 - 2500);
  close();
});

test('flow control: the session window blocks all streams until a stream-0 WINDOW_UPDATE', async () => {
  const { server, peer, close } = await pair();
  peer.send({ type: 'settings', clear: false, entries: [{ id: Setting.INITIAL_WINDOW_SIZE, value: 1 << 20, flags: 0 }] });
  peer.syn(1, {});
  const [s] = (await once(server, 'stream')) as [SpdyStream];
  s.write(Buffer.alloc(70_000));
  let got = 0;
  while (got < 65536) {
    const f = await peer.next((x) => x.type === 'data');
    if (f.type === 'data') got += f.data.length;
  }
  assert.equal(got, 65536);
  assert.equal(server.sessionSendWindow, 0);
  peer.send({ type: 'window_update', streamId: 0, delta: 10_000 });
  const f = await peer.next((x) => x.type === 'data');
  assert.equal(f.type === 'data' && f.data.length, 70_000 - 65536);
  close();
});

test('flow control: received data is acknowledged with WINDOW_UPDATE for the stream and the session as it is read', async () => {
  const { server, peer, close } = await pair();
  peer.send({ type: 'window_update', streamId: 0, delta: 1 });
  peer.syn(1, {});
  const [s] = (await once(server, 'stream')) as [SpdyStream];
  s.reply();
  s.resume();
  peer.send({ type: 'data', streamId: 1, fin: false, data: Buffer.alloc(40_000) });
  const w1 = await peer.next((f) => f.type === 'window_update' && f.streamId === 1);
  const w0 = await peer.next((f) => f.type === 'window_update' && f.streamId === 0);
  assert.equal(w1.type === 'window_update' && w1.delta, 40_000);
  assert.equal(w0.type === 'window_update' && w0.delta, 40_000);
  // Overrunning the window is a stream error.
  peer.send({ type: 'data', streamId: 1, fin: false, data: Buffer.alloc(65_537) });
  assert.deepEqual(await peer.next((f) => f.type === 'rst_stream'), { type: 'rst_stream', streamId: 1, status: RstStatus.FLOW_CONTROL_ERROR });
  close();
});

test('flow control: a peer that never takes part (spdystream) is neither held to nor holding windows', async () => {
  const { server, peer, close } = await pair();
  peer.syn(1, {});
  const [s] = (await once(server, 'stream')) as [SpdyStream];
  s.reply();
  s.end(Buffer.alloc(200_000, 7));
  let got = 0;
  for (;;) {
    const f = await peer.next((x) => x.type === 'data');
    if (f.type !== 'data') continue;
    got += f.data.length;
    if (f.fin) break;
  }
  assert.equal(got, 200_000);
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  peer.send({ type: 'data', streamId: 1, fin: true, data: Buffer.alloc(100_000) });
  await once(s, 'end');
  assert.equal(Buffer.concat(chunks).length, 100_000);
  assert.equal(server.destroyed, false);
  close();
});

test('SETTINGS INITIAL_WINDOW_SIZE changes the windows of open streams by the difference', async () => {
  const { server, peer, close } = await pair();
  peer.syn(1, {});
  const [s] = (await once(server, 'stream')) as [SpdyStream];
  assert.equal(s.sendWindow, 65536);
  peer.send({ type: 'settings', clear: false, entries: [{ id: Setting.INITIAL_WINDOW_SIZE, value: 1024, flags: 0 }] });
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(s.sendWindow, 1024);
  close();
});
