import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  loadRuntimeDefault, parseMaintainedProfile, resolveProfile, runtimeDefaultProfile, runtimeDefaultSource,
  type MaintainedProfile, type SeccompHost, type SeccompProfile,
} from './seccomp.js';
import { BUILTIN_PROFILE } from './seccomp-builtin.js';
import { DEFAULT_CAPABILITIES } from './capabilities.js';

const AMD64: SeccompHost = { arch: 'amd64', kernel: [6, 1] };
const ARM64: SeccompHost = { arch: 'arm64', kernel: [5, 10] };
const MAINTAINED = '/usr/share/containers/seccomp.json';

/** What the filter does with an argument-less call of `name`: the action, and the errno for ERRNO. */
function decision(p: SeccompProfile, name: string): string {
  const r = p.syscalls.find((s) => !s.args && s.names.includes(name));
  const action = r?.action ?? p.defaultAction;
  const errno = r ? r.errnoRet : p.defaultErrnoRet;
  return action === 'SCMP_ACT_ERRNO' ? `ERRNO(${errno ?? 1})` : action;
}

/** A profile as a set of (action, errno, args) → names, so two profiles can be compared whatever their rule order. */
function normalised(p: SeccompProfile): Record<string, string[]> {
  const out: Record<string, Set<string>> = {};
  for (const r of p.syscalls) {
    const key = `${r.action}|${r.errnoRet ?? ''}|${JSON.stringify(r.args ?? [])}`;
    out[key] ??= new Set();
    for (const n of r.names) out[key].add(n);
  }
  const head = { [`default ${p.defaultAction} ${p.defaultErrnoRet ?? ''}`]: p.architectures ?? [] };
  return { ...head, ...Object.fromEntries(Object.entries(out).map(([k, v]) => [k, [...v].sort()])) };
}

test('conditions: every included capability needed, any excluded one drops the rule; arches; minKernel', () => {
  const p: MaintainedProfile = {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrno: 'ENOSYS',
    syscalls: [
      { names: ['both'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_A', 'CAP_B'] } },
      { names: ['unlessA'], action: 'SCMP_ACT_ERRNO', errno: 'EPERM', excludes: { caps: ['CAP_A', 'CAP_C'] } },
      { name: 'onAmd64', action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64', 'x32'] }, comment: 'x' },
      { names: ['notArm64'], action: 'SCMP_ACT_ALLOW', excludes: { arches: ['arm64'] } },
      { names: ['new'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '5.19' } },
      { names: ['old'], action: 'SCMP_ACT_ALLOW', excludes: { minKernel: '6.0' } },
      { names: ['withArgs'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, valueTwo: 0, op: 'SCMP_CMP_EQ' }] },
    ],
  };
  const names = (caps: string[], host: SeccompHost): string[] => resolveProfile(p, caps, host).syscalls.flatMap((r) => r.names);
  assert.deepEqual(names(['CAP_A'], AMD64), ['onAmd64', 'notArm64', 'new', 'withArgs']);
  assert.deepEqual(names(['CAP_A', 'CAP_B'], AMD64), ['both', 'onAmd64', 'notArm64', 'new', 'withArgs']);
  assert.deepEqual(names(['CAP_B'], ARM64), ['unlessA', 'old', 'withArgs']);
  const r = resolveProfile(p, [], AMD64);
  assert.equal(r.defaultErrnoRet, 38, 'an errno given by name becomes its number');
  assert.deepEqual(r.syscalls[0], { names: ['unlessA'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 });
  assert.deepEqual(r.syscalls[1], { names: ['onAmd64'], action: 'SCMP_ACT_ALLOW' }, 'conditions and comments do not reach the runtime');
  assert.equal(r.architectures, undefined, 'no archMap: the runtime filters its native ABI');
});

test('archMap: the native architecture and its secondary ABIs; an architecture the map lacks gets its own only', () => {
  assert.deepEqual(resolveProfile(BUILTIN_PROFILE, [], AMD64).architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  assert.deepEqual(resolveProfile(BUILTIN_PROFILE, [], ARM64).architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  assert.deepEqual(resolveProfile(BUILTIN_PROFILE, [], { arch: 'riscv64', kernel: [6, 1] }).architectures, ['SCMP_ARCH_RISCV64']);
  const listed = resolveProfile({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'] }, [], ARM64);
  assert.deepEqual(listed.architectures, ['SCMP_ARCH_X86_64']);
});

test('the built-in policy: getrandom and keyctl allowed, sethostname only with SYS_ADMIN, unknown calls ENOSYS', () => {
  const plain = resolveProfile(BUILTIN_PROFILE, DEFAULT_CAPABILITIES, AMD64);
  for (const n of ['getrandom', 'keyctl', 'read', 'clone', 'clone3', 'mount', 'unshare', 'arch_prctl']) assert.equal(decision(plain, n), 'SCMP_ACT_ALLOW', n);
  for (const n of ['sethostname', 'setdomainname', 'bpf', 'init_module', 'clock_settime', 'kexec_load', 'swapon', 'userfaultfd']) {
    assert.equal(decision(plain, n), 'ERRNO(1)', n);
  }
  assert.equal(decision(plain, 'add_key'), 'ERRNO(38)');
  assert.equal(decision(plain, 'chroot'), 'SCMP_ACT_ALLOW', 'CAP_SYS_CHROOT is a default capability');
  const admin = resolveProfile(BUILTIN_PROFILE, [...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN'], AMD64);
  assert.equal(decision(admin, 'sethostname'), 'SCMP_ACT_ALLOW');
  const none = resolveProfile(BUILTIN_PROFILE, [], ARM64);
  assert.equal(decision(none, 'chroot'), 'ERRNO(1)');
  assert.equal(decision(none, 'arch_prctl'), 'ERRNO(38)', 'x86 only');
  assert.equal(decision(none, 'cacheflush'), 'SCMP_ACT_ALLOW');
  // Without AUDIT_WRITE only the audit netlink socket is refused.
  const sockets = none.syscalls.filter((r) => r.names.includes('socket'));
  assert.deepEqual(sockets.map((r) => `${r.action} ${r.errnoRet ?? ''}`), ['SCMP_ACT_ERRNO 22', 'SCMP_ACT_ALLOW ', 'SCMP_ACT_ALLOW ']);
});

test('the built-in copy takes the decisions of the installed containers-common profile', (t) => {
  if (!existsSync(MAINTAINED)) {
    t.skip(`${MAINTAINED} is not installed (Debian package golang-github-containers-common)`);
    return;
  }
  const file = parseMaintainedProfile(readFileSync(MAINTAINED, 'utf8'));
  const capSets = [[], DEFAULT_CAPABILITIES, [...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN', 'CAP_SYS_PTRACE', 'CAP_SYS_TIME'], ['CAP_AUDIT_WRITE']];
  for (const host of [AMD64, ARM64, { arch: 's390x', kernel: [6, 1] as [number, number] }]) {
    for (const caps of capSets) {
      assert.deepEqual(normalised(resolveProfile(BUILTIN_PROFILE, caps, host)), normalised(resolveProfile(file, caps, host)), `${host.arch} ${caps.join(',')}`);
    }
  }
});

test('loading: the file when present, the built-in copy when absent, a malformed file refused naming the field', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-seccomp-'));
  try {
    const absent = loadRuntimeDefault(join(dir, 'none.json'));
    assert.equal(absent.source, 'builtin');
    assert.match(absent.reason ?? '', /does not exist/);
    assert.deepEqual(runtimeDefaultSource(), absent);
    const file = join(dir, 'p.json');
    writeFileSync(file, JSON.stringify({ defaultAction: 'SCMP_ACT_LOG', syscalls: [{ names: ['x'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_Q'] } }] }));
    assert.deepEqual(loadRuntimeDefault(file), { source: 'file', path: file });
    assert.deepEqual(runtimeDefaultProfile([]), { defaultAction: 'SCMP_ACT_LOG', syscalls: [] });
    assert.deepEqual(runtimeDefaultProfile(['CAP_Q']).syscalls, [{ names: ['x'], action: 'SCMP_ACT_ALLOW' }]);
    writeFileSync(file, JSON.stringify({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['x'] }] }));
    assert.throws(() => loadRuntimeDefault(file), /p\.json is not a seccomp profile: syscalls\[0\]\.action/);
    writeFileSync(file, '{');
    assert.throws(() => loadRuntimeDefault(file), /not a seccomp profile/);
    assert.equal(loadRuntimeDefault('').source, 'builtin');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
