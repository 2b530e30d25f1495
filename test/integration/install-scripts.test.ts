// The install scripts behind `npm start` and `npm test`: which packages each
// needs, that nothing on the host is stopped or killed, that services do not
// start while packages install, and that nothing is rebuilt when nothing
// changed. apt, dpkg and root are stood in for by programs on PATH, so these
// tests install nothing and touch no file outside their own directories.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BERTHD, REPO_ROOT, tempDir } from '../helpers/daemon.js';

const INSTALL = join(REPO_ROOT, 'scripts/install-deps.sh');
// dpkg-query -W -f='${Package}\t${Status}\n' PKG…, answering "installed" for the packages `installed` (a shell pattern) matches.
const dpkgQuery = (installed: string): string =>
  `for a; do case "$a" in -*) ;; ${installed}) printf '%s\\tinstall ok installed\\n' "$a" ;; *) printf '%s\\tunknown ok not-installed\\n' "$a" ;; esac; done`;

const list = (group: string): string[] => execFileSync('bash', [INSTALL, '--list', group], { encoding: 'utf8' }).trim().split('\n');

/** A directory of stand-in programs (name → shell script body), to put first on PATH. */
function fakeBin(dir: string, programs: Record<string, string>): string {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  for (const [name, body] of Object.entries(programs)) {
    writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  }
  return bin;
}

function runScript(script: string, args: string[], env: NodeJS.ProcessEnv): { code: number | null; out: string } {
  const r = spawnSync('bash', [script, ...args], { env: { ...process.env, ...env }, encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
}

// Programs berthd runs by a name fixed in its code, and the package it needs
// for each. The test below finds every such name in src/ and fails when one is
// missing here; the rest are reached by configuration (runtime.conmon,
// runtime.infra, handler paths, CNI plugin types) or inside argument lists.
const PROGRAMS: Record<string, string> = {
  unshare: 'util-linux', nsenter: 'util-linux', ip: 'iproute2', tar: 'tar', zstd: 'zstd', setfattr: 'attr',
  script: 'bsdutils', stty: 'coreutils', socat: 'socat', cat: 'coreutils', cp: 'coreutils',
};
const CONFIGURED: Record<string, string> = {
  '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon', '/usr/bin/catatonit': 'catatonit',
  '/usr/lib/cni/bridge': 'containernetworking-plugins', '/usr/lib/cni/host-local': 'containernetworking-plugins',
  '/usr/lib/cni/portmap': 'containernetworking-plugins', '/usr/sbin/iptables': 'iptables',
  '/usr/share/containers/seccomp.json': 'golang-github-containers-common', '/usr/sbin/criu': 'criu',
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'generated' ? [] : sourceFiles(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [p] : [];
  });
}

/** The package that owns a file, as dpkg knows it (Debian 12 registers some under /bin, /sbin). */
function owner(path: string): string {
  const real = realpathSync(path);
  for (const p of new Set([real, real.replace(/^\/usr\//, '/'), path])) {
    try {
      return execFileSync('dpkg-query', ['-S', p], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split(':')[0]!;
    } catch {
      // registered under another of its paths
    }
  }
  return '';
}

test('the runtime group holds the package of every program berthd runs; test tools are not in it', () => {
  const runtime = list('runtime');
  const named = new Set<string>();
  for (const f of sourceFiles(join(REPO_ROOT, 'src'))) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/\b(?:run|spawn|spawnProcess|collectProcess)\(\s*'([\w.-]+)'/g)) named.add(m[1]!);
    for (const m of text.matchAll(/\[\s*'(socat|nsenter)'/g)) named.add(m[1]!);
  }
  assert.ok(named.has('unshare') && named.has('ip'), `found ${[...named].join(', ')}`);
  for (const n of named) {
    assert.ok(PROGRAMS[n], `berthd runs "${n}" (src/): add it and its package to this test and to the runtime group`);
  }
  for (const [program, pkg] of Object.entries(PROGRAMS)) {
    assert.ok(runtime.includes(pkg), `${program} comes from ${pkg}, not in the runtime group`);
    const path = execFileSync('bash', ['-c', `command -v ${program}`], { encoding: 'utf8' }).trim();
    assert.equal(owner(path), pkg, `${path}`);
  }
  for (const [path, pkg] of Object.entries(CONFIGURED)) {
    assert.ok(runtime.includes(pkg), `${path} comes from ${pkg}, not in the runtime group`);
    if (existsSync(path)) assert.equal(owner(path), pkg, path);
  }
  for (const testOnly of ['docker-registry', 'prometheus', 'containerd', 'skopeo', 'umoci', 'busybox-static', 'crun', 'apache2-utils', 'openssl']) {
    assert.ok(!runtime.includes(testOnly), `${testOnly} is for the tests only`);
    assert.ok(list('test').includes(testOnly), `${testOnly} is in the test group`);
  }
  assert.deepEqual(list('build'), ['gcc', 'libc6-dev']);
  assert.deepEqual(execFileSync('bash', [INSTALL, '--list', 'runtime', 'build'], { encoding: 'utf8' }).trim().split('\n'), [...runtime, 'gcc', 'libc6-dev']);
});

test('the scripts stop, kill or restart nothing', () => {
  for (const script of ['install-deps.sh', 'prepare.sh', 'start.sh', 'test.sh']) {
    const code = readFileSync(join(REPO_ROOT, 'scripts', script), 'utf8').split('\n').filter((l) => !/^\s*#/.test(l)).join('\n');
    assert.doesNotMatch(code, /\b(pkill|killall|kill)\b|\bservice\s+\S+\s+(stop|restart)|systemctl\s+(stop|kill|restart)|invoke-rc\.d/, script);
  }
});

test('npm start installs the runtime and build groups only, npm test all three; nothing at all when nothing is missing', () => {
  const dir = tempDir('berth-deps-');
  try {
    const calls = join(dir, 'calls');
    const missingAll = fakeBin(join(dir, 'none'), { 'dpkg-query': dpkgQuery('__none__'), 'apt-get': `echo "apt-get $*" >> ${calls}` });
    const start = runScript(INSTALL, ['--dry-run', 'runtime', 'build'], { PATH: `${missingAll}:${process.env.PATH}` });
    assert.equal(start.code, 0, start.out);
    assert.match(start.out, new RegExp(`would install: ${[...list('runtime'), 'gcc', 'libc6-dev'].join(' ')}\n`));
    const all = runScript(INSTALL, ['--dry-run', 'runtime', 'build', 'test'], { PATH: `${missingAll}:${process.env.PATH}` });
    for (const p of ['docker-registry', 'prometheus', 'containerd', 'busybox-static']) assert.match(all.out, new RegExp(`would install: .*\\b${p}\\b`));
    assert.ok(!existsSync(calls), 'a dry run runs no apt-get');

    const present = fakeBin(join(dir, 'all'), { 'dpkg-query': dpkgQuery('*'), 'apt-get': `echo "apt-get $*" >> ${calls}` });
    const quiet = runScript(INSTALL, ['runtime', 'build', 'test'], { PATH: `${present}:${process.env.PATH}` });
    assert.deepEqual(quiet, { code: 0, out: '' });
    assert.ok(!existsSync(calls), 'no apt-get update when nothing is missing');
    assert.equal(runScript(INSTALL, ['everything'], {}).code, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('services cannot start while packages install: a policy-rc.d of its own, removed after; the host\'s own left as it is', () => {
  const dir = tempDir('berth-deps-');
  try {
    const calls = join(dir, 'calls');
    const policy = join(dir, 'policy-rc.d');
    // apt-get records, at each call, whether starting a service is allowed (what invoke-rc.d asks).
    const bin = fakeBin(dir, {
      'dpkg-query': dpkgQuery('[!c]*|conmon|coreutils|catatonit|containernetworking-plugins|crun|criu'),
      'apt-get': `if [ -x ${policy} ]; then ${policy} containerd start; echo "apt-get $* policy=$?" >> ${calls}; else echo "apt-get $* policy=none" >> ${calls}; fi`,
      id: 'echo 0',
    });
    const env = { PATH: `${bin}:${process.env.PATH}`, POLICY_RC_D: policy };
    const r = runScript(INSTALL, ['runtime', 'test'], env);
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(readFileSync(calls, 'utf8').trim().split('\n'), [
      'apt-get update -qq policy=101',
      'apt-get install -y -qq --no-install-recommends containerd policy=101',
    ]);
    assert.ok(!existsSync(policy), 'the policy written for the install is gone');

    rmSync(calls);
    writeFileSync(policy, '#!/bin/sh\n# the administrator\'s\nexit 0\n');
    chmodSync(policy, 0o755);
    const before = statSync(policy).mtimeMs;
    assert.equal(runScript(INSTALL, ['test'], env).code, 0);
    assert.match(readFileSync(calls, 'utf8'), /policy=0/);
    assert.equal(readFileSync(policy, 'utf8'), '#!/bin/sh\n# the administrator\'s\nexit 0\n');
    assert.equal(statSync(policy).mtimeMs, before);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('prepare.sh builds only when an input changed', () => {
  const dir = tempDir('berth-prep-');
  try {
    // A project of the same shape whose gen and build record that they ran.
    for (const s of ['prepare.sh', 'install-deps.sh', 'build-native.sh']) {
      mkdirSync(join(dir, 'scripts'), { recursive: true });
      copyFileSync(join(REPO_ROOT, 'scripts', s), join(dir, 'scripts', s));
    }
    writeFileSync(join(dir, 'package.json'), JSON.stringify({
      name: 'prep', private: true,
      scripts: { gen: 'mkdir -p src/cri/generated && echo gen >> calls', build: 'mkdir -p dist/src/bin && touch dist/src/bin/berthd.js && echo build >> calls' },
    }));
    writeFileSync(join(dir, 'package-lock.json'), '{}\n');
    mkdirSync(join(dir, 'node_modules'));
    writeFileSync(join(dir, 'node_modules/.berth-lock'), '{}\n');
    writeFileSync(join(dir, 'tsconfig.json'), '{}\n');
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'src/a.ts'), 'export const a = 1;\n');
    // The native module is built already for this Node.js, so build-native.sh has nothing to do.
    mkdirSync(join(dir, 'native'));
    writeFileSync(join(dir, 'native/berth_native.c'), '');
    writeFileSync(join(dir, 'native/seccomp_notify.c'), '');
    mkdirSync(join(dir, 'dist/native'), { recursive: true });
    writeFileSync(join(dir, 'dist/native/berth_native.node'), '');
    writeFileSync(join(dir, 'dist/native/.node-version'), `${process.version}\n`);
    const bin = fakeBin(dir, { 'dpkg-query': dpkgQuery('*') });
    const env = { PATH: `${bin}:${dirname(process.execPath)}:${process.env.PATH}` };
    const prepare = (): string => {
      const r = runScript(join(dir, 'scripts/prepare.sh'), ['start'], env);
      assert.equal(r.code, 0, r.out);
      return existsSync(join(dir, 'calls')) ? readFileSync(join(dir, 'calls'), 'utf8') : '';
    };
    assert.equal(prepare(), 'gen\nbuild\n');
    assert.equal(prepare(), 'gen\nbuild\n', 'nothing changed: no gen, no build');
    writeFileSync(join(dir, 'src/a.ts'), 'export const a = 1;\n'); // rewritten, same content
    assert.equal(prepare(), 'gen\nbuild\n');
    writeFileSync(join(dir, 'src/a.ts'), 'export const a = 2;\n');
    assert.equal(prepare(), 'gen\nbuild\ngen\nbuild\n', 'a source changed');
    rmSync(join(dir, 'dist/src/bin/berthd.js'));
    assert.equal(prepare(), 'gen\nbuild\ngen\nbuild\ngen\nbuild\n', 'the output went missing');
    assert.equal(runScript(join(dir, 'scripts/prepare.sh'), [], env).code, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('deploy/systemd/berthd.service: the directives a runtime needs, flags berthd accepts, a unit systemd accepts; the README installs it', (t) => {
  const unitFile = join(REPO_ROOT, 'deploy/systemd/berthd.service');
  const unit = readFileSync(unitFile, 'utf8');
  const directive = (key: string): string[] => [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]!);
  assert.deepEqual(directive('Type'), ['simple']);
  assert.deepEqual(directive('KillMode'), ['process']);
  assert.deepEqual(directive('Delegate'), ['yes']);
  assert.deepEqual(directive('Restart'), ['on-failure']);
  const [binary, ...flags] = directive('ExecStart')[0]!.split(/\s+/);
  assert.equal(binary, '/opt/berth/dist/src/bin/berthd.js');
  assert.deepEqual(flags, ['--daemon-socket-group', 'berth']);
  // The flags parse (config check validates them without starting anything).
  const checked = spawnSync(process.execPath, [BERTHD, '--config', '/dev/null', ...flags, 'config', 'check'], { encoding: 'utf8' });
  assert.equal(checked.status, 0, checked.stderr);
  assert.equal((JSON.parse(checked.stdout) as { daemon: { socket_group: string } }).daemon.socket_group, 'berth');

  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const install = /## Install on a node \(systemd\)\n([\s\S]*?)\n## /.exec(readme)?.[1] ?? '';
  for (const step of ['cp deploy/systemd/berthd.service /etc/systemd/system/', 'systemctl enable --now berthd', 'groupadd --system berth', 'bash scripts/prepare.sh start']) {
    assert.ok(install.includes(step), `README install section: ${step}`);
  }
  assert.ok(install.includes('/opt/berth/dist/src/bin/berthd.js'), 'the README makes the unit\'s ExecStart executable');

  const analyze = spawnSync('bash', ['-c', 'command -v systemd-analyze'], { encoding: 'utf8' }).stdout.trim();
  if (!analyze) {
    t.diagnostic('systemd-analyze is not installed: the unit was not verified by systemd');
    return;
  }
  // systemd checks the unit as it would load it; ExecStart points at a stand-in with the installed binary's name.
  const dir = tempDir('berth-unit-');
  try {
    const stand = join(dir, 'opt/berth/dist/src/bin/berthd.js');
    mkdirSync(dirname(stand), { recursive: true });
    writeFileSync(stand, '#!/bin/sh\n');
    chmodSync(stand, 0o755);
    writeFileSync(join(dir, 'berthd.service'), unit.replaceAll('/opt/berth/', `${dir}/opt/berth/`));
    const v = spawnSync(analyze, ['verify', join(dir, 'berthd.service')], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(v.status, 0, v.stderr);
    assert.equal(v.stderr.split('\n').filter((l) => l.includes('berthd.service')).join('\n'), '', 'systemd has no complaint about the unit');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
