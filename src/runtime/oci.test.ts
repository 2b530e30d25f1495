import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OciRuntime } from './oci.js';

const which = (cmd: string): string => execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim();

function conmonsOf(id: string): string[] {
  const out = execFileSync('ps', ['-e', '-o', 'args='], { encoding: 'utf8' }).split('\n');
  return out.filter((l) => l.includes('conmon') && l.includes(` -c ${id} `));
}

test('a held conmon never runs the runtime: abort kills it, a bad bundle reports the runtime\'s error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-oci-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const d of ['bundle', 'exits', 'sockets', 'persist']) mkdirSync(join(dir, d));
  const rt = new OciRuntime('runc', which('runc'), join(dir, 'runc'));
  const opts = (id: string) => ({
    conmon: which('conmon'), id, name: id, bundle: join(dir, 'bundle'), exitDir: join(dir, 'exits'), socketDir: join(dir, 'sockets'),
    persistDir: join(dir, 'persist'), logPath: join(dir, 'bundle', `${id}.log`), stdin: false, tty: false,
  });

  const held = rt.launchConmon(opts('berth-oci-held'));
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(conmonsOf('berth-oci-held').length, 1, 'conmon waits on its start pipe');
  held.abort();
  const deadline = Date.now() + 2000;
  while (conmonsOf('berth-oci-held').length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(conmonsOf('berth-oci-held').length, 0, 'aborted conmon is gone');
  assert.equal(existsSync(join(dir, 'runc', 'berth-oci-held')), false, 'the runtime never created anything');

  // No config.json in the bundle: released, conmon runs runc, which refuses.
  const bad = rt.launchConmon(opts('berth-oci-bad'));
  await assert.rejects(bad.create(), /runc create failed.*config\.json/s);
});
