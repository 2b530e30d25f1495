import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { loadConfig, ConfigError, renderDefaultToml, renderConfigDocs, getPath } from './config.js';
import { KEYS } from './keys.js';

function withFile(text: string, fn: (path: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'berth-cfg-'));
  const p = join(dir, 'berth.toml');
  writeFileSync(p, text);
  try {
    fn(p);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('defaults: every key has its documented default', () => {
  const cfg = loadConfig();
  for (const k of KEYS) {
    if (k.path === 'daemon.listen') assert.equal(cfg.daemon.listen, '/run/berth/berth.sock');
    else if (k.path === 'network.cni_cache_dir') assert.equal(cfg.network.cni_cache_dir, '/var/lib/berth/cni-cache');
    else assert.deepEqual(getPath(cfg, k.path), k.default, k.path);
  }
  assert.equal(cfg.runtime.handlers.runc.root, '/run/berth/runtime/runc');
});

test('the default file parses back to the defaults', () => {
  withFile(renderDefaultToml(), (p) => {
    assert.deepEqual(loadConfig({ file: p, fileRequired: true }), loadConfig());
  });
  // and is valid TOML with every key present
  const parsed = parseToml(renderDefaultToml());
  for (const k of KEYS) assert.notEqual(getPath(parsed, k.path), undefined, k.path);
});

test('a file overrides defaults and derived paths follow the state dir', () => {
  withFile('[daemon]\nstate = "/tmp/x/state"\nroot = "/tmp/x/root"\n[image]\nmax_concurrent_downloads = 5\n', (p) => {
    const cfg = loadConfig({ file: p });
    assert.equal(cfg.daemon.listen, '/tmp/x/state/berth.sock');
    assert.equal(cfg.image.max_concurrent_downloads, 5);
    assert.equal(cfg.runtime.handlers.crun.root, '/tmp/x/state/runtime/crun');
  });
});

test('unknown keys stop loading with the key and file named', () => {
  withFile('[daemon]\nlog_levle = "info"\n', (p) => {
    assert.throws(() => loadConfig({ file: p }), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.key, 'daemon.log_levle');
      assert.match(e.message, new RegExp(p.replace(/[/.]/g, '\\$&')));
      return true;
    });
  });
  withFile('[nosuchsection]\nx = 1\n', (p) => {
    assert.throws(() => loadConfig({ file: p }), /key "nosuchsection": unknown key/);
  });
});

test('bad values are refused naming the key', () => {
  const cases: [string, RegExp][] = [
    ['[daemon]\nlog_level = "loud"\n', /daemon\.log_level.*one of/],
    ['[daemon]\nroot = "relative/path"\n', /daemon\.root.*absolute/],
    ['[image]\nmax_concurrent_downloads = 0\n', /image\.max_concurrent_downloads.*at least 1/],
    ['[image]\nmax_concurrent_downloads = "3"\n', /image\.max_concurrent_downloads.*integer/],
    ['[network]\nsubnet = "10.88.0.0"\n', /network\.subnet.*CIDR/],
    ['[metrics]\naddress = "nope"\n', /metrics\.address/],
    ['[runtime]\ndefault_handler = "kata"\n', /runtime\.default_handler.*kata/],
    ['[runtime]\nconmon_cgroup = "berth.conmon"\n', /runtime\.conmon_cgroup.*"pod" or an absolute/],
    ['[runtime]\nconmon_cgroup = "/"\n', /runtime\.conmon_cgroup.*root cgroup/],
    ['[runtime]\nconmon_cgroup = "/berth/"\n', /runtime\.conmon_cgroup.*cgroup_parent/],
    ['[runtime]\ncgroup_parent = "/kube/berth"\nconmon_cgroup = "/kube"\n', /runtime\.conmon_cgroup.*nor above it/],
    ['[runtime]\nlog_size_max = 4096\n', /runtime\.log_size_max.*at least 8192/],
    ['[runtime]\nlog_size_max = -2\n', /runtime\.log_size_max.*at least -1/],
    ['[runtime.handlers.x]\npath = "x"\n', /runtime\.handlers\.x\.path.*absolute/],
    ['[runtime.handlers.x]\nbogus = 1\npath = "/x"\n', /runtime\.handlers\.x\.bogus.*unknown/],
    ['[registries."r.example:5000"]\nmirrors = "http://m"\n', /registries\.r\.example:5000\.mirrors.*array/],
    ['not toml at all [', /invalid TOML/],
  ];
  for (const [text, re] of cases) {
    withFile(text, (p) => assert.throws(() => loadConfig({ file: p }), re, text));
  }
});

test('runtime.conmon_cgroup: pod, or a cgroup of its own beside or below the pods\' parent; log_size_max: no limit or at least 8 KiB', () => {
  assert.equal(loadConfig().runtime.conmon_cgroup, 'pod');
  for (const v of ['/berth.conmon', '/berth/conmon', '/system.slice/berth-conmon']) {
    assert.equal(loadConfig({ overrides: { 'runtime.conmon_cgroup': v } }).runtime.conmon_cgroup, v);
  }
  for (const v of ['-1', '0', '8192']) assert.equal(loadConfig({ overrides: { 'runtime.log_size_max': v } }).runtime.log_size_max, Number(v));
});

test('flags override the file and are type-checked', () => {
  withFile('[daemon]\nlog_level = "warn"\n', (p) => {
    const cfg = loadConfig({ file: p, overrides: { 'daemon.log_level': 'debug', 'image.pinned': 'a,b', 'network.ip_masq': 'true' } });
    assert.equal(cfg.daemon.log_level, 'debug');
    assert.deepEqual(cfg.image.pinned, ['a', 'b']);
    assert.equal(cfg.network.ip_masq, true);
  });
  assert.throws(() => loadConfig({ overrides: { 'streaming.port': 'abc' } }), /streaming\.port.*integer/);
  assert.throws(() => loadConfig({ overrides: { 'no.such': '1' } }), /no\.such/);
});

test('a missing default file is fine, a missing named one is not', () => {
  assert.doesNotThrow(() => loadConfig({ file: '/nonexistent/berth.toml' }));
  assert.throws(() => loadConfig({ file: '/nonexistent/berth.toml', fileRequired: true }), /cannot read/);
});

test('docs/config.md carries the generated reference', () => {
  const docs = readFileSync(new URL('../../../docs/config.md', import.meta.url), 'utf8');
  assert.ok(docs.includes(renderConfigDocs()), 'docs/config.md is out of date: run `node dist/src/bin/berthd.js config docs`');
});
