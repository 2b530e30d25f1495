// The fuzzer: its own berthd (a private CNI network without host ports, a
// pod, a running container and an image to aim at, a canary directory on the
// host), raw and structured requests sent over one gRPC connection, and a
// tally of every answer against what is allowed. Used by fuzz.test.ts (a
// bounded run in CI) and run.ts (a long run by hand).
import * as grpc from '@grpc/grpc-js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCri } from '../../src/cri/load.js';
import { CriClient } from '../../src/cli/client.js';
import { startPodDaemon, podFixture, leftovers, type PodDaemon, type PodFixture } from '../helpers/pods.js';
import { freeSubnet, tempDir, testBridgeName, removeTestDir } from '../helpers/daemon.js';
import { Rng, mutate, randomBody, randomMessage } from './bytes.js';
import { baseline, hostileCase, invalidCases, type StructuredCase, type Targets } from './cases.js';
import { diff, makeCanary, memoryOf, removeCanaryMounts, snapshot, type Canary, type HostSnapshot } from './host.js';

const S = grpc.status;

interface Method {
  name: string;
  path: string;
  stream: boolean;
  requestType: string;
  serialize: (o: object) => Buffer;
  deserialize: (b: Buffer) => Record<string, unknown>;
}

function methods(): Method[] {
  const { runtimeService, imageService } = loadCri();
  return [runtimeService, imageService].flatMap((svc) => Object.entries(svc).map(([name, m]) => ({
    name, path: m.path, stream: m.responseStream,
    requestType: (m as unknown as { requestType: { type: { name: string } } }).requestType.type.name,
    serialize: m.requestSerialize as (o: object) => Buffer,
    deserialize: m.responseDeserialize as (b: Buffer) => Record<string, unknown>,
  })));
}

// Raw bodies go to every RPC but these: a body that happens to decode into
// a valid image reference would make berthd pull from a registry that is not
// on this host, and a valid pod CIDR would readdress the daemon's bridge to
// whatever range it names. Their invalid structured cases still run.
const NO_RAW = new Set(['PullImage', 'UpdateRuntimeConfig']);

export interface Tally {
  requests: number;
  byCode: Record<string, number>;
  crashes: number;
  hangs: number;
  unknown: number;
  /** INTERNAL from a handler (not grpc-js refusing a body it cannot parse). */
  internal: number;
  okForInvalid: number;
  /** An allowed error code, but without the field's name for a case that names one. */
  unnamedField: number;
  /** Codes outside the allowed set (besides the ones counted above). */
  otherCodes: number;
  /** Version on the fuzzing connection failing after requests (the connection wedged). */
  deadConnection: number;
  failures: string[];
}

export function emptyTally(): Tally {
  return { requests: 0, byCode: {}, crashes: 0, hangs: 0, unknown: 0, internal: 0, okForInvalid: 0, unnamedField: 0, otherCodes: 0, deadConnection: 0, failures: [] };
}

export function failureCount(t: Tally): number {
  return t.crashes + t.hangs + t.unknown + t.internal + t.okForInvalid + t.unnamedField + t.otherCodes + t.deadConnection;
}

export function summary(t: Tally): string {
  const codes = Object.entries(t.byCode).sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c}=${n}`).join(' ');
  return `${t.requests} requests: ${t.crashes} crashes, ${t.hangs} hangs, ${t.unknown} UNKNOWN, ${t.internal} INTERNAL, ${t.okForInvalid} OK-for-invalid, `
    + `${t.unnamedField} unnamed-field, ${t.otherCodes} other-codes, ${t.deadConnection} dead-connection; codes: ${codes}`;
}

interface Answer {
  code: number;
  details: string;
  body?: Buffer;
}

// Codes a request may get, whatever it holds.
const ALLOWED = new Set([S.OK, S.INVALID_ARGUMENT, S.NOT_FOUND, S.ALREADY_EXISTS, S.FAILED_PRECONDITION, S.UNIMPLEMENTED, S.RESOURCE_EXHAUSTED, S.OUT_OF_RANGE]);
// grpc-js's own answer to a body that is not the method's message; it never reaches berthd's handlers.
const UNPARSEABLE = 'Error deserializing request';

export interface CampaignOptions {
  seed: number;
  /** Requests in flight at once on the fuzzing connection. */
  concurrency: number;
  /** Deadline of each call; an answer later than that is a hang. */
  deadlineMs: number;
  /** A Version on the fuzzing connection every this many requests. */
  probeEvery: number;
  log?: (line: string) => void;
}

export const DEFAULTS: CampaignOptions = { seed: 1, concurrency: 8, deadlineMs: 20_000, probeEvery: 250 };

export class Campaign {
  readonly tally = emptyTally();
  private readonly wire: grpc.Client;
  private readonly control: CriClient;
  private readonly all = methods();
  private readonly rng: Rng;
  private targets!: Targets;
  private hostBefore!: HostSnapshot;
  private sent = 0;
  private fixtureCheck: Promise<void> = Promise.resolve();
  private fixtureFailures = 0;
  peakRss = 0;

  private constructor(
    readonly d: PodDaemon,
    private readonly fx: PodFixture,
    readonly canary: Canary,
    readonly o: CampaignOptions,
  ) {
    this.rng = new Rng(o.seed);
    // One channel, one connection: every fuzzed call shares it, as kubelet's do.
    this.wire = new grpc.Client(`unix://${d.socket}`, grpc.credentials.createInsecure(), {
      'grpc.max_send_message_length': 16 * 1024 * 1024, 'grpc.max_receive_message_length': 16 * 1024 * 1024,
    });
    // Fixture upkeep and cleanup use a connection of their own.
    this.control = new CriClient(d.endpoint, 60_000);
  }

  /** Starts the registry, berthd and the fixture; snapshots the host. */
  static async start(o: Partial<CampaignOptions> = {}): Promise<Campaign> {
    const fx = await podFixture();
    const dir = tempDir('berth-fz-');
    const canary = makeCanary(tempDir('berth-fzc-'));
    let d: PodDaemon | undefined;
    try {
      const bridge = testBridgeName();
      const conf = join(dir, 'cni-conf');
      mkdirSync(conf, { recursive: true });
      // The default network without portmap: a request's host ports cannot
      // reach the host's iptables while this suite sends thousands of them.
      writeFileSync(join(conf, '10-fuzz.conflist'), JSON.stringify({
        cniVersion: '1.0.0', name: 'fuzz',
        plugins: [{ type: 'bridge', bridge, isGateway: true, ipMasq: false, ipam: { type: 'host-local', ranges: [[{ subnet: freeSubnet() }]], dataDir: join(dir, 'root', 'cni-ipam') } }],
      }));
      const toml = `[image]\nretries = 0\nstall_timeout = 5\n[registries."docker.io"]\nserver = "http://127.0.0.1:1"\n`
        + `[network]\ncni_conf_dir = "${conf}"\nwrite_default_config = false\nbridge = "${bridge}"\n`;
      // Errors only: every refused request is a warning, and the test keeps all output in memory.
      d = await startPodDaemon(fx.image, { dir, toml, logLevel: 'error', waitReady: false });
      const c = new Campaign(d, fx, canary, { ...DEFAULTS, ...o });
      await c.ensureFixture();
      c.hostBefore = snapshot(canary, [dir]);
      return c;
    } catch (err) {
      if (d) {
        await d.stop();
        d.cleanup();
      } else {
        removeTestDir(dir);
      }
      removeCanaryMounts(canary);
      removeTestDir(canary.dir);
      await fx.close();
      throw err;
    }
  }

  private log(line: string): void {
    this.o.log?.(line);
  }

  // ---- fixture ----------------------------------------------------------------

  private async newPod(): Promise<string> {
    const n = `fixture${Date.now()}${this.rng.int(1e6)}`;
    const r = await this.control.call<{ podSandboxId: string }>('RunPodSandbox', {
      config: { metadata: { name: n, namespace: 'fuzz', uid: n }, logDirectory: join(this.d.dir, 'logs', n) },
    });
    return r.podSandboxId;
  }

  private async newContainer(podId: string): Promise<string> {
    const r = await this.control.call<{ containerId: string }>('CreateContainer', {
      podSandboxId: podId,
      // Exits at once on SIGTERM, so a fuzzed StopContainer never waits out its timeout.
      config: { metadata: { name: `c${Date.now()}${this.rng.int(1e6)}` }, image: { image: this.fx.image }, command: ['sh', '-c', 'trap "exit 0" TERM; sleep 100000 & wait'] },
    });
    await this.control.call('StartContainer', { containerId: r.containerId });
    return r.containerId;
  }

  /** The pod READY and the container RUNNING, remade when a fuzzed request stopped or removed them. */
  async ensureFixture(): Promise<void> {
    const t = this.targets;
    const state = async <T>(method: string, req: object, pick: (r: T) => string): Promise<string> =>
      this.control.call<T>(method, req).then(pick, () => 'GONE');
    let podId = t?.podId;
    if (!podId || (await state<{ status: { state: string } }>('PodSandboxStatus', { podSandboxId: podId }, (r) => r.status.state)) !== 'SANDBOX_READY') {
      if (podId) await this.control.call('RemovePodSandbox', { podSandboxId: podId }).catch(() => undefined);
      podId = await this.newPod();
    }
    let containerId = podId === t?.podId ? t.containerId : '';
    if (!containerId || (await state<{ status: { state: string } }>('ContainerStatus', { containerId }, (r) => r.status.state)) !== 'CONTAINER_RUNNING') {
      if (containerId) await this.control.call('RemoveContainer', { containerId }).catch(() => undefined);
      containerId = await this.newContainer(podId);
    }
    const logDir = join(this.d.dir, 'logs', 'fuzz');
    this.targets = { podId, containerId, image: this.fx.image, logDir, canary: this.canary };
  }

  /** Removes every pod but the fixture's, and every container of the fixture pod but its own. */
  async sweep(): Promise<void> {
    const t = this.targets;
    const pods = (await this.control.call<{ items: { id: string }[] }>('ListPodSandbox', {})).items;
    for (const p of pods) if (p.id !== t.podId) await this.control.call('RemovePodSandbox', { podSandboxId: p.id }).catch(() => undefined);
    const ctrs = (await this.control.call<{ containers: { id: string }[] }>('ListContainers', {})).containers;
    for (const c of ctrs) if (c.id !== t.containerId) await this.control.call('RemoveContainer', { containerId: c.id }).catch(() => undefined);
  }

  // ---- calls -------------------------------------------------------------------

  private send(m: Method, body: Buffer): Promise<Answer> {
    const identity = (b: Buffer): Buffer => b;
    const deadline = Date.now() + this.o.deadlineMs;
    return new Promise((resolve) => {
      if (!m.stream) {
        this.wire.makeUnaryRequest(m.path, identity, identity, body, new grpc.Metadata(), { deadline }, (err, res) => {
          resolve(err ? { code: err.code, details: err.details ?? '' } : { code: S.OK, details: '', body: res });
        });
        return;
      }
      const call = this.wire.makeServerStreamRequest(m.path, identity, identity, body, new grpc.Metadata(), { deadline });
      let done = false;
      const finish = (a: Answer): void => {
        if (!done) resolve(a);
        done = true;
      };
      call.on('data', () => undefined);
      call.on('error', (err: grpc.ServiceError) => finish({ code: err.code, details: err.details ?? '' }));
      call.on('end', () => finish({ code: S.OK, details: '' }));
      // The event stream never ends by itself: an open stream that has not
      // failed a moment later is its right answer.
      if (m.name === 'GetContainerEvents') {
        setTimeout(() => {
          finish({ code: S.OK, details: '' });
          call.cancel();
        }, 100);
      }
    });
  }

  private fail(kind: string, what: string, a: Answer): void {
    if (this.tally.failures.length < 50) this.tally.failures.push(`${kind}: ${what} -> ${S[a.code] ?? a.code}: ${a.details.slice(0, 300)}`);
  }

  private judge(m: Method, what: string, a: Answer, c?: StructuredCase): void {
    const t = this.tally;
    t.requests++;
    const name = S[a.code] ?? String(a.code);
    t.byCode[name] = (t.byCode[name] ?? 0) + 1;
    // Answers berthd gives on purpose with codes that otherwise mean a lost call.
    if (a.code === S.DEADLINE_EXCEEDED && m.name === 'ExecSync' && /timed out after/.test(a.details)) return;
    if (a.code === S.UNAVAILABLE && m.name === 'PullImage' && /^pulling /.test(a.details)) return;
    if (a.code === S.DEADLINE_EXCEEDED || a.code === S.CANCELLED || a.code === S.UNAVAILABLE) {
      t.hangs++;
      this.fail('hang', what, a);
    } else if (a.code === S.UNKNOWN) {
      t.unknown++;
      this.fail('UNKNOWN', what, a);
    } else if (a.code === S.INTERNAL) {
      if (c || a.details !== UNPARSEABLE) {
        t.internal++;
        this.fail('INTERNAL', what, a);
      }
    } else if (!ALLOWED.has(a.code)) {
      t.otherCodes++;
      this.fail('code', what, a);
    } else if (c?.invalid && a.code === S.OK) {
      t.okForInvalid++;
      this.fail('OK for invalid', what, a);
    } else if (c?.invalid && (!(c.codes ?? [S.INVALID_ARGUMENT]).includes(a.code) || (c.field && !a.details.includes(c.field)))) {
      t.unnamedField++;
      this.fail(`expected ${c.codes?.map((x) => S[x]).join('/') ?? 'INVALID_ARGUMENT'} naming ${c.field}`, what, a);
    }
  }

  /** Undoes what an accepted request made; a container is started first, so the runtime applies its config. */
  private async afterOk(m: Method, a: Answer): Promise<void> {
    if (!a.body || (m.name !== 'RunPodSandbox' && m.name !== 'CreateContainer')) return;
    let r: Record<string, unknown>;
    try {
      r = m.deserialize(a.body);
    } catch {
      return;
    }
    if (typeof r.containerId === 'string' && r.containerId) {
      await this.control.call('StartContainer', { containerId: r.containerId }).catch(() => undefined);
      await this.control.call('RemoveContainer', { containerId: r.containerId }).catch(() => undefined);
    }
    if (typeof r.podSandboxId === 'string' && r.podSandboxId) await this.control.call('RemovePodSandbox', { podSandboxId: r.podSandboxId }).catch(() => undefined);
  }

  private async probe(): Promise<void> {
    const v = this.all.find((m) => m.name === 'Version')!;
    const a = await this.send(v, v.serialize({}));
    if (a.code !== S.OK) {
      this.tally.deadConnection++;
      this.fail('Version after fuzzing', 'Version', a);
    }
    if (this.d.proc.exitCode !== null) {
      this.tally.crashes++;
      this.fail('crash', `berthd exited with ${this.d.proc.exitCode}`, { code: -1, details: this.d.logs().slice(-2000) });
    }
    this.peakRss = Math.max(this.peakRss, memoryOf(this.d.proc.pid!).peak);
  }

  /** Runs `n` requests made by `make`, `concurrency` at a time, with probes and fixture upkeep between. */
  private async drive(n: number, make: (i: number) => { m: Method; body: Buffer; what: string; c?: StructuredCase } | undefined): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < n && this.d.proc.exitCode === null) {
        const i = next++;
        await this.fixtureCheck;
        const job = make(i);
        if (!job) continue;
        const a = await this.send(job.m, job.body);
        this.judge(job.m, job.what, a, job.c);
        if (a.code === S.OK) await this.afterOk(job.m, a);
        this.sent++;
        if (this.sent % this.o.probeEvery === 0) {
          await this.probe();
          this.fixtureCheck = this.ensureFixture().catch((err: Error) => {
            this.fixtureFailures++;
            this.log(`fixture upkeep failed: ${err.message}`);
          });
        }
        if (this.sent % 2000 === 0) this.log(summary(this.tally));
      }
    };
    await Promise.all(Array.from({ length: this.o.concurrency }, worker));
    await this.fixtureCheck;
    await this.probe();
  }

  /** Random bytes, random protobuf and mutated valid requests, to every RPC but NO_RAW. */
  async raw(n: number): Promise<void> {
    const targets = this.all.filter((m) => !NO_RAW.has(m.name));
    const valid = (m: Method): Buffer => m.serialize(baseline(m.name, this.targets));
    await this.drive(n, () => {
      const m = this.rng.pick(targets);
      const kind = this.rng.int(10);
      let body: Buffer;
      if (kind < 2) body = randomBody(this.rng);
      else if (kind < 4) body = randomMessage(this.rng);
      else body = mutate(this.rng, valid(m), [valid(this.rng.pick(targets))]);
      return { m, body, what: `${m.name} raw ${body.subarray(0, 48).toString('hex')}${body.length > 48 ? `…(${body.length} bytes)` : ''}` };
    });
  }

  /** Each invalid case once (in random order), then hostile values in random fields of every RPC. */
  async structured(n: number): Promise<void> {
    const byName = new Map(this.all.map((m) => [m.name, m]));
    let invalid = invalidCases(this.targets);
    for (let i = invalid.length - 1; i > 0; i--) {
      const j = this.rng.int(i + 1);
      [invalid[i], invalid[j]] = [invalid[j]!, invalid[i]!];
    }
    if (invalid.length > n) invalid = invalid.slice(0, n);
    await this.drive(n, (i) => {
      let c: StructuredCase;
      let m: Method;
      if (i < invalid.length) {
        c = invalid[i]!;
        m = byName.get(c.method)!;
      } else {
        m = this.rng.pick(this.all);
        c = hostileCase(this.rng, m.name, m.requestType, this.targets);
      }
      let body: Buffer;
      try {
        body = m.serialize(c.request);
      } catch {
        return undefined; // a value the encoder itself refuses never reaches the wire
      }
      return { m, body, what: c.label, c };
    });
  }

  /** How many of the invalid cases there are (each is sent once by structured()). */
  invalidCaseCount(): number {
    return invalidCases(this.targets).length;
  }

  /** Host changes since start(), berthd's peak memory; then removes everything. */
  async finish(): Promise<{ hostChanges: string[]; peakRss: number; leftovers: string[]; fixtureFailures: number }> {
    await this.probe();
    const hostChanges = diff(this.hostBefore, snapshot(this.canary, [this.d.dir]));
    this.wire.close();
    let left: string[];
    try {
      await this.sweep().catch(() => undefined);
      for (const p of (await this.control.call<{ items: { id: string }[] }>('ListPodSandbox', {}).catch(() => ({ items: [] }))).items) {
        await this.control.call('RemovePodSandbox', { podSandboxId: p.id }).catch(() => undefined);
      }
      this.control.close();
      await this.d.stop();
      left = leftovers(this.d);
    } finally {
      this.d.cleanup();
      removeCanaryMounts(this.canary);
      removeTestDir(this.canary.dir);
      await this.fx.close();
    }
    return { hostChanges, peakRss: this.peakRss, leftovers: left, fixtureFailures: this.fixtureFailures };
  }
}
