// Starts Debian's containerd (CRI plugin built in) on a private root, state and
// socket, for side-by-side benchmarks and compatibility tests. Nothing it
// creates lives outside its temporary directory except what its containers
// and CNI plugins create, which stop() tears down through CRI first.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CriClient } from '../../src/cli/client.js';
import { freeSubnet, removeTestDir, tempDir, testBridgeName } from './daemon.js';

export const CONTAINERD_BIN = '/usr/bin/containerd';

export interface ContainerdOptions {
  /** Registries (host:port) reached over plain HTTP, e.g. the test registry. */
  insecureRegistries?: string[];
  /**
   * Registries (e.g. registry.k8s.io) served by one plain-HTTP endpoint only,
   * never their own hosts (hosts.toml `server`), like berthd's
   * `[registries."…"] server`.
   */
  registryServer?: { registries: string[]; server: string };
  /** Image run as each pod's sandbox (pause) container; must be pullable. */
  sandboxImage?: string;
  /** CNI config directory; empty directory by default (NetworkReady false). */
  cniConfDir?: string;
  cniBinDir?: string;
  snapshotter?: string;
  /**
   * Mount a tmpfs on containerd's state directory, as /run/containerd is on a
   * systemd host (berthd mounts one on its own state directory when it sits
   * on disk): side-by-side benchmarks then compare runtimes, not the cost of
   * ext4 journal commits for the runtime's O_SYNC pid files.
   */
  stateTmpfs?: boolean;
  /** Run containerd (and so its shims) in a session of its own, as a service (see StartOptions.ownSession in daemon.ts). */
  ownSession?: boolean;
}

export interface Containerd {
  dir: string;
  socket: string;
  endpoint: string;
  client: CriClient;
  proc: ChildProcess;
  logs(): string;
  stop(): Promise<void>;
}

function toml(dir: string, sock: string, o: ContainerdOptions): string {
  const cni = o.cniConfDir ?? join(dir, 'cni');
  mkdirSync(cni, { recursive: true });
  const lines = [
    'version = 2',
    `root = "${dir}/root"`,
    `state = "${dir}/state"`,
    '[grpc]',
    `  address = "${sock}"`,
    '[ttrpc]',
    `  address = "${sock}.ttrpc"`,
    '[debug]',
    `  address = "${dir}/debug.sock"`,
    '[metrics]',
    '  address = ""',
    '[plugins."io.containerd.grpc.v1.cri"]',
    // This host lacks CAP_SYS_RESOURCE: containerd's -998 for sandboxes fails otherwise.
    '  restrict_oom_score_adj = true',
    `  sandbox_image = "${o.sandboxImage ?? 'registry.k8s.io/pause:3.6'}"`,
    '  [plugins."io.containerd.grpc.v1.cri".containerd]',
    `    snapshotter = "${o.snapshotter ?? 'overlayfs'}"`,
    '  [plugins."io.containerd.grpc.v1.cri".cni]',
    `    bin_dir = "${o.cniBinDir ?? '/usr/lib/cni'}"`,
    `    conf_dir = "${cni}"`,
  ];
  if (o.registryServer) {
    // containerd refuses `mirrors` beside `config_path`: every registry goes through hosts.toml then.
    const hostsDir = join(dir, 'certs.d');
    const served: [string, string][] = [
      ...o.registryServer.registries.map((r): [string, string] => [r, o.registryServer!.server]),
      ...(o.insecureRegistries ?? []).map((r): [string, string] => [r, `http://${r}`]),
    ];
    for (const [registry, server] of served) {
      mkdirSync(join(hostsDir, registry), { recursive: true });
      writeFileSync(join(hostsDir, registry, 'hosts.toml'), `server = "${server}"\n[host."${server}"]\n  capabilities = ["pull", "resolve"]\n`);
    }
    lines.push('  [plugins."io.containerd.grpc.v1.cri".registry]', `    config_path = "${hostsDir}"`);
  } else {
    for (const r of o.insecureRegistries ?? []) {
      lines.push(`  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."${r}"]`, `    endpoint = ["http://${r}"]`);
    }
  }
  return lines.join('\n') + '\n';
}

export async function startContainerd(o: ContainerdOptions = {}): Promise<Containerd> {
  if (!existsSync(CONTAINERD_BIN)) throw new Error(`${CONTAINERD_BIN} is not installed`);
  const dir = tempDir('ctd-');
  const socket = join(dir, 'c.sock');
  const cfg = join(dir, 'config.toml');
  writeFileSync(cfg, toml(dir, socket, o));
  if (o.stateTmpfs) {
    mkdirSync(join(dir, 'state'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'mode=0711', 'berth-ctd-state', join(dir, 'state')]);
  }
  // A session of its own when asked, as berthd's in benchmarks (see StartOptions.ownSession in daemon.ts).
  const proc = spawn(CONTAINERD_BIN, ['--config', cfg], { stdio: ['ignore', 'ignore', 'pipe'], detached: o.ownSession ?? false });
  let err = '';
  proc.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const endpoint = `unix://${socket}`;
  const client = new CriClient(endpoint, 60_000);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`containerd exited: ${err.split('\n').slice(-5).join('\n')}`);
    if (existsSync(socket)) {
      try {
        await client.call('Version', {}, 2000);
        break;
      } catch {
        // not serving CRI yet
      }
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`containerd did not come up: ${err.split('\n').slice(-5).join('\n')}`);
    }
    await sleep(100);
  }
  return {
    dir, socket, endpoint, client, proc,
    logs: () => err,
    async stop() {
      // Tear down pods through CRI so shims, mounts and netns go with them.
      try {
        const pods = await client.call<{ items: { id: string }[] }>('ListPodSandbox', {});
        for (const p of pods.items ?? []) {
          await client.call('StopPodSandbox', { podSandboxId: p.id }).catch(() => undefined);
          await client.call('RemovePodSandbox', { podSandboxId: p.id }).catch(() => undefined);
        }
      } catch {
        // daemon already gone
      }
      client.close();
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await Promise.race([new Promise((r) => proc.once('exit', r)), sleep(10_000)]);
        if (proc.exitCode === null) proc.kill('SIGKILL');
      }
      // containerd leaves its snapshot mounts when killed (and the state tmpfs is ours).
      removeTestDir(dir);
    },
  };
}

/**
 * A plain bridge network for containerd's pods, its bridge and subnet private
 * to the caller (who deletes the bridge with deleteBridge when done).
 */
export function privateCniConfig(dir: string): { confDir: string; bridge: string } {
  const confDir = join(dir, 'cni');
  mkdirSync(confDir, { recursive: true });
  const bridge = testBridgeName();
  writeFileSync(join(confDir, '10-ctd.conflist'), JSON.stringify({
    cniVersion: '1.0.0', name: 'ctd-private',
    plugins: [
      { type: 'bridge', bridge, isGateway: true, hairpinMode: true, ipam: { type: 'host-local', ranges: [[{ subnet: freeSubnet() }]], dataDir: join(dir, 'ipam') } },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  }));
  return { confDir, bridge };
}
