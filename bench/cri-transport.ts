// What berthd's CRI transport costs per call: a Version round trip through
// grpc-js bound straight to the unix socket (the transport before it
// accepted any :authority) beside berthd's transport (src/cri/h2/), once with
// the authority grpc-js sends ("localhost": header blocks pass unchanged) and
// once with the socket path that kubelet-era grpc-go sends (every block
// decoded and written anew). Each server runs in its own process with
// berthd's Node.js flags; rounds are interleaved; server CPU per call is
// measured from /proc over a separate phase per client.
// Run: `node dist/bench/cri-transport.js [rounds]`.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { CriServer } from '../src/cri/server.js';
import { loadCri } from '../src/cri/load.js';
import { CriClient } from '../src/cli/client.js';
import { silentLogger } from '../src/log/logger.js';
import { berthdNodeFlags, tempDir, removeTestDir } from '../test/helpers/daemon.js';
import { printTable, summarize, timeMs, cpuMs, fmt } from './lib.js';

const version = async (): Promise<unknown> => ({ version: '0.1.0', runtimeName: 'berth', runtimeVersion: '0.1.0', runtimeApiVersion: 'v1' });

async function serve(kind: string, socket: string): Promise<void> {
  if (kind === 'bare') {
    const { runtimeService } = loadCri();
    const server = new grpc.Server({ 'grpc.max_receive_message_length': 16 << 20, 'grpc.max_send_message_length': 16 << 20 });
    server.addService(runtimeService, { Version: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => void version().then((v) => cb(null, v)) });
    await new Promise<void>((resolve, reject) => server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  } else {
    await CriServer.start({ socketPath: socket, socketMode: 0o600, maxMessageBytes: 16 << 20, log: silentLogger(), handlers: { unary: { Version: version }, stream: {} } });
  }
  process.stdout.write('ready\n');
}

if (process.argv[2] === 'serve') {
  await serve(process.argv[3]!, process.argv[4]!);
} else {
  const rounds = Number(process.argv[2] ?? 2000);
  const dir = tempDir('berth-bench-tr-');
  const children: ChildProcess[] = [];
  const start = async (kind: string): Promise<{ pid: number; socket: string }> => {
    const socket = join(dir, `${kind}.sock`);
    const child = spawn(process.execPath, [...berthdNodeFlags(), fileURLToPath(import.meta.url), 'serve', kind, socket], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
    return { pid: child.pid!, socket };
  };
  try {
    const bare = await start('bare');
    const berth = await start('berth');
    const clients = {
      bare: new CriClient(`unix://${bare.socket}`),
      localhost: new CriClient(`unix://${berth.socket}`),
      path: new CriClient(`unix://${berth.socket}`, 10_000, '/run/berth/berth.sock'),
    };
    const samples: Record<keyof typeof clients, number[]> = { bare: [], localhost: [], path: [] };
    for (const c of Object.values(clients)) for (let i = 0; i < 200; i++) await c.call('Version'); // warm up
    for (let i = 0; i < rounds; i++) {
      for (const [name, c] of Object.entries(clients) as [keyof typeof clients, CriClient][]) samples[name].push(await timeMs(() => c.call('Version')));
    }
    printTable(`Version round trip over the unix socket, ${rounds} rounds interleaved (ratio vs grpc-js bound to the socket)`, [
      ['grpc-js bound to the socket (before)', summarize(samples.bare)],
      ['berthd, :authority localhost', summarize(samples.localhost)],
      ['berthd, :authority socket path', summarize(samples.path)],
    ]);
    // Server CPU per call, one client at a time.
    const cpuPerCall = async (pid: number, c: CriClient): Promise<number> => {
      const before = cpuMs(pid);
      for (let i = 0; i < rounds; i++) await c.call('Version');
      return ((cpuMs(pid) - before) * 1000) / rounds;
    };
    const cpu = {
      bare: await cpuPerCall(bare.pid, clients.bare),
      localhost: await cpuPerCall(berth.pid, clients.localhost),
      path: await cpuPerCall(berth.pid, clients.path),
    };
    console.log(`\nserver CPU per Version call over ${rounds} calls (µs, 10 ms clock ticks):`);
    console.log(`  grpc-js bound to the socket: ${fmt(cpu.bare)}; berthd, localhost: ${fmt(cpu.localhost)} (${(cpu.localhost / cpu.bare).toFixed(2)}x); berthd, socket path: ${fmt(cpu.path)} (${(cpu.path / cpu.bare).toFixed(2)}x)`);
    const p50 = (s: number[]): number => summarize(s).p50;
    console.log(`  p50 added per call: localhost ${((p50(samples.localhost) - p50(samples.bare)) * 1000).toFixed(0)} µs, socket path ${((p50(samples.path) - p50(samples.bare)) * 1000).toFixed(0)} µs`);
    for (const c of Object.values(clients)) c.close();
  } finally {
    for (const c of children) c.kill('SIGKILL');
    removeTestDir(dir);
  }
}
