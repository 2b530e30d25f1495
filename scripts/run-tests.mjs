// Runs every compiled test file with node's test runner, then fails the run if
// the tests left anything on the host: mounts, network namespaces, veths,
// conmon/runc processes, cgroups, iptables rules or SysV shared memory that
// were not there before.
import { spawnSync, execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

function findTests(dir, out = []) {
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) findTests(p, out);
    else if (e.name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const sh = (cmd, args) => {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
};

function cgroupDirs() {
  const out = [];
  const base = '/sys/fs/cgroup';
  if (!existsSync(base)) return out;
  for (const ctrl of readdirSync(base)) {
    const p = join(base, ctrl);
    try {
      if (!statSync(p).isDirectory()) continue;
      for (const e of readdirSync(p)) if (e.startsWith('berth')) out.push(join(p, e));
    } catch {
      // controller directory not readable
    }
  }
  return out;
}

function snapshot() {
  const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n')
    .filter((l) => /berth/.test(l)).map((l) => l.split(' ')[1]);
  const netns = existsSync('/var/run/netns') ? readdirSync('/var/run/netns') : [];
  const links = sh('ip', ['-o', 'link', 'show']).split('\n').map((l) => l.split(':')[1]?.trim().split('@')[0]).filter(Boolean);
  const procs = sh('ps', ['-eo', 'pid=,comm=']).split('\n').map((l) => l.trim().split(/\s+/))
    .filter(([, c]) => ['conmon', 'runc', 'catatonit', 'docker-registry', 'containerd', 'prometheus'].includes(c))
    .map(([p, c]) => `${c}(${p})`);
  const rules = ['filter', 'nat'].flatMap((t) => sh('iptables-save', ['-t', t]).split('\n'))
    .filter((l) => l.startsWith('-A') || l.startsWith(':')).map((l) => l.replace(/\[\d+:\d+\]/, ''));
  // SysV shared memory segments (critest's HostIpc specs make them on the host).
  const shm = readFileSync('/proc/sysvipc/shm', 'utf8').trim().split('\n').slice(1).map((l) => `shmid ${l.trim().split(/\s+/)[1]}`);
  return { mounts, netns, links, procs, rules, shm, cgroups: cgroupDirs() };
}

const before = snapshot();
const files = findTests('dist/src').concat(findTests('dist/test'));
const filter = process.argv.slice(2);
const selected = filter.length ? files.filter((f) => filter.some((x) => f.includes(x))) : files;
if (selected.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
// Long suites (the real CRI clients against berthd and containerd, the chaos
// rounds; minutes each) run after the others on a quiet machine, with room
// for their length;
// a hung test anywhere else still fails after five minutes.
const isLong = (f) => f.includes('/conformance/') || f.includes('/chaos/');
const concurrency = process.env.BERTH_TEST_CONCURRENCY ?? '2';
let status = 0;
for (const [group, timeout, conc] of [[selected.filter((f) => !isLong(f)), 300_000, concurrency], [selected.filter(isLong), 3_600_000, '1']]) {
  if (group.length === 0) continue;
  const res = spawnSync(process.execPath, ['--test', `--test-concurrency=${conc}`, `--test-timeout=${timeout}`, ...group], { stdio: 'inherit' });
  if (res.status !== 0) status = res.status ?? 1;
}

// portmap makes its shared CNI-HOSTPORT-* chains once per host and never
// removes them: when the run made them and no pod's rules remain in them,
// they go, so the host looks as before. (Per-pod chains are leaks.)
function dropPortmapChains() {
  const had = new Set(before.rules);
  const nat = sh('iptables-save', ['-t', 'nat']);
  if (/-A CNI-HOSTPORT-DNAT /.test(nat) || /^:CNI-DN-/m.test(nat)) return;
  const chains = nat.split('\n').filter((l) => /^:CNI-HOSTPORT-/.test(l)).map((l) => l.split(' ')[0].slice(1))
    .filter((c) => !had.has(`:${c} - `));
  for (const chain of chains) {
    for (const rule of nat.split('\n').filter((l) => l.startsWith('-A ') && l.includes(`-j ${chain}`))) {
      sh('sh', ['-c', `iptables -t nat ${rule.replace(/^-A /, '-D ')}`]);
    }
  }
  for (const chain of chains) {
    sh('iptables', ['-t', 'nat', '-F', chain]);
    sh('iptables', ['-t', 'nat', '-X', chain]);
  }
}
dropPortmapChains();
const after = snapshot();
const leaks = [];
for (const key of Object.keys(after)) {
  const had = new Set(before[key]);
  const extra = after[key].filter((x) => !had.has(x));
  if (extra.length) leaks.push(`${key}: ${extra.join(', ')}`);
}
if (leaks.length) {
  console.error('\nleak check FAILED: the tests left these behind:\n  ' + leaks.join('\n  '));
  process.exit(1);
}
console.log('leak check: nothing left behind');
process.exit(status);
