// The exec protocol against small script plugins: chaining, reverse DEL with
// the cached result, error objects, a hung plugin, STATUS and CHECK by version.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addNetworkList, delNetworkList, checkNetworkList, statusNetworkList } from './ops.js';
import { CniPluginError } from './exec.js';
import type { Attachment, NetConfList } from './types.js';

let dir: string;
let log: string;

/** A plugin that records its command, env and stdin, then prints a result naming itself. */
function recorder(name: string): void {
  writeFileSync(join(dir, name), `#!/bin/sh
in=$(cat)
n=$(ls ${log} | wc -l)
printf '%s\\n%s\\n%s\\n%s\\n' "$CNI_COMMAND" "$CNI_IFNAME" "$CNI_ARGS" "$in" > ${log}/$(printf %03d $n)-${name}
printf '{"cniVersion":"1.0.0","ips":[{"address":"10.9.0.%s/24"}],"by":"${name}"}' $((n + 2))
`, { mode: 0o755 });
}

const att: Attachment = { containerId: 'c1', netns: '/proc/self/ns/net', ifName: 'eth0', args: [['K8S_POD_NAME', 'p']], capabilityArgs: { portMappings: [{ hostPort: 1 }] } };
const opts = (): { binDirs: string[]; timeoutMs: number } => ({ binDirs: ['/nonexistent', dir], timeoutMs: 2000 });

function calls(): { cmd: string; plugin: string; stdin: Record<string, unknown>; args: string }[] {
  return readdirSync(log).sort().map((f) => {
    const [cmd, , args, ...rest] = readFileSync(join(log, f), 'utf8').split('\n');
    return { cmd: cmd!, plugin: f.slice(4), args: args!, stdin: JSON.parse(rest.join('\n')) };
  });
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'berth-cni-'));
  log = join(dir, 'log');
  recorder('one');
  recorder('two');
  writeFileSync(join(dir, 'fails'), '#!/bin/sh\ncat >/dev/null\necho \'{"cniVersion":"1.0.0","code":11,"msg":"address pool exhausted","details":"10.9.0.0/24 has no free address"}\'\nexit 1\n', { mode: 0o755 });
  writeFileSync(join(dir, 'hangs'), '#!/bin/sh\nexec sleep 30\n', { mode: 0o755 });
  writeFileSync(join(dir, 'garbage'), '#!/bin/sh\ncat >/dev/null\necho oops >&2\nexit 3\n', { mode: 0o755 });
});

after(() => rmSync(dir, { recursive: true, force: true }));

function freshLog(): void {
  rmSync(log, { recursive: true, force: true });
  mkdirSync(log);
}

test('ADD chains prevResult in order; DEL runs in reverse with the cached result', async () => {
  freshLog();
  const list: NetConfList = { cniVersion: '1.0.0', name: 'n', disableCheck: false, plugins: [{ type: 'one' }, { type: 'two', capabilities: { portMappings: true } }] };
  const res = await addNetworkList(list, att, opts());
  assert.equal(res.by, 'two');
  await delNetworkList(list, att, res, opts());
  const c = calls();
  assert.deepEqual(c.map((x) => `${x.cmd} ${x.plugin}`), ['ADD one', 'ADD two', 'DEL two', 'DEL one']);
  assert.equal(c[0]!.stdin.prevResult, undefined);
  assert.equal((c[1]!.stdin.prevResult as { by: string }).by, 'one');
  assert.deepEqual(c[1]!.stdin.runtimeConfig, { portMappings: [{ hostPort: 1 }] });
  assert.equal(c[0]!.stdin.runtimeConfig, undefined);
  assert.equal((c[2]!.stdin.prevResult as { by: string }).by, 'two');
  assert.equal(c[0]!.args, 'K8S_POD_NAME=p');
});

test('0.3.1 DEL gets no prevResult and has no CHECK; 1.0.0 CHECK runs in order', async () => {
  freshLog();
  const old: NetConfList = { cniVersion: '0.3.1', name: 'n', disableCheck: false, plugins: [{ type: 'one' }] };
  await delNetworkList(old, att, { cniVersion: '0.3.1' }, opts());
  assert.equal(calls()[0]!.stdin.prevResult, undefined);
  assert.equal(await checkNetworkList(old, att, { cniVersion: '0.3.1' }, opts()), false);
  const cur: NetConfList = { cniVersion: '1.0.0', name: 'n', disableCheck: false, plugins: [{ type: 'one' }, { type: 'two' }] };
  assert.equal(await checkNetworkList(cur, att, { cniVersion: '1.0.0' }, opts()), true);
  assert.equal(await checkNetworkList({ ...cur, disableCheck: true }, att, { cniVersion: '1.0.0' }, opts()), false);
  assert.deepEqual(calls().slice(1).map((x) => `${x.cmd} ${x.plugin}`), ['CHECK one', 'CHECK two']);
});

test('STATUS only for 1.1.0 networks, and its error is surfaced', async () => {
  freshLog();
  assert.equal(await statusNetworkList({ cniVersion: '1.0.0', name: 'n', disableCheck: false, plugins: [{ type: 'one' }] }, opts()), false);
  assert.equal(await statusNetworkList({ cniVersion: '1.1.0', name: 'n', disableCheck: false, plugins: [{ type: 'one' }] }, opts()), true);
  assert.equal(calls()[0]!.cmd, 'STATUS');
  await assert.rejects(statusNetworkList({ cniVersion: '1.1.0', name: 'n', disableCheck: false, plugins: [{ type: 'fails' }] }, opts()), /address pool exhausted/);
});

test('a plugin error object is surfaced with its code, msg and details', async () => {
  const list: NetConfList = { cniVersion: '1.0.0', name: 'n', disableCheck: false, plugins: [{ type: 'fails' }] };
  await assert.rejects(addNetworkList(list, att, opts()), (err: unknown) => {
    assert.ok(err instanceof CniPluginError);
    assert.equal(err.code, 11);
    assert.equal(err.message, 'CNI plugin fails ADD failed: address pool exhausted: 10.9.0.0/24 has no free address');
    return true;
  });
  await assert.rejects(addNetworkList({ ...list, plugins: [{ type: 'garbage' }] }, att, opts()), /CNI plugin garbage ADD failed: exit 3: oops/);
  await assert.rejects(addNetworkList({ ...list, plugins: [{ type: 'absent' }] }, att, opts()), /plugin binary "absent" not found in \/nonexistent, /);
});

test('a hung plugin is killed after the timeout', async () => {
  const list: NetConfList = { cniVersion: '1.0.0', name: 'n', disableCheck: false, plugins: [{ type: 'hangs' }] };
  const t0 = Date.now();
  await assert.rejects(addNetworkList(list, att, { ...opts(), timeoutMs: 300 }), (err: unknown) => err instanceof CniPluginError && err.timedOut && /still running after 0.3s; killed/.test(err.message));
  assert.ok(Date.now() - t0 < 5000);
});

test('DEL runs every plugin even when one fails, then reports the first error', async () => {
  freshLog();
  const list: NetConfList = { cniVersion: '1.0.0', name: 'n', disableCheck: false, plugins: [{ type: 'one' }, { type: 'fails' }] };
  await assert.rejects(delNetworkList(list, att, undefined, opts()), /address pool exhausted/);
  assert.deepEqual(calls().map((x) => `${x.cmd} ${x.plugin}`), ['DEL one']);
});
