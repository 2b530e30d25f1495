import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomInt } from 'node:crypto';
import { huffmanCode, huffmanDecode } from './huffman.js';
import { HpackReader, HpackError, encodeRawString, encodeLiteral } from './hpack.js';
import { RequestAuthorityRewriter, anyAuthorityConnection, acceptableAuthority } from './authority.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** Huffman-encodes with the table under test (for round trips). */
function huffmanEncode(input: Buffer): Buffer {
  let acc = 0n;
  let bits = 0;
  for (const b of input) {
    const [code, len] = huffmanCode(b);
    acc = (acc << BigInt(len)) | BigInt(code);
    bits += len;
  }
  const pad = (8 - (bits % 8)) % 8;
  acc = (acc << BigInt(pad)) | ((1n << BigInt(pad)) - 1n);
  bits += pad;
  const out = Buffer.alloc(bits / 8);
  for (let i = out.length - 1; i >= 0; i--) {
    out[i] = Number(acc & 0xffn);
    acc >>= 8n;
  }
  return out;
}

test('huffman: RFC 7541 C.4 vectors decode, every octet round-trips, bad padding and EOS are refused', () => {
  assert.equal(huffmanDecode(hex('f1e3 c2e5 f23a 6ba0 ab90 f4ff'))?.toString(), 'www.example.com');
  assert.equal(huffmanDecode(hex('a8eb 1064 9cbf'))?.toString(), 'no-cache');
  assert.equal(huffmanDecode(hex('25a8 49e9 5ba9 7d7f'))?.toString(), 'custom-key');
  assert.equal(huffmanCode(256)[0], 0x3fffffff, 'EOS is thirty ones');
  const all = Buffer.from([...Array(256).keys()]);
  assert.deepEqual(huffmanDecode(huffmanEncode(all)), all);
  for (let i = 0; i < 200; i++) {
    const s = randomBytes(randomInt(0, 40));
    assert.deepEqual(huffmanDecode(huffmanEncode(s)), s);
  }
  assert.equal(huffmanDecode(hex('f1e3 c2e5 f23a 6ba0 ab90 f4fe')), undefined, 'padding with a zero bit');
  assert.equal(huffmanDecode(Buffer.from([0xff, 0xff, 0xff, 0xff])), undefined, 'EOS inside the string');
  assert.equal(huffmanDecode(Buffer.from([0x1f, 0xff])), undefined, 'more than 7 bits of padding');
});

test('hpack: RFC 7541 C.3 and C.4 request sequences decode with the dynamic table in step', () => {
  for (const [label, blocks] of [
    ['C.3 (raw strings)', [
      '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
      '8286 84be 5808 6e6f 2d63 6163 6865',
      '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
    ]],
    ['C.4 (Huffman)', [
      '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
      '8286 84be 5886 a8eb 1064 9cbf',
      '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
    ]],
  ] as const) {
    const r = new HpackReader();
    const first = r.read(hex(blocks[0]));
    assert.deepEqual(first.map((f) => f.name), [':method', ':scheme', ':path', ':authority'], label);
    assert.equal(first[3]!.value.toString(), 'www.example.com');
    const second = r.read(hex(blocks[1]));
    assert.deepEqual(second.map((f) => f.name), [':method', ':scheme', ':path', ':authority', 'cache-control'], label);
    assert.equal(second[3]!.value.toString(), 'www.example.com', 'authority from the dynamic table');
    const third = r.read(hex(blocks[2]));
    assert.deepEqual(third.map((f) => f.name), [':method', ':scheme', ':path', ':authority', 'custom-key'], label);
    assert.equal(third[4]!.value.toString(), 'custom-value');
  }
  assert.throws(() => new HpackReader().read(hex('be')), HpackError, 'index beyond an empty table');
  assert.throws(() => new HpackReader().read(hex('41 0f77 77')), HpackError, 'truncated string');
  assert.deepEqual(encodeRawString(Buffer.alloc(200, 0x61)).subarray(0, 3), Buffer.from([0x7f, 0x49, 0x61]));
  // Literals written back decode to the same fields and leave the table alone.
  const fields = [
    { name: ':authority', value: Buffer.from('x'), neverIndexed: false },
    { name: 'x-secret', value: Buffer.alloc(300, 0x62), neverIndexed: true },
  ];
  const reader = new HpackReader();
  const again = reader.read(Buffer.concat(fields.map(encodeLiteral)));
  assert.deepEqual(again, fields);
  assert.throws(() => reader.read(hex('be')), HpackError, 'nothing was indexed');
});

test('hpack: a size update evicts, and an entry bigger than the table empties it', () => {
  const r = new HpackReader();
  // two incremental literals with new names: a: (1+1+32=34), b: same
  r.read(Buffer.concat([hex('40'), encodeRawString(Buffer.from('a')), encodeRawString(Buffer.from('1'))]));
  r.read(Buffer.concat([hex('40'), encodeRawString(Buffer.from('b')), encodeRawString(Buffer.from('2'))]));
  assert.deepEqual(r.read(hex('be bf')).map((f) => f.name), ['b', 'a']);
  // size update to 34 bytes keeps only the newest entry
  assert.deepEqual(r.read(hex('3f03 be')).map((f) => f.name), ['b']);
  assert.throws(() => r.read(hex('bf')), HpackError);
  // 40 bytes > 34: everything goes, nothing is added
  r.read(Buffer.concat([hex('40'), encodeRawString(Buffer.from('c')), encodeRawString(Buffer.alloc(7, 0x78))]));
  assert.throws(() => r.read(hex('be')), HpackError);
});

/** What the server should see for an authority the client sent. */
function expectedAuthority(sent: string): string {
  if (sent === '') return 'localhost';
  return [...Buffer.from(sent)].map((o) => (/[A-Za-z0-9\-._~!$&'()*+,;=:@[\]%]/.test(String.fromCharCode(o)) ? String.fromCharCode(o) : `%${o.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}

test('authority: octets outside RFC 3986 authority characters are percent-encoded, empty becomes localhost', () => {
  assert.equal(acceptableAuthority(Buffer.from('localhost')), undefined);
  assert.equal(acceptableAuthority(Buffer.from('%2Frun%2Fberth.sock')), undefined);
  assert.equal(acceptableAuthority(Buffer.from('[::1]:10010')), undefined);
  assert.equal(acceptableAuthority(Buffer.from(''))?.toString(), 'localhost');
  assert.equal(acceptableAuthority(Buffer.from('/run/berth/berth.sock'))?.toString(), '%2Frun%2Fberth%2Fberth.sock');
  assert.equal(acceptableAuthority(Buffer.from('a b\u00e9'))?.toString(), 'a%20b%C3%A9');
});

/** One HEADERS frame (stream 1, END_HEADERS and `flags`) around a block. */
function headersFrame(block: Buffer, flags = 0x5, stream = 1): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(block.length, 0, 3);
  h[3] = 0x1;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, block]);
}

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

test('rewriter: byte-at-a-time input, a request without authority, CONTINUATION and padding', () => {
  const lit = (name: string, value: string): Buffer => Buffer.concat([hex('00'), encodeRawString(Buffer.from(name)), encodeRawString(Buffer.from(value))]);
  // :method POST, :scheme http, :path /x — no authority at all
  const noAuthority = Buffer.concat([hex('83 86'), hex('04'), encodeRawString(Buffer.from('/x'))]);
  const pathAuthority = Buffer.concat([hex('83 86 41'), encodeRawString(Buffer.from('/run/berth/berth.sock')), lit('x-a', 'b')]);
  const data = Buffer.concat([hex('000003 00 01 00000001'), Buffer.from('abc')]);
  // the same block split over HEADERS (padded, 3 octets of padding) + CONTINUATION
  const split = pathAuthority.subarray(0, 5);
  const padded = Buffer.concat([hex('03'), split, Buffer.alloc(3)]);
  const cont = Buffer.concat([Buffer.from([0, 0, pathAuthority.length - 5, 0x9, 0x4, 0, 0, 0, 3]), pathAuthority.subarray(5)]);
  const input = Buffer.concat([
    PREFACE, headersFrame(noAuthority, 0x4), data, headersFrame(padded, 0x8, 3), cont,
  ]);
  const rw = new RequestAuthorityRewriter();
  const out = Buffer.concat([...input].flatMap((b) => rw.push(Buffer.from([b]))));
  // A block after the first change is written anew even when it needs none.
  
  assert.equal(rw.rewritten, 2);
  // Read back what the server gets.
  assert.deepEqual(out.subarray(0, PREFACE.length), PREFACE);
  let pos = PREFACE.length;
  const reader = new HpackReader();
  const requests: Record<string, string>[] = [];
  let pending: Buffer[] = [];
  while (pos < out.length) {
    const len = out.readUIntBE(pos, 3);
    const type = out[pos + 3]!;
    const flags = out[pos + 4]!;
    const payload = out.subarray(pos + 9, pos + 9 + len);
    pos += 9 + len;
    if (type === 0x0) {
      assert.equal(payload.toString(), 'abc');
      continue;
    }
    assert.equal(flags & 0x8, 0, 'no padding in rewritten frames');
    pending.push(payload);
    if (flags & 0x4) {
      const fields = reader.read(Buffer.concat(pending));
      pending = [];
      requests.push(Object.fromEntries(fields.map((f) => [f.name, f.value.toString()])));
    }
  }
  assert.equal(requests.length, 2);
  assert.equal(requests[0]![':authority'], 'localhost');
  assert.equal(requests[0]![':path'], '/x');
  assert.equal(requests[1]![':authority'], '%2Frun%2Fberth%2Fberth.sock');
  assert.equal(requests[1]!['x-a'], 'b');
});

test('rewriter: what is not HTTP/2, or a malformed block, passes unchanged', () => {
  const rw = new RequestAuthorityRewriter();
  const junk = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.deepEqual(Buffer.concat(rw.push(junk)), junk);
  const rw2 = new RequestAuthorityRewriter();
  const bad = Buffer.concat([PREFACE, headersFrame(hex('bf'))]);
  assert.deepEqual(Buffer.concat(rw2.push(bad)), bad);
  const after = headersFrame(Buffer.concat([hex('83 41'), encodeRawString(Buffer.from('/a'))]));
  assert.deepEqual(Buffer.concat(rw2.push(after)), after, 'once lost, the stream is no longer touched');
});

interface Echo {
  server: http2.Http2Server;
  net: Server;
  socket: string;
  dir: string;
  close(): Promise<void>;
}

/** A plain Node HTTP/2 server echoing request headers as JSON, on a unix socket, with or without the layer. */
async function echoServer(withLayer: boolean): Promise<Echo> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-h2-'));
  const socket = join(dir, 's.sock');
  const server = http2.createServer();
  server.on('stream', (stream: http2.ServerHttp2Stream, headers) => {
    stream.respond({ ':status': 200 });
    stream.end(JSON.stringify(headers));
  });
  const sockets = new Set<Socket>();
  const net = createServer((s) => {
    sockets.add(s);
    server.emit('connection', withLayer ? anyAuthorityConnection(s) : s);
  });
  await new Promise<void>((r) => net.listen(socket, r));
  return {
    server, net, socket, dir,
    async close() {
      const closed = new Promise<void>((r) => net.close(() => r()));
      server.close();
      for (const s of sockets) s.destroy();
      await closed;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders): Promise<{ status?: number; body: string; error?: string }> {
  return new Promise((resolve) => {
    const req = session.request(headers);
    let body = '';
    let status: number | undefined;
    req.on('response', (h) => (status = h[':status'] as number));
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => resolve({ status, body }));
    req.on('error', (e: Error) => resolve({ body, error: e.message }));
    req.end();
  });
}

test('through Node\'s own HTTP/2 stack: a path authority is refused bare and accepted through the layer, with the dynamic table in step over many requests', async () => {
  const bare = await echoServer(false);
  const layered = await echoServer(true);
  try {
    const s1 = http2.connect('http://localhost', { createConnection: () => connect(bare.socket) });
    const refused = await request(s1, { ':path': '/x', ':authority': '/run/berth/berth.sock' });
    assert.match(refused.error ?? '', /PROTOCOL_ERROR|RST_STREAM|code 1/i, 'Node\'s server resets a request whose authority holds "/"');
    s1.close();

    const authorities = ['/run/berth/berth.sock', 'localhost', '', '%2Frun%2Fberth%2Fberth.sock', 'a b', '/var/run/x.sock'];
    // Headers big enough to be indexed and evicted many times over: the
    // server decodes every request correctly only if the layer's table copy
    // matches the encoder's at each step. The second connection starts with
    // acceptable authorities (blocks pass unchanged) and switches later.
    for (const clean of [0, 60]) {
      const s = http2.connect('http://localhost', { createConnection: () => connect(layered.socket) });
      for (let i = 0; i < 240; i++) {
        const authority = i < clean ? 'localhost' : authorities[i % authorities.length]!;
        const pad = randomBytes(randomInt(1, 400)).toString('base64');
        const res = await request(s, { ':path': `/m/${i}`, ':authority': authority, 'x-pad': pad, 'x-same': 'constant value' });
        assert.equal(res.error, undefined, `request ${i} (${JSON.stringify(authority)}): ${res.error ?? ''}`);
        const seen = JSON.parse(res.body) as Record<string, string>;
        assert.equal(seen[':path'], `/m/${i}`);
        assert.equal(seen['x-pad'], pad);
        assert.equal(seen['x-same'], 'constant value');
        assert.equal(seen[':authority'], expectedAuthority(authority));
      }
      s.close();
    }
    const s2 = http2.connect('http://localhost', { createConnection: () => connect(layered.socket) });
    // Concurrent requests with request bodies (DATA frames pass through).
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => request(s2, { ':path': `/c/${i}`, ':authority': '/run/x.sock', ':method': 'POST' })));
    assert.ok(results.every((r) => r.status === 200 && !r.error));
    s2.close();
  } finally {
    await bare.close();
    await layered.close();
  }
});
