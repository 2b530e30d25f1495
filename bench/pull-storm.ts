// Image pulls under a storm, through a registry that throttles: berthd beside
// Debian's containerd in one run, each behind its own throttling proxy
// (test/helpers/throttle-proxy.ts) in front of one docker-registry, so each
// runtime's requests are counted apart.
//
// The proxy answers 429 Too Many Requests with Retry-After (default 1 s)
// whenever a request would make more than --limit (default 4) requests in
// flight. Two scenarios per round, with images new to both runtimes:
//   - same: --same (default 20) PullImage calls of one image at once, as 20
//     pods scheduled together ask for it (base layer + a --layer-mb layer);
//   - different: --different (default 5) images at once that share a new
//     layer besides the base (+ one layer of their own each).
// Reported per runtime and scenario: time until every pull answered, failed
// pulls, registry requests (all, 429s, comebacks before the Retry-After
// given for that path ran out, the most in flight), and GETs of each blob
// answered 200 across both scenarios (a node needs each blob once). The
// floor: each distinct blob of the scenario fetched once, unthrottled, all at
// once, straight from the registry (transfer only: no unpack, no store).
// Targets (issue 18): 0 failed pulls, each blob fetched once per node,
// Retry-After respected (no early comebacks).
//
// Run: node dist/bench/pull-storm.js [rounds=1] [--same=20] [--different=5]
//        [--limit=4] [--retry-after=1] [--retry-after-format=seconds|date]
//        [--layer-mb=4] [--no-containerd] [--cpu-prof=DIR]
import { parseArgs } from 'node:util';
import { get } from 'node:http';
import { randomBytes } from 'node:crypto';
import { startRegistry, type TestRegistry } from '../test/helpers/registry.js';
import { buildLayout, push, type BuiltImage } from '../test/helpers/images.js';
import { berthdNodeFlags, startDaemon } from '../test/helpers/daemon.js';
import { startContainerd } from '../test/helpers/containerd.js';
import { startThrottleProxy, type ThrottleProxy } from '../test/helpers/throttle-proxy.js';
import type { CriClient } from '../src/cli/client.js';
import { Teardown } from './runtimes.js';
import { fmt, ratio, row, tail } from './lib.js';
import { fileURLToPath } from 'node:url';
import { mkdirSync } from 'node:fs';

const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    same: { type: 'string', default: '20' },
    different: { type: 'string', default: '5' },
    limit: { type: 'string', default: '4' },
    'retry-after': { type: 'string', default: '1' },
    'retry-after-format': { type: 'string', default: 'seconds' },
    'layer-mb': { type: 'string', default: '4' },
    'no-containerd': { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
  },
});
const ROUNDS = Number(positionals[0] ?? 1);
const SAME = Number(opt.same);
const DIFFERENT = Number(opt.different);
const LIMIT = Number(opt.limit);
const RETRY_AFTER = Number(opt['retry-after']);
const FORMAT = opt['retry-after-format'] === 'date' ? 'date' : 'seconds';
const LAYER = Math.round(Number(opt['layer-mb']) * (1 << 20));

interface Subject {
  name: 'berth' | 'containerd';
  client: CriClient;
  proxy: ThrottleProxy;
  toggleProfile?: () => void;
}

interface Outcome {
  ms: number;
  failed: number;
  errors: string[];
  requests: number;
  throttled: number;
  early: number;
  peak: number;
  manifestRequests: number;
  blobGets: Map<string, number>;
}

/** `images` pulled `copies` times each, all at once, through the subject's proxy. */
async function storm(s: Subject, refs: string[]): Promise<Outcome> {
  s.proxy.reset();
  s.toggleProfile?.();
  const t0 = performance.now();
  const results = await Promise.allSettled(refs.map((image) => s.client.call('PullImage', { image: { image } }, 600_000)));
  const ms = performance.now() - t0;
  s.toggleProfile?.();
  const errors = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : []));
  const t = s.proxy.totals();
  let manifestRequests = 0;
  for (const [key, c] of s.proxy.counts) if (key.includes('/manifests/')) manifestRequests += c.requests;
  return { ms, failed: errors.length, errors, requests: t.requests, throttled: t.throttled, early: t.early, peak: t.peakInFlight, manifestRequests, blobGets: s.proxy.blobFetches() };
}

/** Every distinct blob of the images fetched once, at once, unthrottled: the transfer floor. */
async function floor(reg: TestRegistry, images: { name: string; img: BuiltImage }[]): Promise<number> {
  const blobs = new Map<string, string>();
  for (const { name, img } of images) for (const d of [img.configDigest, ...img.layers.map((l) => l.digest)]) blobs.set(d, name);
  const t0 = performance.now();
  await Promise.all([...blobs].map(([digest, name]) => new Promise<void>((resolve, reject) => {
    get(`${reg.url}/v2/${name}/blobs/${digest}`, (res) => {
      if (res.statusCode !== 200) reject(new Error(`GET blob ${digest}: ${res.statusCode}`));
      res.resume();
      res.once('end', () => resolve());
    }).once('error', reject);
  })));
  return performance.now() - t0;
}

async function buildImages(reg: TestRegistry, round: number): Promise<{ same: { name: string; img: BuiltImage }; different: { name: string; img: BuiltImage }[] }> {
  const tag = `r${round}-${randomBytes(3).toString('hex')}`;
  const built: BuiltImage[] = [];
  try {
    const pushOne = async (name: string, img: BuiltImage): Promise<{ name: string; img: BuiltImage }> => {
      built.push(img);
      await push(reg, img, name, tag);
      return { name, img };
    };
    const same = await pushOne('storm/same', await buildLayout(tag, { layers: [{ randomBytes: LAYER }] }));
    const first = await buildLayout(tag, { layers: [{ randomBytes: LAYER }, { randomBytes: LAYER / 2 }] });
    const different = [await pushOne('storm/diff-0', first)];
    for (let i = 1; i < DIFFERENT; i++) {
      const img = await buildLayout(tag, { layers: [{ copy: { layout: first.layout, layer: first.layers[1]! } }, { randomBytes: LAYER / 2 }] });
      different.push(await pushOne(`storm/diff-${i}`, img));
    }
    return { same, different };
  } finally {
    for (const img of built) img.cleanup();
  }
}

const teardown = new Teardown();
try {
  console.log(`pull storm: registry throttled to ${LIMIT} requests in flight (429, Retry-After: ${RETRY_AFTER} s as ${FORMAT}); ` +
    `${SAME} pulls of one image at once, then ${DIFFERENT} images sharing a layer at once; ${ROUNDS} round(s), images new to both runtimes`);
  const reg = await startRegistry();
  teardown.add(() => reg.stop());
  const subjects: Subject[] = [];
  const berthProxy = await startThrottleProxy(reg, { maxInFlight: LIMIT, retryAfterSeconds: RETRY_AFTER, retryAfterFormat: FORMAT });
  teardown.add(() => berthProxy.close());
  const nodeArgs = [...berthdNodeFlags()];
  if (opt['cpu-prof']) {
    mkdirSync(opt['cpu-prof'], { recursive: true });
    process.env.BERTH_BENCH_PROFILE_DIR = opt['cpu-prof'];
    nodeArgs.push('--import', fileURLToPath(new URL('./probe/berthd-probe.js', import.meta.url)));
  }
  const berth = await startDaemon({ logLevel: 'info', nodeArgs });
  delete process.env.BERTH_BENCH_PROFILE_DIR;
  teardown.add(async () => {
    await berth.stop();
    berth.cleanup();
  });
  subjects.push({ name: 'berth', client: berth.client, proxy: berthProxy, toggleProfile: opt['cpu-prof'] ? () => berth.proc.kill('SIGUSR2') : undefined });
  if (!opt['no-containerd']) {
    const ctdProxy = await startThrottleProxy(reg, { maxInFlight: LIMIT, retryAfterSeconds: RETRY_AFTER, retryAfterFormat: FORMAT });
    teardown.add(() => ctdProxy.close());
    try {
      const ctd = await startContainerd({ stateTmpfs: true, insecureRegistries: [ctdProxy.host] });
      teardown.add(() => ctd.stop());
      subjects.push({ name: 'containerd', client: ctd.client, proxy: ctdProxy });
    } catch (err) {
      console.log(`containerd could not start, its rows are left out: ${(err as Error).message}`);
    }
  }

  const rows: { scenario: string; name: string; o: Outcome }[] = [];
  const floors: { scenario: string; ms: number }[] = [];
  const perNode = new Map<string, Map<string, number>>(subjects.map((s) => [s.name, new Map()]));
  for (let r = 0; r < ROUNDS; r++) {
    process.stdout.write(`round ${r + 1}: building and pushing images…`);
    const imgs = await buildImages(reg, r);
    process.stdout.write(' done\n');
    floors.push({ scenario: 'same', ms: await floor(reg, [imgs.same]) });
    floors.push({ scenario: 'different', ms: await floor(reg, imgs.different) });
    for (const s of r % 2 === 0 ? subjects : [...subjects].reverse()) {
      const ref = (x: { name: string }): string => `${s.proxy.host}/${x.name}:${imgs.same.img.tag}`;
      for (const [scenario, refs] of [['same', Array.from({ length: SAME }, () => ref(imgs.same))], ['different', imgs.different.map(ref)]] as const) {
        const o = await storm(s, refs);
        rows.push({ scenario, name: s.name, o });
        const node = perNode.get(s.name)!;
        for (const [d, n] of o.blobGets) node.set(d, (node.get(d) ?? 0) + n);
        console.log(`  ${s.name} ${scenario}: ${fmt(o.ms)} ms, ${o.failed} failed, ${o.requests} requests (${o.throttled} answered 429, ${o.early} early)`);
      }
    }
  }

  const W = [26, 11, 12, 7, 9, 6, 6, 7, 10, 10, 10];
  console.log('\nper scenario (ms = until every pull answered; median over rounds, counts summed)');
  console.log(row(['', 'runtime', 'ms', 'failed', 'requests', '429s', 'early', 'peak', 'manifests', 'blob GETs', 'ratio ms'], W));
  for (const scenario of ['same', 'different'] as const) {
    const label = scenario === 'same' ? `${SAME} × one image` : `${DIFFERENT} images, a shared layer`;
    const base = tail(rows.filter((x) => x.scenario === scenario && x.name === 'containerd').map((x) => x.o.ms)).p50;
    for (const s of subjects) {
      const mine = rows.filter((x) => x.scenario === scenario && x.name === s.name).map((x) => x.o);
      const sum = (f: (o: Outcome) => number): number => mine.reduce((n, o) => n + f(o), 0);
      const ms = tail(mine.map((o) => o.ms)).p50;
      console.log(row([label, s.name, fmt(ms), sum((o) => o.failed), sum((o) => o.requests), sum((o) => o.throttled), sum((o) => o.early),
        Math.max(...mine.map((o) => o.peak)), sum((o) => o.manifestRequests), sum((o) => [...o.blobGets.values()].reduce((a, b) => a + b, 0)),
        s.name === 'containerd' ? '1.00x' : ratio(ms, base)], W));
    }
    console.log(row([label, 'floor', fmt(tail(floors.filter((f) => f.scenario === scenario).map((f) => f.ms)).p50)], W));
  }
  console.log('  early = requests for a path that came before the Retry-After given for it had passed; peak = most requests in flight at the proxy');

  console.log('\ntargets (issue 18)');
  for (const s of subjects) {
    const mine = rows.filter((x) => x.name === s.name).map((x) => x.o);
    const failed = mine.reduce((n, o) => n + o.failed, 0);
    const early = mine.reduce((n, o) => n + o.early, 0);
    const gets = [...perNode.get(s.name)!.values()];
    const twice = gets.filter((n) => n > 1).length;
    console.log(`  ${s.name}: failed pulls ${failed} (${failed === 0 ? 'met' : 'MISSED'}); blobs fetched more than once ${twice} of ${gets.length} ` +
      `(max ${gets.length ? Math.max(...gets) : 0} GETs of one blob; ${twice === 0 ? 'met' : 'MISSED'}); early comebacks ${early} (${early === 0 ? 'met' : 'MISSED'})`);
    const errs = [...new Set(mine.flatMap((o) => o.errors))].slice(0, 3);
    for (const e of errs) console.log(`    e.g. ${e.slice(0, 300)}`);
  }
} finally {
  console.log('\ntearing down…');
  await teardown.run();
}
