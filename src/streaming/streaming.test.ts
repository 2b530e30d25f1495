// Unit tests of the streaming protocol pieces and of the server with a
// scripted target (real processes are covered by test/integration/streaming).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { connect } from 'node:net';
import { PassThrough, type Duplex } from 'node:stream';
import { TokenStore } from './tokens.js';
import { encodeOutcome, expectedSpdyStreams, protocolVersion, ResizeDecoder, statusObject } from './remotecommand.js';
import { negotiate, WS_COMMAND_PROTOCOLS } from './websocket.js';
import { StreamingServer } from './server.js';
import { SpdySession, type SpdyStream } from './spdy/session.js';
import type { ExecSession, StreamingTarget, TerminalSize } from './target.js';
import { Metrics } from '../metrics/metrics.js';
import { createLogger } from '../log/logger.js';

test('tokens: random, single use, expire', () => {
  let now = 1000;
  const s = new TokenStore(60_000, () => now);
  const a = s.issue({ kind: 'portforward', podSandboxId: 'p', ports: [] });
  const b = s.issue({ kind: 'portforward', podSandboxId: 'p', ports: [] });
  assert.notEqual(a, b);
  assert.match(a, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(s.take(a, 'exec'), undefined, 'a token of another kind is refused');
  assert.equal(s.peek(a)?.kind, 'portforward', 'a look leaves the token');
  assert.equal(s.take(a, 'portforward')?.kind, 'portforward', 'the refused and looked-at token still works for its own kind');
  assert.equal(s.take(a, 'portforward'), undefined);
  now += 60_000;
  assert.equal(s.take(b, 'portforward'), undefined);
  assert.equal(s.size, 0);
  s.close();
});

test('status on the error channel: v4 Status objects, older versions a message or nothing', () => {
  assert.deepEqual(statusObject({ exitCode: 0 }), { metadata: {}, status: 'Success' });
  const f = statusObject({ exitCode: 3, cmd: ['sh', '-c', 'exit 3'] });
  assert.equal(f.status, 'Failure');
  assert.equal(f.reason, 'NonZeroExitCode');
  assert.deepEqual(f.details, { causes: [{ reason: 'ExitCode', message: '3' }] });
  assert.equal(f.message, 'command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3');
  assert.equal(encodeOutcome(1, { exitCode: 0 }), undefined);
  assert.match(encodeOutcome(2, { exitCode: 7 })!.toString(), /exit code 7$/);
  assert.equal(encodeOutcome(3, { error: 'boom' })!.toString(), 'boom');
  assert.equal(JSON.parse(encodeOutcome(4, { error: 'boom' })!.toString()).reason, 'InternalError');
  assert.equal(protocolVersion('channel.k8s.io'), 1);
  assert.equal(protocolVersion('v4.base64.channel.k8s.io'), 4);
});

test('resize messages: JSON objects however they are split or joined; junk dropped', () => {
  const got: TerminalSize[] = [];
  const d = new ResizeDecoder((s) => got.push(s));
  d.push('{"Width":80,"He');
  d.push('ight":24}\n{"Width":100,"Height":40}{"Width":"x"}');
  d.push('garbage{"Width":1,"Height":2,"Extra":{"a":"}"}}');
  assert.deepEqual(got, [{ width: 80, height: 24 }, { width: 100, height: 40 }, { width: 1, height: 2 }]);
});

test('expected SPDY streams follow the request and the protocol version', () => {
  const o = { tty: true, stdin: true, stdout: true, stderr: false };
  assert.deepEqual(expectedSpdyStreams(o, 4), ['error', 'stdin', 'stdout', 'resize']);
  assert.deepEqual(expectedSpdyStreams(o, 2), ['error', 'stdin', 'stdout']);
  assert.deepEqual(expectedSpdyStreams({ tty: false, stdin: false, stdout: true, stderr: true }, 4), ['error', 'stdout', 'stderr']);
});

test('WebSocket negotiation takes the client\'s first supported protocol', () => {
  assert.equal(negotiate(['v9.channel.k8s.io', 'v4.channel.k8s.io', 'v5.channel.k8s.io'], WS_COMMAND_PROTOCOLS), 'v4.channel.k8s.io');
  assert.equal(negotiate(['nope'], WS_COMMAND_PROTOCOLS), undefined);
});

/** A target whose exec echoes stdin upper-cased, reports resizes, and exits with the code in argv. */
function scriptedTarget(log: string[]): StreamingTarget {
  return {
    async exec(_id, cmd, opts): Promise<ExecSession> {
      const stdin = new PassThrough();
      const stdout = new PassThrough();
      let finish: (code: number) => void = () => undefined;
      const exited = new Promise<number>((r) => (finish = r));
      stdin.on('data', (d: Buffer) => stdout.write(d.toString().toUpperCase()));
      stdin.on('end', () => {
        stdout.end();
        finish(Number(cmd[0]));
      });
      if (!opts.stdin) stdin.end();
      return {
        stdin, stdout, exited,
        resize: (s) => log.push(`resize ${s.width}x${s.height}`),
        kill: () => {
          log.push('killed');
          stdout.end();
          finish(137);
        },
      };
    },
    attach: () => Promise.reject(new Error('no attach')),
    portForward: (): Promise<Duplex> => Promise.reject(new Error('no port')),
  };
}

test('server over TLS: SPDY exec with stdin, resize and exit status; token refused the second time', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-tls-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
  const log: string[] = [];
  const server = await StreamingServer.start({
    address: '127.0.0.1', port: 0, tlsCert: cert, tlsKey: key, tokenTtlMs: 60_000, idleTimeoutMs: 0,
    target: scriptedTarget(log), metrics: new Metrics(), log: createLogger('fatal'),
  });
  try {
    const url = server.url({ kind: 'exec', containerId: 'c', cmd: ['3'], tty: true, stdin: true, stdout: true, stderr: false });
    assert.match(url, /^https:\/\/127\.0\.0\.1:\d+\/exec\//);
    const upgrade = async (): Promise<{ status: string; sock: tls.TLSSocket; rest: Buffer }> => {
      const u = new URL(url);
      const sock = tls.connect({ host: u.hostname, port: Number(u.port), rejectUnauthorized: false });
      await new Promise((r) => sock.once('secureConnect', r));
      sock.write(`POST ${u.pathname} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n`);
      let acc: Buffer = Buffer.alloc(0);
      for (;;) {
        const d = await new Promise<Buffer>((r) => sock.once('data', (x: Buffer) => r(x)));
        acc = Buffer.concat([acc, d]);
        const i = acc.indexOf('\r\n\r\n');
        if (i >= 0) return { status: acc.subarray(0, i).toString(), sock, rest: acc.subarray(i + 4) };
      }
    };
    const { status, sock, rest } = await upgrade();
    assert.match(status, /^HTTP\/1\.1 101 Switching Protocols/);
    assert.match(status, /X-Stream-Protocol-Version: v4\.channel\.k8s\.io/);
    const client = new SpdySession(sock, { isServer: false, head: rest });
    const read = (s: SpdyStream): Promise<string> => new Promise((r) => {
      let t = '';
      s.on('data', (d: Buffer) => (t += d.toString()));
      s.on('end', () => r(t));
    });
    const error = client.openStream({ streamtype: 'error' });
    const stdin = client.openStream({ streamtype: 'stdin' });
    const stdout = client.openStream({ streamtype: 'stdout' });
    const resize = client.openStream({ streamtype: 'resize' });
    const errText = read(error);
    const outText = read(stdout);
    resize.write('{"Width":10,"Height":5}');
    stdin.end('hello');
    assert.equal(await outText, 'HELLO');
    const st = JSON.parse(await errText);
    assert.deepEqual(st.details.causes, [{ reason: 'ExitCode', message: '3' }]);
    assert.deepEqual(log, ['resize 10x5']);
    const again = await upgrade().catch((e: Error) => ({ status: e.message, sock: undefined, rest: undefined }));
    assert.match(again.status, /^HTTP\/1\.1 404 Not Found/);
    again.sock?.destroy();
    client.destroy();
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a token presented on another kind\'s path, in a plain GET or with an unknown upgrade is not used up', async () => {
  const server = await StreamingServer.start({
    address: '127.0.0.1', port: 0, tokenTtlMs: 60_000, idleTimeoutMs: 0,
    target: scriptedTarget([]), metrics: new Metrics(), log: createLogger('fatal'),
  });
  const statusOf = async (path: string, headers: string): Promise<string> => {
    const u = new URL(server.address);
    const sock = connect(Number(u.port), u.hostname);
    sock.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n${headers}\r\n`);
    let acc = '';
    for await (const d of sock) {
      acc += (d as Buffer).toString();
      if (acc.includes('\r\n')) break;
    }
    sock.destroy();
    return acc.split('\r\n')[0]!;
  };
  try {
    const exec = new URL(server.url({ kind: 'exec', containerId: 'c', cmd: ['1'], tty: false, stdin: false, stdout: true, stderr: false }));
    const pf = new URL(server.url({ kind: 'portforward', podSandboxId: 'p', ports: [80] }));
    const execToken = exec.pathname.split('/')[2]!;
    const upgrade = 'Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\n';
    assert.match(await statusOf(`/attach/${execToken}`, upgrade), / 404 /);
    assert.match(await statusOf(`/portforward/${execToken}`, upgrade), / 404 /);
    assert.match(await statusOf(pf.pathname, ''), / 400 /);
    assert.match(await statusOf(exec.pathname, 'Connection: Upgrade\r\nUpgrade: h2c\r\n'), / 400 /);
    assert.equal(server.tokens.size, 2, 'both tokens are still there');
    assert.equal(server.tokens.peek(execToken)?.kind, 'exec');
    assert.equal(server.tokens.peek(pf.pathname.split('/')[2]!)?.kind, 'portforward');
  } finally {
    await server.stop();
  }
});
