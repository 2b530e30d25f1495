// RuntimeDefault seccomp seen from inside containers: a static probe (built
// here from test/helpers/sysprobe.c) makes system calls and reports each
// errno, so the test tells what the filter refused (the profile's errno) from
// what the kernel refused by itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { podSuite, runPod, runContainer, execSync, startPodDaemon, leftovers, type PodFixture, type PodDaemon } from '../helpers/pods.js';
import { buildSysprobe, probeResults } from '../helpers/sysprobe.js';
import type { CallError } from '../../src/cli/client.js';
import { BUILTIN_PROFILE } from '../../src/container/seccomp-builtin.js';
import type { MaintainedProfile } from '../../src/container/seccomp.js';

let d: PodDaemon;
let fx: PodFixture;
podSuite({}, (f, daemon) => {
  fx = f;
  d = daemon;
});

const MAINTAINED = '/usr/share/containers/seccomp.json';
const EPERM = 1;
const ENOENT = 2;
const ENOSYS = 38;
const ENOKEY = 126;
const CALLS = ['getrandom', 'keyctl', 'request_key', 'swapon', 'sethostname', 'mount'];

/** A container with the probe mounted at /probe and the given security context. */
async function probe(daemon: PodDaemon, pod: { id: string; config: Record<string, unknown> }, securityContext: Record<string, unknown>, calls = CALLS): Promise<Record<string, number>> {
  const dir = join(daemon.dir, 'probe');
  if (!existsSync(join(dir, 'sysprobe'))) buildSysprobe(dir);
  const id = await runContainer(daemon, pod, fx.image, {
    mounts: [{ containerPath: '/probe', hostPath: dir, readonly: true }],
    linux: { securityContext },
  });
  const status = (await execSync(daemon, id, ['cat', '/proc/self/status'])).stdout;
  const mode = /^Seccomp:\s*(\d)/m.exec(status)?.[1];
  const r = await execSync(daemon, id, ['/probe/sysprobe', ...calls]);
  assert.equal(r.exitCode, 0, r.stderr);
  return { seccompMode: Number(mode), ...probeResults(r.stdout) };
}

/** What RuntimeDefault answers with the default capabilities, whichever copy of the policy is in force. */
function assertDefaultAnswers(got: Record<string, number>): void {
  assert.deepEqual(got, {
    seccompMode: 2,
    getrandom: 0, // the hand-kept list berth had before refused it: Go's crypto/rand, glibc's arc4random and TLS need it
    keyctl: ENOKEY, // allowed: the kernel looked for the keyring
    request_key: ENOSYS, // not in the profile: its default errno
    swapon: EPERM, // refused by the profile whatever the capabilities
    sethostname: EPERM, // refused by the profile without CAP_SYS_ADMIN
    mount: EPERM, // allowed by the profile, refused by the kernel without CAP_SYS_ADMIN
  });
}

test('RuntimeDefault from the maintained profile: getrandom works, refused calls stay refused, rules follow the capabilities', async () => {
  const st = await d.client.call<{ info: Record<string, string> }>('Status', { verbose: true });
  const source = JSON.parse(st.info.seccompProfile!) as { source: string; path: string };
  assert.deepEqual(source, existsSync(MAINTAINED) ? { source: 'file', path: MAINTAINED } : { source: 'builtin', path: MAINTAINED, reason: `${MAINTAINED} does not exist` });
  const pod = await runPod(d);
  assertDefaultAnswers(await probe(d, pod, { seccomp: { profileType: 'RuntimeDefault' } }));
  // With CAP_SYS_ADMIN the profile's capability rules let sethostname through; swapon stays refused by the filter.
  const admin = await probe(d, pod, { seccomp: { profileType: 'RuntimeDefault' }, capabilities: { addCapabilities: ['SYS_ADMIN'] } }, ['sethostname', 'swapon', 'request_key', 'getrandom']);
  assert.deepEqual(admin, { seccompMode: 2, sethostname: 0, swapon: EPERM, request_key: ENOSYS, getrandom: 0 });
  // Unconfined, the same calls reach the kernel: the refusals above were the filter's.
  const open = await probe(d, pod, { seccomp: { profileType: 'Unconfined' }, capabilities: { addCapabilities: ['SYS_ADMIN'] } }, ['swapon', 'request_key']);
  assert.deepEqual(open, { seccompMode: 0, swapon: ENOENT, request_key: ENOKEY });
  await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
});

test('without the maintained file the built-in copy is in force and answers the same', async () => {
  const absent = join(d.dir, 'no-such-seccomp.json');
  const b = await startPodDaemon(fx.image, { toml: `seccomp_profile = "${absent}"\n` });
  try {
    const st = await b.client.call<{ info: Record<string, string> }>('Status', { verbose: true });
    assert.equal((JSON.parse(st.info.seccompProfile!) as { source: string }).source, 'builtin');
    const pod = await runPod(b);
    assertDefaultAnswers(await probe(b, pod, { seccomp: { profileType: 'RuntimeDefault' } }));
    await b.client.call('RemovePodSandbox', { podSandboxId: pod.id });
  } finally {
    await b.stop();
    const left = leftovers(b);
    b.cleanup();
    assert.deepEqual(left, []);
  }
});

test('a Localhost profile in the maintained format is resolved for the container\'s capabilities, not handed to runc as written', async () => {
  // The test's own profile: the default policy plus a rule that allows
  // request_key only to containers holding CAP_SYS_PTRACE. runc knows no
  // `includes`: given the file as written it would allow the call to all.
  const profile: MaintainedProfile = {
    ...BUILTIN_PROFILE,
    syscalls: [...BUILTIN_PROFILE.syscalls!, { names: ['request_key'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_PTRACE'] } }],
  };
  const file = join(d.dir, 'localhost-seccomp.json');
  writeFileSync(file, JSON.stringify(profile));
  const localhost = { profileType: 'Localhost', localhostRef: file };
  const pod = await runPod(d);
  const without = await probe(d, pod, { seccomp: localhost }, ['request_key', 'getrandom']);
  assert.deepEqual(without, { seccompMode: 2, request_key: ENOSYS, getrandom: 0 }, 'without the capability: the profile\'s default errno');
  const withCap = await probe(d, pod, { seccomp: localhost, capabilities: { addCapabilities: ['SYS_PTRACE'] } }, ['request_key', 'getrandom']);
  assert.deepEqual(withCap, { seccompMode: 2, request_key: ENOKEY, getrandom: 0 }, 'with it: allowed, the kernel looked for the key');
  // A profile that is not one is refused by CreateContainer, naming the field.
  writeFileSync(file, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: 'request_key', action: 'SCMP_ACT_ERRNO' }] }));
  await assert.rejects(runContainer(d, pod, fx.image, { linux: { securityContext: { seccomp: localhost } } }),
    (e: CallError) => e.code === 9 && /localhost_ref.*syscalls\[0\]\.names/.test(e.details));
  await d.client.call('RemovePodSandbox', { podSandboxId: pod.id });
});
