// Exec, Attach and PortForward end to end: CRI call for a URL, then the
// session over SPDY/3.1 and over WebSocket with the test clients in
// test/helpers (written from the protocol specs, not from the server code).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { podSuite, runPod, runContainer, execSync, waitState, startPodDaemon, leftovers, settleZombies, type PodDaemon } from '../helpers/pods.js';
import { startDaemon } from '../helpers/daemon.js';
import { SpdyClient, spdyCommand, type ClientStream } from '../helpers/spdy-client.js';
import { WsChannels, wsCommand } from '../helpers/ws-client.js';

let d: PodDaemon;
let image: string;
podSuite({ toml: '\n[streaming]\ntoken_ttl = 2\nidle_timeout = 4\n' }, (fx, daemon) => {
  d = daemon;
  image = fx.image;
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type Pod = { id: string; config: Record<string, unknown> };
let shared: { pod: Pod; sleeper: string; ticker: string; httpd: string; bigSha: string } | undefined;

/** One pod for the whole file: a sleeper, a ticker printing a line a second, and httpd serving 10 MB. */
async function fixture(): Promise<NonNullable<typeof shared>> {
  if (shared) return shared;
  const pod = await runPod(d);
  const sleeper = await runContainer(d, pod, image, { command: ['sleep', '1000'] });
  const ticker = await runContainer(d, pod, image, {
    command: ['sh', '-c', 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done'],
  });
  const httpd = await runContainer(d, pod, image, { command: ['sh', '-c', 'mkdir -p /www && exec httpd -f -p 8080 -h /www'] });
  const mk = await execSync(d, httpd, ['sh', '-c', 'head -c 10485760 /dev/urandom > /www/big && sha256sum /www/big'], 30);
  assert.equal(mk.exitCode, 0, mk.stderr);
  shared = { pod, sleeper, ticker, httpd, bigSha: mk.stdout.split(' ')[0]! };
  return shared;
}

async function execUrl(containerId: string, cmd: string[], o: { tty?: boolean; stdin?: boolean; stdout?: boolean; stderr?: boolean } = {}): Promise<string> {
  const r = await d.client.call<{ url: string }>('Exec', {
    containerId, cmd, tty: o.tty ?? false, stdin: o.stdin ?? false, stdout: o.stdout ?? true, stderr: o.stderr ?? false,
  });
  return r.url;
}

async function pfUrl(pod: Pod, ports: number[] = []): Promise<string> {
  return (await d.client.call<{ url: string }>('PortForward', { podSandboxId: pod.id, port: ports })).url;
}

function parseStatus(s: string): { status: string; reason?: string; details?: { causes: { reason: string; message: string }[] } } {
  return JSON.parse(s);
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: Error) => e.message.includes(code));
}

// ---- validation, before any URL ----

test('Exec, Attach and PortForward refuse bad requests before handing out a URL', async () => {
  const { pod, sleeper } = await fixture();
  await rejectsWith(d.client.call('Exec', { containerId: 'ab'.repeat(32), cmd: ['true'], stdout: true }), 'NOT_FOUND');
  await rejectsWith(d.client.call('Exec', { containerId: sleeper, cmd: [], stdout: true }), 'INVALID_ARGUMENT');
  await rejectsWith(d.client.call('Exec', { containerId: sleeper, cmd: ['sh'], tty: true, stdout: true, stderr: true }), 'INVALID_ARGUMENT');
  await rejectsWith(d.client.call('Exec', { containerId: sleeper, cmd: ['true'] }), 'INVALID_ARGUMENT');
  await rejectsWith(d.client.call('Attach', { containerId: 'ab'.repeat(32), stdout: true }), 'NOT_FOUND');
  await rejectsWith(d.client.call('Attach', { containerId: sleeper, stdin: true, stdout: true }), 'FAILED_PRECONDITION');
  await rejectsWith(d.client.call('PortForward', { podSandboxId: 'cd'.repeat(32), port: [80] }), 'NOT_FOUND');
  await rejectsWith(d.client.call('PortForward', { podSandboxId: pod.id, port: [70000] }), 'INVALID_ARGUMENT');
  const stopped = await runContainer(d, pod, image, { command: ['true'] });
  await waitState(d, stopped, 'CONTAINER_EXITED');
  await rejectsWith(d.client.call('Exec', { containerId: stopped, cmd: ['true'], stdout: true }), 'FAILED_PRECONDITION');
  await rejectsWith(d.client.call('Attach', { containerId: stopped, stdout: true }), 'FAILED_PRECONDITION');
});

// ---- exec over SPDY ----

test('SPDY exec: echo hi, v4 Success status', async () => {
  const { sleeper } = await fixture();
  const url = await execUrl(sleeper, ['echo', 'hi']);
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/exec\/[A-Za-z0-9_-]{40,}$/);
  const r = await spdyCommand(url, {});
  assert.equal(r.protocol, 'v4.channel.k8s.io');
  assert.equal(r.stdout, 'hi\n');
  assert.deepEqual(parseStatus(r.error).status, 'Success');
});

test('SPDY exec: exit 3 arrives as a v4 Failure status with the exit code; stdout and stderr kept apart', async () => {
  const { sleeper } = await fixture();
  const url = await execUrl(sleeper, ['sh', '-c', 'echo out; echo err >&2; exit 3'], { stderr: true });
  const r = await spdyCommand(url, { stderr: true });
  assert.equal(r.stdout, 'out\n');
  assert.equal(r.stderr, 'err\n');
  const s = parseStatus(r.error);
  assert.equal(s.status, 'Failure');
  assert.equal(s.reason, 'NonZeroExitCode');
  assert.deepEqual(s.details?.causes, [{ reason: 'ExitCode', message: '3' }]);
});

test('SPDY exec: stdin reaches the process and its end closes the process\'s stdin', async () => {
  const { sleeper } = await fixture();
  const url = await execUrl(sleeper, ['sh', '-c', 'cat; echo done'], { stdin: true });
  const input = Buffer.alloc(300_000, 'x');
  const r = await spdyCommand(url, { stdin: input });
  assert.equal(r.stdout, `${input.toString()}done\n`);
});

test('SPDY exec: older protocols (channel.k8s.io) report a failure as a message; a client like spdystream (no flow control) works', async () => {
  const { sleeper } = await fixture();
  const r = await spdyCommand(await execUrl(sleeper, ['sh', '-c', 'exit 3']), { protocols: ['channel.k8s.io'] });
  assert.equal(r.protocol, 'channel.k8s.io');
  assert.match(r.error, /command terminated with non-zero exit code.*exit code 3/);
  const big = await spdyCommand(await execUrl(sleeper, ['head', '-c', '1000000', '/dev/zero']), { flowControl: false });
  assert.equal(big.stdout.length, 1_000_000);
});

/** Sends `stty size` until the answer is `rows cols` (the resize is applied asynchronously). */
async function expectSize(send: () => void, output: () => string, rows: number, cols: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!output().includes(`${rows} ${cols}\r\n`)) {
    if (Date.now() > deadline) assert.fail(`stty size never said "${rows} ${cols}"; output:\n${output()}`);
    send();
    await sleep(200);
  }
}

test('SPDY exec: interactive TTY session with resize; stty size follows the client', async () => {
  const { sleeper } = await fixture();
  const url = await execUrl(sleeper, ['sh'], { tty: true, stdin: true });
  const c = await SpdyClient.connect(url, ['v4.channel.k8s.io']);
  const error = c.open({ streamtype: 'error' });
  const stdin = c.open({ streamtype: 'stdin' });
  const stdout = c.open({ streamtype: 'stdout' });
  const resize = c.open({ streamtype: 'resize' });
  resize.write(JSON.stringify({ Width: 100, Height: 40 }) + '\n');
  await expectSize(() => stdin.write('stty size\n'), () => stdout.text(), 40, 100);
  resize.write(JSON.stringify({ Width: 132, Height: 50 }) + '\n');
  await expectSize(() => stdin.write('stty size\n'), () => stdout.text(), 50, 132);
  stdin.write('exit 5\n');
  await error.done;
  const s = parseStatus(error.text());
  assert.deepEqual(s.details?.causes, [{ reason: 'ExitCode', message: '5' }]);
  c.close();
});

// ---- exec over WebSocket ----

test('WebSocket exec: echo hi and exit 3 (v5 and v4 Status), stdin closed with v5\'s close message', async () => {
  const { sleeper } = await fixture();
  const hi = await wsCommand(await execUrl(sleeper, ['echo', 'hi']), {});
  assert.equal(hi.protocol, 'v5.channel.k8s.io');
  assert.equal(hi.stdout, 'hi\n');
  assert.equal(parseStatus(hi.error).status, 'Success');
  const three = await wsCommand(await execUrl(sleeper, ['sh', '-c', 'echo e >&2; exit 3'], { stderr: true }), { protocols: ['v4.channel.k8s.io'] });
  assert.equal(three.protocol, 'v4.channel.k8s.io');
  assert.equal(three.stderr, 'e\n');
  assert.deepEqual(parseStatus(three.error).details?.causes, [{ reason: 'ExitCode', message: '3' }]);
  const cat = await wsCommand(await execUrl(sleeper, ['cat'], { stdin: true }), { stdin: 'through stdin\n' });
  assert.equal(cat.stdout, 'through stdin\n');
  const b64 = await wsCommand(await execUrl(sleeper, ['sh', '-c', 'printf "\\001\\377"; exit 2']), { protocols: ['v4.base64.channel.k8s.io'] });
  assert.equal(b64.protocol, 'v4.base64.channel.k8s.io');
  assert.deepEqual([...Buffer.from(b64.stdout, 'latin1')].length, 2);
  assert.deepEqual(parseStatus(b64.error).details?.causes, [{ reason: 'ExitCode', message: '2' }]);
});

test('WebSocket exec: TTY with resize on channel 4', async () => {
  const { sleeper } = await fixture();
  const c = await WsChannels.connect(await execUrl(sleeper, ['sh'], { tty: true, stdin: true }), ['v5.channel.k8s.io']);
  c.send(4, JSON.stringify({ Width: 90, Height: 30 }));
  await expectSize(() => c.send(0, 'stty size\n'), () => c.text(1), 30, 90);
  c.send(0, 'exit 0\n');
  await c.closed;
  assert.equal(parseStatus(c.text(3)).status, 'Success');
});

// ---- sessions end their processes ----

async function psHas(container: string, what: string): Promise<boolean> {
  return (await execSync(d, container, ['ps', '-o', 'args'])).stdout.includes(what);
}

test('an exec process does not outlive its session: client gone, or idle past streaming.idle_timeout', async () => {
  const { sleeper } = await fixture();
  const c = await SpdyClient.connect(await execUrl(sleeper, ['sleep', '777'], { stdin: true }), ['v4.channel.k8s.io']);
  c.open({ streamtype: 'error' });
  c.open({ streamtype: 'stdin' });
  c.open({ streamtype: 'stdout' });
  for (let i = 0; i < 50 && !(await psHas(sleeper, 'sleep 777')); i++) await sleep(100);
  assert.ok(await psHas(sleeper, 'sleep 777'));
  c.close();
  for (let i = 0; i < 50 && (await psHas(sleeper, 'sleep 777')); i++) await sleep(100);
  assert.equal(await psHas(sleeper, 'sleep 777'), false);

  // Idle: no byte either way for idle_timeout (4 s) closes the session.
  const ws = await WsChannels.connect(await execUrl(sleeper, ['sleep', '778'], { stdin: true }), ['v5.channel.k8s.io']);
  const t0 = Date.now();
  await ws.closed;
  assert.ok(Date.now() - t0 >= 3500, `closed after ${Date.now() - t0} ms`);
  for (let i = 0; i < 50 && (await psHas(sleeper, 'sleep 778')); i++) await sleep(100);
  assert.equal(await psHas(sleeper, 'sleep 778'), false);
});

test('a berthd killed during an exec session leaves no orphan: the restarted berthd kills the exec process', async () => {
  const d1 = await startPodDaemon(image);
  const pod = await runPod(d1);
  const ctr = await runContainer(d1, pod, image, { command: ['sleep', '1000'] });
  const url = (await d1.client.call<{ url: string }>('Exec', { containerId: ctr, cmd: ['sleep', '779'], stdout: true })).url;
  const c = await SpdyClient.connect(url, ['v4.channel.k8s.io']);
  c.open({ streamtype: 'error' });
  c.open({ streamtype: 'stdout' });
  const has = async (dd: typeof d1): Promise<boolean> => (await execSync(dd, ctr, ['ps', '-o', 'args'])).stdout.includes('sleep 779');
  for (let i = 0; i < 50 && !(await has(d1)); i++) await sleep(100);
  assert.ok(await has(d1));
  await d1.kill();
  c.close();
  const d2 = Object.assign(await startDaemon({ dir: d1.dir }), { cgroupParent: d1.cgroupParent });
  try {
    for (let i = 0; i < 50 && (await has(d2)); i++) await sleep(100);
    assert.equal(await has(d2), false);
    assert.match(await d2.logsMatching(/killed an exec process left by a previous berthd/), /killed an exec process left by a previous berthd/);
  } finally {
    await d2.client.call('RemovePodSandbox', { podSandboxId: pod.id });
    await d2.stop();
    await settleZombies();
    const left = leftovers(d2);
    d2.cleanup();
    assert.deepEqual(left, []);
  }
});

// ---- attach ----

test('attach over SPDY and WebSocket follows a container printing a line a second; detaching leaves it running', async () => {
  const { ticker } = await fixture();
  const url = (await d.client.call<{ url: string }>('Attach', { containerId: ticker, stdout: true, stderr: true })).url;
  const c = await SpdyClient.connect(url, ['v4.channel.k8s.io']);
  c.open({ streamtype: 'error' });
  const out = c.open({ streamtype: 'stdout' });
  c.open({ streamtype: 'stderr' });
  const deadline = Date.now() + 8000;
  while ((out.text().match(/tick \d+\n/g) ?? []).length < 2 && Date.now() < deadline) await sleep(100);
  const ticks = out.text().match(/tick (\d+)\n/g) ?? [];
  assert.ok(ticks.length >= 2, out.text());
  c.close();

  const url2 = (await d.client.call<{ url: string }>('Attach', { containerId: ticker, stdout: true })).url;
  const w = await WsChannels.connect(url2, ['v4.channel.k8s.io']);
  await w.until(() => (w.text(1).match(/tick \d+\n/g) ?? []).length >= 2);
  w.close();
  await sleep(300);
  assert.equal((await waitState(d, ticker, 'CONTAINER_RUNNING')).state, 'CONTAINER_RUNNING');
});

test('attach with stdin: input reaches a container created with stdin open, its echo comes back (SPDY, then WebSocket v5)', async () => {
  const { pod } = await fixture();
  const cat = await runContainer(d, pod, image, { command: ['cat'], stdin: true });
  const c = await SpdyClient.connect((await d.client.call<{ url: string }>('Attach', { containerId: cat, stdin: true, stdout: true })).url, ['v4.channel.k8s.io']);
  c.open({ streamtype: 'error' });
  const stdin = c.open({ streamtype: 'stdin' });
  const out = c.open({ streamtype: 'stdout' });
  await sleep(200);
  stdin.write('over spdy\n');
  for (let i = 0; i < 50 && !out.text().includes('over spdy\n'); i++) await sleep(100);
  assert.match(out.text(), /over spdy\n/);
  c.close();
  const url = (await d.client.call<{ url: string }>('Attach', { containerId: cat, stdin: true, stdout: true, stderr: true })).url;
  const w = await WsChannels.connect(url, ['v5.channel.k8s.io']);
  await sleep(200);
  w.send(0, 'over websocket\n');
  await w.until(() => w.text(1).includes('over websocket\n'));
  w.close();
});

// ---- port-forward ----

const GET = 'GET /big HTTP/1.0\r\nHost: pod\r\n\r\n';

function body(resp: Buffer): Buffer {
  const i = resp.indexOf('\r\n\r\n');
  assert.ok(i > 0, `no HTTP response: ${resp.subarray(0, 200).toString()}`);
  return resp.subarray(i + 4);
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

test('SPDY port-forward: 10 MB intact from httpd in the pod, three connections at once, a closed port reported on the error stream', async () => {
  const { pod, bigSha } = await fixture();
  const c = await SpdyClient.connect(await pfUrl(pod, [8080]), ['portforward.k8s.io']);
  assert.equal(c.protocol, 'portforward.k8s.io');
  const conns: { data: ClientStream; error: ClientStream }[] = [];
  for (let i = 0; i < 3; i++) {
    const error = c.open({ streamtype: 'error', port: '8080', requestid: String(i) });
    const data = c.open({ streamtype: 'data', port: '8080', requestid: String(i) });
    // The request, then our half of the connection closed: the answer must still come whole.
    data.end(GET);
    conns.push({ data, error });
  }
  for (const { data, error } of conns) {
    await data.done;
    assert.equal(data.reset, undefined);
    const b = body(Buffer.concat(data.chunks));
    assert.equal(b.length, 10 * 1024 * 1024);
    assert.equal(sha(b), bigSha);
    await error.done;
    assert.equal(error.text(), '');
  }
  const error = c.open({ streamtype: 'error', port: '9999', requestid: '9' });
  const data = c.open({ streamtype: 'data', port: '9999', requestid: '9' });
  await error.done;
  assert.match(error.text(), /error forwarding port 9999: .*(refused|Connection)/i);
  await data.done;
  c.close();
});

test('SPDY port-forward: upload 10 MB into nc in the pod, closing cleanly both ways', async () => {
  const { pod } = await fixture();
  // nc's stdin is a FIFO held open by the shell: with /dev/null it would see EOF at once and may
  // close the connection before the upload is in.
  const nc = await runContainer(d, pod, image, {
    command: ['sh', '-c', 'mkfifo /tmp/in; exec 3<>/tmp/in; nc -l -p 9000 <&3 > /tmp/up; echo received > /tmp/flag; sleep 1000'],
  });
  const payload = Buffer.alloc(10 * 1024 * 1024);
  for (let i = 0; i < payload.length; i += 4) payload.writeUInt32LE((i * 2654435761) >>> 0, i);
  let data: ClientStream | undefined;
  let c: SpdyClient | undefined;
  for (let attempt = 0; attempt < 20; attempt++) {
    c = await SpdyClient.connect(await pfUrl(pod), ['portforward.k8s.io']);
    const error = c.open({ streamtype: 'error', port: '9000', requestid: '1' });
    data = c.open({ streamtype: 'data', port: '9000', requestid: '1' });
    await Promise.race([error.done, sleep(300)]);
    if (!error.ended) break;
    c.close(); // nc not listening yet
  }
  // Ours closes after the payload; nc then sees EOF from the network and exits.
  data!.end(payload);
  let sum = '';
  for (let i = 0; i < 100; i++) {
    const r = await execSync(d, nc, ['sh', '-c', 'cat /tmp/flag && sha256sum /tmp/up']);
    if (r.exitCode === 0) {
      sum = r.stdout;
      break;
    }
    await sleep(100);
  }
  assert.match(sum, new RegExp(sha(payload)));
  await data!.done;
  assert.equal(data!.reset, undefined);
  c!.close();
});

test('SPDY port-forward: after the client half-closes, a slow answer still arrives whole', async () => {
  const { pod } = await fixture();
  await runContainer(d, pod, image, {
    command: ['sh', '-c', 'while true; do nc -l -p 9100 -e sh -c "wc -c; sleep 1; echo bye"; done'],
  });
  let out = '';
  for (let attempt = 0; attempt < 30 && !out.includes('bye'); attempt++) {
    const c = await SpdyClient.connect(await pfUrl(pod), ['portforward.k8s.io']);
    c.open({ streamtype: 'error', port: '9100', requestid: '1' });
    const data = c.open({ streamtype: 'data', port: '9100', requestid: '1' });
    data.end(Buffer.alloc(100_000, 1));
    await Promise.race([data.done, sleep(5000)]);
    out = data.text();
    c.close();
    if (!out) await sleep(200); // nc not listening yet
  }
  assert.match(out, /^\s*100000\nbye\n$/);
});

test('WebSocket port-forward: 10 MB intact, and two ports in one connection', async () => {
  const { pod, bigSha } = await fixture();
  const url = await pfUrl(pod);
  const w = await WsChannels.connect(`${url}?ports=8080,8080`, ['v4.channel.k8s.io']);
  // First message on every channel: the port, little-endian.
  await w.until(() => [0, 1, 2, 3].every((ch) => (w.data.get(ch)?.length ?? 0) >= 1));
  for (const ch of [0, 1, 2, 3]) assert.deepEqual([...w.data.get(ch)![0]!], [0x90, 0x1f]);
  w.send(0, GET);
  w.send(2, GET);
  await w.closed;
  for (const ch of [0, 2]) {
    const b = body(Buffer.concat(w.data.get(ch)!.slice(1)));
    assert.equal(sha(b), bigSha);
  }
});

// ---- tokens ----

test('a streaming URL works once: reuse and expiry get a bare 404, over both transports', async () => {
  const { sleeper, pod } = await fixture();
  const url = await execUrl(sleeper, ['true']);
  await spdyCommand(url, {});
  await assert.rejects(SpdyClient.connect(url, ['v4.channel.k8s.io']), (e: { status?: number; response?: string }) => {
    assert.equal(e.status, 404);
    assert.match(e.response ?? '', /404 page not found\n$/);
    return true;
  });
  await assert.rejects(WsChannels.connect(url, ['v5.channel.k8s.io']), (e: { status?: number }) => e.status === 404);
  const wsUrl = await execUrl(sleeper, ['true']);
  await wsCommand(wsUrl, {});
  await assert.rejects(WsChannels.connect(wsUrl, ['v5.channel.k8s.io']), (e: { status?: number }) => e.status === 404);
  // A token of another kind is as unknown as a made-up one.
  const pf = await pfUrl(pod);
  await assert.rejects(SpdyClient.connect(pf.replace('/portforward/', '/exec/'), ['v4.channel.k8s.io']), (e: { status?: number }) => e.status === 404);
  await assert.rejects(SpdyClient.connect(pf.replace(/[^/]+$/, 'A'.repeat(43)), ['portforward.k8s.io']), (e: { status?: number }) => e.status === 404);
  // Late: token_ttl is 2 s here.
  const late = await execUrl(sleeper, ['true']);
  await sleep(2300);
  await assert.rejects(SpdyClient.connect(late, ['v4.channel.k8s.io']), (e: { status?: number }) => e.status === 404);
  // A protocol we do not speak is refused as kubelet does.
  await assert.rejects(SpdyClient.connect(await execUrl(sleeper, ['true']), ['v9.channel.k8s.io']), (e: { status?: number }) => e.status === 403);
});
