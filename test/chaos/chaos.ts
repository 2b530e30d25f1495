// The chaos harness: rounds of a parallel mixed workload (pods, containers,
// starts, stops, removals, exec, pulls) against one berthd directory, each
// cut by SIGKILL of berthd, at a random moment or right after the answer of
// a chosen kind of call, then a restart on the same directories and a check
// of every object against what the calls had answered, and of the host
// against the objects. Used by chaos.test.ts (CI, bounded) and run.ts (long
// runs from the command line).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { podFixture, startPodDaemon, leftovers, settleZombies, type PodDaemon, type PodFixture } from '../helpers/pods.js';
import { buildAndPush } from '../helpers/images.js';
import { CallError } from '../../src/cli/client.js';

/** Kinds of answer a round can be cut right after. */
const ANSWER_KINDS = ['RunPodSandbox', 'CreateContainer', 'StartContainer', 'StopContainer', 'RemoveContainer', 'StopPodSandbox', 'RemovePodSandbox', 'PullImage'] as const;
type AnswerKind = (typeof ANSWER_KINDS)[number];

/** Every invariant the checks count violations of. */
export const INVARIANTS = [
  'pod-answered-missing', 'pod-state-regressed', 'pod-removed-present',
  'container-answered-missing', 'container-state-regressed', 'container-removed-present', 'exit-code-lost',
  'image-missing', 'half-object', 'name-held-by-nothing',
  'orphan-process', 'orphan-runtime-state', 'orphan-files', 'orphan-mount', 'orphan-network', 'orphan-cgroup',
  'daemon-failed', 'leak-after-teardown',
] as const;
export type Invariant = (typeof INVARIANTS)[number];

interface PodEntry {
  id: string;
  name: string;
  config: Record<string, unknown>;
  /** What the calls answered: each step implies the ones before it. */
  answered: 'ready' | 'stopped' | 'removed';
  /** A stop or remove was asked (its answer may not have come). */
  stopAsked: boolean;
}

interface ContainerEntry {
  id: string;
  podId: string;
  name: string;
  answered: 'created' | 'started' | 'stopped' | 'removed';
  stopAsked: boolean;
  /** The exit code the container's own command ends with, when it ends by itself. */
  exitsWith?: number;
}

export interface ChaosOptions {
  rounds: number;
  workers?: number;
  log?: (line: string) => void;
}

export interface ChaosReport {
  rounds: number;
  counts: Record<Invariant, number>;
  details: string[];
  calls: number;
  killsAfterAnswer: Record<string, number>;
}

class Killed extends Error {}

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const log = o.log ?? (() => undefined);
  const counts = Object.fromEntries(INVARIANTS.map((i) => [i, 0])) as Record<Invariant, number>;
  const details: string[] = [];
  const violate = (inv: Invariant, what: string): void => {
    counts[inv]++;
    if (details.length < 200) details.push(`${inv}: ${what}`);
  };
  const killsAfterAnswer: Record<string, number> = {};
  const fx: PodFixture = await podFixture();
  // A second image sharing the first one's base layer: pulls of it mostly reuse what is stored.
  const second = await buildAndPush(fx.registry, 'test/chaos', 'v1', { config: { Env: ['CHAOS=1'] } });
  const images = [fx.image, second.ref];
  const pods = new Map<string, PodEntry>();
  const ctrs = new Map<string, ContainerEntry>();
  const pulled = new Set<string>([fx.image]);
  let calls = 0;
  let seq = 0;
  let d: PodDaemon = await startPodDaemon(fx.image);
  const cgroupParent = d.cgroupParent;
  const dir = d.dir;
  try {
    for (let round = 0; round < o.rounds; round++) {
      const killAfter: AnswerKind | undefined = round % 2 === 1 ? ANSWER_KINDS[(round >> 1) % ANSWER_KINDS.length] : undefined;
      let killed = false;
      const kill = (): void => {
        if (killed) return;
        killed = true;
        d.proc.kill('SIGKILL');
      };
      const answered = (kind: AnswerKind): void => {
        if (killed) throw new Killed();
        if (kind === killAfter) {
          killsAfterAnswer[kind] = (killsAfterAnswer[kind] ?? 0) + 1;
          kill();
        }
      };
      const call = async <T>(method: string, req: object): Promise<T> => {
        if (killed) throw new Killed();
        calls++;
        try {
          return await d.client.call<T>(method, req, 20_000);
        } catch (err) {
          if (killed) throw new Killed();
          throw err;
        }
      };
      // ---- the workload ----
      const livePods = (): PodEntry[] => [...pods.values()].filter((p) => p.answered === 'ready' && !p.stopAsked);
      const ops: (() => Promise<void>)[] = [
        async () => {
          if (livePods().length >= 5 || [...pods.values()].filter((x) => x.answered !== 'removed').length >= 8) return;
          const name = `chaos-pod-${seq++}`;
          const config = {
            metadata: { name, namespace: 'chaos', uid: `uid-${name}`, attempt: 0 }, hostname: name,
            linux: { securityContext: { namespaceOptions: { pid: seq % 3 === 0 ? 'POD' : 'CONTAINER' } } },
          };
          const r = await call<{ podSandboxId: string }>('RunPodSandbox', { config });
          pods.set(r.podSandboxId, { id: r.podSandboxId, name, config, answered: 'ready', stopAsked: false });
          answered('RunPodSandbox');
        },
        async () => {
          const p = pick(livePods());
          if (!p || [...ctrs.values()].filter((c) => c.podId === p.id && c.answered !== 'removed').length >= 4) return;
          const name = `c${seq++}`;
          const selfExit = seq % 4 === 0;
          const command = selfExit ? ['sh', '-c', 'sleep 0.4; exit 7'] : ['sleep', '100000'];
          const r = await call<{ containerId: string }>('CreateContainer', {
            podSandboxId: p.id, sandboxConfig: p.config, config: { metadata: { name }, image: { image: pick(images)! }, command },
          });
          ctrs.set(r.containerId, { id: r.containerId, podId: p.id, name, answered: 'created', stopAsked: false, exitsWith: selfExit ? 7 : undefined });
          answered('CreateContainer');
        },
        async () => {
          const c = pick([...ctrs.values()].filter((x) => x.answered === 'created' && !x.stopAsked));
          if (!c) return;
          await call('StartContainer', { containerId: c.id });
          c.answered = 'started';
          answered('StartContainer');
        },
        async () => {
          const c = pick([...ctrs.values()].filter((x) => x.answered === 'started' && !x.stopAsked && x.exitsWith === undefined));
          if (!c) return;
          c.stopAsked = true;
          await call('StopContainer', { containerId: c.id, timeout: 0 });
          c.answered = 'stopped';
          answered('StopContainer');
        },
        async () => {
          const c = pick([...ctrs.values()].filter((x) => x.answered === 'stopped' || (x.answered === 'created' && Math.random() < 0.2)));
          if (!c) return;
          c.stopAsked = true;
          await call('RemoveContainer', { containerId: c.id });
          c.answered = 'removed';
          answered('RemoveContainer');
        },
        async () => {
          const c = pick([...ctrs.values()].filter((x) => x.answered === 'started' && x.exitsWith === undefined && !x.stopAsked));
          if (!c) return;
          await call('ExecSync', { containerId: c.id, cmd: ['true'], timeout: 10 }).catch((e: unknown) => {
            // The container may be stopping (its pod too): not the point here.
            if (e instanceof Killed) throw e;
          });
        },
        async () => {
          const p = pick(livePods());
          if (!p || livePods().length < 3) return;
          p.stopAsked = true;
          for (const c of ctrs.values()) if (c.podId === p.id) c.stopAsked = true;
          await call('StopPodSandbox', { podSandboxId: p.id });
          p.answered = 'stopped';
          for (const c of ctrs.values()) if (c.podId === p.id && c.answered === 'started') c.answered = 'stopped';
          answered('StopPodSandbox');
        },
        async () => {
          const p = pick([...pods.values()].filter((x) => x.answered === 'stopped' || (x.answered === 'ready' && livePods().length > 4)));
          if (!p) return;
          p.stopAsked = true;
          for (const c of ctrs.values()) if (c.podId === p.id) c.stopAsked = true;
          await call('RemovePodSandbox', { podSandboxId: p.id });
          p.answered = 'removed';
          for (const c of ctrs.values()) if (c.podId === p.id) c.answered = 'removed';
          answered('RemovePodSandbox');
        },
        async () => {
          const ref = pick(images)!;
          await call('PullImage', { image: { image: ref } });
          pulled.add(ref);
          answered('PullImage');
        },
      ];
      // Creating and starting containers weigh most: that is where the
      // answers race the runtime.
      const weighted = [ops[0]!, ops[1]!, ops[1]!, ops[1]!, ops[2]!, ops[2]!, ops[2]!, ops[3]!, ops[4]!, ops[5]!, ops[6]!, ops[7]!, ops[8]!];
      const deadline = Date.now() + 100 + Math.random() * 1400;
      const worker = async (): Promise<void> => {
        while (!killed && (killAfter !== undefined || Date.now() < deadline)) {
          try {
            await pick(weighted)!();
          } catch (err) {
            if (err instanceof Killed) return;
            // A refused call (a container that exited meanwhile, a pod being stopped) is part of the mix.
            if (!(err instanceof CallError)) throw err;
          }
          if (killAfter !== undefined && Date.now() > deadline + 3000) break;
        }
      };
      await Promise.all(Array.from({ length: o.workers ?? 3 }, worker));
      kill();
      await d.kill();
      if (round % 3 === 2) await sleep(800); // containers exit while berthd is down
      // ---- restart and check ----
      try {
        d = Object.assign(await startDaemon({ dir }), { cgroupParent });
      } catch (err) {
        violate('daemon-failed', `round ${round}: ${(err as Error).message.slice(0, 300)}`);
        throw err;
      }
      await check(d, pods, ctrs, pulled, violate, round);
      log(`round ${round + 1}/${o.rounds}${killAfter ? ` (killed after ${killAfter})` : ''}: ${pods.size} pods, ${ctrs.size} containers known; violations so far ${Object.values(counts).reduce((a, b) => a + b, 0)}`);
    }
    // ---- full teardown, then nothing may be left ----
    const all = await d.client.call<{ items: { id: string }[] }>('ListPodSandbox', {});
    for (const p of all.items) await d.client.call('RemovePodSandbox', { podSandboxId: p.id });
    await d.stop();
    await settleZombies();
    for (const l of leftovers(d)) violate('leak-after-teardown', l);
  } finally {
    if (d.proc.exitCode === null) await d.kill();
    d.cleanup();
    await fx.close();
  }
  return { rounds: o.rounds, counts, details, calls, killsAfterAnswer };
}

function pick<T>(xs: T[]): T | undefined {
  return xs.length ? xs[Math.floor(Math.random() * xs.length)] : undefined;
}

interface PodView { id: string; state: string; metadata: { name: string } }
interface CtrView { id: string; podSandboxId: string; state: string; metadata: { name: string } }

async function check(
  d: TestDaemon & { cgroupParent: string }, pods: Map<string, PodEntry>, ctrs: Map<string, ContainerEntry>, pulled: Set<string>,
  violate: (inv: Invariant, what: string) => void, round: number,
): Promise<void> {
  const at = `round ${round}`;
  const podList = (await d.client.call<{ items: PodView[] }>('ListPodSandbox', {})).items;
  const ctrList = (await d.client.call<{ containers: CtrView[] }>('ListContainers', {})).containers;
  const podById = new Map(podList.map((p) => [p.id, p]));
  const ctrById = new Map(ctrList.map((c) => [c.id, c]));

  for (const p of pods.values()) {
    const seen = podById.get(p.id);
    if (p.answered === 'removed') {
      if (seen) violate('pod-removed-present', `${at}: pod ${p.id.slice(0, 12)}`);
      pods.delete(p.id);
      continue;
    }
    if (!seen) {
      // Answered (ready or stopped) and never removed: must be there.
      if (!p.stopAsked) violate('pod-answered-missing', `${at}: pod ${p.id.slice(0, 12)} answered ${p.answered}`);
      else pods.delete(p.id); // its removal was in flight: gone is a later state
      continue;
    }
    if (p.answered === 'stopped' && seen.state === 'SANDBOX_READY') violate('pod-state-regressed', `${at}: pod ${p.id.slice(0, 12)} answered stopped, is READY`);
    if (seen.state !== 'SANDBOX_READY') {
      p.answered = p.answered === 'ready' ? 'stopped' : p.answered;
      p.stopAsked = true;
    }
  }
  // Pods made by calls the kill cut before their answer: whole, or not there.
  for (const seen of podList) {
    if (pods.has(seen.id)) continue;
    const cfg = await d.client.call<{ status: { metadata: { name: string } } }>('PodSandboxStatus', { podSandboxId: seen.id }).catch(() => undefined);
    if (!cfg) {
      violate('half-object', `${at}: listed pod ${seen.id.slice(0, 12)} has no status`);
      continue;
    }
    const name = seen.metadata.name;
    pods.set(seen.id, { id: seen.id, name, config: podConfigOf(name), answered: seen.state === 'SANDBOX_READY' ? 'ready' : 'stopped', stopAsked: seen.state !== 'SANDBOX_READY' });
  }

  for (const c of ctrs.values()) {
    const seen = ctrById.get(c.id);
    const podGone = !pods.has(c.podId);
    if (c.answered === 'removed' || (podGone && c.stopAsked)) {
      if (seen && c.answered === 'removed') violate('container-removed-present', `${at}: container ${c.id.slice(0, 12)}`);
      if (!seen) ctrs.delete(c.id);
      continue;
    }
    if (!seen) {
      if (!c.stopAsked && !podGone) violate('container-answered-missing', `${at}: container ${c.id.slice(0, 12)} answered ${c.answered}`);
      ctrs.delete(c.id);
      continue;
    }
    const st = await d.client.call<{ status: { state: string; exitCode: number; reason: string; message: string } }>('ContainerStatus', { containerId: c.id }).then((r) => r.status, () => undefined);
    if (!st) {
      violate('half-object', `${at}: listed container ${c.id.slice(0, 12)} has no status`);
      continue;
    }
    if (c.answered === 'started' && st.state === 'CONTAINER_CREATED') violate('container-state-regressed', `${at}: ${c.id.slice(0, 12)} answered started, is CREATED`);
    if (c.answered === 'stopped' && st.state !== 'CONTAINER_EXITED') violate('container-state-regressed', `${at}: ${c.id.slice(0, 12)} answered stopped, is ${st.state}`);
    if (st.state === 'CONTAINER_EXITED' && c.exitsWith !== undefined && !c.stopAsked && c.answered === 'started' && st.reason !== 'StartError' && st.exitCode !== c.exitsWith) {
      violate('exit-code-lost', `${at}: ${c.id.slice(0, 12)} exited ${st.exitCode} (${st.reason}: ${st.message}), its command exits ${c.exitsWith}`);
    }
    if (st.state === 'CONTAINER_RUNNING') c.answered = 'started';
    if (st.state === 'CONTAINER_EXITED') {
      c.answered = 'stopped';
      c.stopAsked = true;
    }
  }
  for (const seen of ctrList) {
    if (ctrs.has(seen.id)) continue;
    const st = await d.client.call('ContainerStatus', { containerId: seen.id }).catch(() => undefined);
    if (!st || !podById.has(seen.podSandboxId)) {
      violate('half-object', `${at}: listed container ${seen.id.slice(0, 12)} ${!st ? 'has no status' : 'has no pod'}`);
      continue;
    }
    ctrs.set(seen.id, { id: seen.id, podId: seen.podSandboxId, name: seen.metadata.name, answered: seen.state === 'CONTAINER_CREATED' ? 'created' : seen.state === 'CONTAINER_RUNNING' ? 'started' : 'stopped', stopAsked: seen.state === 'CONTAINER_EXITED' });
  }

  const imgs = (await d.client.call<{ images: { repoTags: string[] }[] }>('ListImages', {})).images.flatMap((i) => i.repoTags);
  for (const ref of pulled) if (!imgs.includes(ref)) violate('image-missing', `${at}: ${ref}`);

  // A name is held only by an object that is there: a retry of every pod name berthd lists succeeds or is refused by it.
  for (const p of podList.slice(0, 2)) {
    const entry = pods.get(p.id)!;
    await d.client.call('RunPodSandbox', { config: entry.config }).then(
      () => violate('name-held-by-nothing', `${at}: a second pod got the name of ${p.id.slice(0, 12)}`),
      (err: CallError) => {
        if (err.code !== 6 || !err.details.includes(p.id)) violate('name-held-by-nothing', `${at}: ${err.message}`);
      },
    );
  }

  hostChecks(d, new Set(podList.map((p) => p.id)), new Set(ctrList.map((c) => c.id)), violate, at);
}

function podConfigOf(name: string): Record<string, unknown> {
  return { metadata: { name, namespace: 'chaos', uid: `uid-${name}`, attempt: 0 }, hostname: name };
}

/** Everything on the host must belong to an object berthd lists. */
function hostChecks(d: TestDaemon & { cgroupParent: string }, podIds: Set<string>, ctrIds: Set<string>, violate: (inv: Invariant, what: string) => void, at: string): void {
  const ids = /[0-9a-f]{64}/g;
  const known = (s: string): boolean => (s.match(ids) ?? []).every((id) => podIds.has(id) || ctrIds.has(id));
  const ps = execFileSync('ps', ['-eo', 'pid=,stat=,args='], { encoding: 'utf8' }).split('\n');
  for (const l of ps) {
    if (!l.includes(d.dir) || l.includes('berthd.js') || /^\s*\d+\s+Z/.test(l)) continue;
    if (!known(l)) violate('orphan-process', `${at}: ${l.trim().slice(0, 160)}`);
  }
  const runcRoot = join(d.state, 'runtime', 'runc');
  for (const id of existsSync(runcRoot) ? readdirSync(runcRoot) : []) if (!ctrIds.has(id)) violate('orphan-runtime-state', `${at}: ${id.slice(0, 12)}`);
  const dirsOf = (p: string): string[] => (existsSync(p) ? readdirSync(p).filter((x) => !x.startsWith('.')) : []);
  for (const id of [...dirsOf(join(d.state, 'containers')), ...dirsOf(join(d.root, 'containers'))]) if (!ctrIds.has(id)) violate('orphan-files', `${at}: container ${id.slice(0, 12)}`);
  for (const id of [...dirsOf(join(d.state, 'sandboxes')), ...dirsOf(join(d.root, 'sandboxes'))]) if (!podIds.has(id)) violate('orphan-files', `${at}: pod ${id.slice(0, 12)}`);
  for (const l of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const mp = l.split(' ')[1] ?? '';
    if (mp.startsWith(d.dir) && mp !== d.state && !known(mp)) violate('orphan-mount', `${at}: ${mp}`);
  }
  for (const f of dirsOf(join(d.root, 'cni-cache'))) if (!known(f)) violate('orphan-network', `${at}: cni cache ${f}`);
  const ipam = join(d.root, 'cni-ipam');
  for (const net of dirsOf(ipam)) {
    for (const f of readdirSync(join(ipam, net))) {
      if (f === 'lock' || f.startsWith('last_reserved_ip')) continue;
      const owner = readFileSync(join(ipam, net, f), 'utf8').split('\n')[0]?.trim() ?? '';
      if (!podIds.has(owner)) violate('orphan-network', `${at}: address ${f} held by ${owner.slice(0, 12)}`);
    }
  }
  for (const ctrl of ['memory', 'pids', 'freezer']) {
    const base = `/sys/fs/cgroup/${ctrl}${d.cgroupParent}`;
    for (const pod of dirsOf(base).filter((x) => /^[0-9a-f]{64}$/.test(x))) {
      if (!podIds.has(pod)) violate('orphan-cgroup', `${at}: ${ctrl} pod ${pod.slice(0, 12)}`);
      for (const c of dirsOf(join(base, pod)).filter((x) => /^[0-9a-f]{64}$/.test(x))) if (!ctrIds.has(c)) violate('orphan-cgroup', `${at}: ${ctrl} container ${c.slice(0, 12)}`);
    }
  }
}

/** The report as a table: one row per invariant. */
export function formatReport(r: ChaosReport): string {
  const lines = [`chaos: ${r.rounds} rounds, ${r.calls} CRI calls; kills right after an answer: ${Object.entries(r.killsAfterAnswer).map(([k, v]) => `${k} ${v}`).join(', ')}`];
  for (const inv of INVARIANTS) lines.push(`  ${inv.padEnd(28)} ${r.counts[inv]}`);
  if (r.details.length) lines.push('violations:', ...r.details.map((x) => `  ${x}`));
  return lines.join('\n');
}
