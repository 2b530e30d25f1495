// Uses of the berth CLI that hold for any CRI runtime, each checked end to
// end against an endpoint: test/integration/cli.test.ts runs them against
// berthd, cli-containerd.test.ts against Debian's containerd.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { cli, startCli, pipeline, cliOnTerminal, shellQuote, type CliProcess } from './cli.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Types `line` until the output matches `re` (the program may not be reading yet; a resize lands asynchronously). */
export async function askUntil(c: CliProcess, line: string, re: RegExp, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!re.test(c.stdout())) {
    if (Date.now() > deadline) assert.fail(`never saw ${re}; output:\n${c.stdout()}\nstderr:\n${c.stderr()}`);
    c.proc.stdin.write(line);
    await c.waitFor(re, 500).catch(() => undefined);
  }
}

/**
 * `exec`: the command's own options after the container ID, `--`, exit
 * codes; `-i` with piped stdin. A v5 server learns that stdin ended (cat
 * ends); an older one cannot, so there the command reads one line only.
 */
export async function execScenario(ep: string, ctr: string, o: { stdinClose: boolean }): Promise<void> {
  const r = await cli(ep, ['exec', ctr.slice(0, 12), 'sh', '-c', 'echo "$0 $1"; echo err >&2; exit 3', 'zero', 'one']);
  assert.equal(r.stdout, 'zero one\n');
  assert.equal(r.stderr, 'err\n');
  assert.equal(r.code, 3);
  const dashdash = await cli(ep, ['exec', ctr, '--', 'ls', '-d', '/proc']);
  assert.equal(dashdash.stdout, '/proc\n', dashdash.stderr);
  assert.equal(dashdash.code, 0);
  const reader = o.stdinClose ? 'cat' : 'head -n 1';
  const piped = await cli(ep, ['exec', '-i', ctr, 'sh', '-c', `${reader}; echo "[done $(id -u)]"`], 'through stdin\n');
  assert.equal(piped.stdout, 'through stdin\n[done 0]\n', piped.stderr);
  assert.equal(piped.code, 0);
  const failing = await cli(ep, ['exec', '-i', ctr, 'sh', '-c', 'echo to stderr >&2; exit 7']);
  assert.equal(failing.stderr, 'to stderr\n');
  assert.equal(failing.code, 7);
}

/** `exec -it` on a terminal: the remote terminal has the local size, follows a resize, and the exit code comes back. */
export async function ttyScenario(ep: string, ctr: string, dir: string): Promise<void> {
  const fifo = join(dir, `resize-${process.pid}-${Date.now()}.fifo`);
  execFileSync('mkfifo', [fifo]);
  // Opened read-write a FIFO never blocks: the line reaches the reader if there is one.
  const release = (): void => {
    const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
    writeSync(fd, 'go\n');
    closeSync(fd);
  };
  // The background subshell resizes the terminal when told; the kernel signals berth (SIGWINCH).
  // A background job's stdin is /dev/null, hence stty on /dev/tty.
  const t = cliOnTerminal(ep, ['exec', '-it', ctr, 'sh'], {
    cols: 100, rows: 30, before: `(read _ < ${shellQuote(fifo)}; stty cols 90 rows 20 < /dev/tty) &`,
  });
  try {
    await askUntil(t, 'stty size\r', /30 100\r*\n/);
    release();
    await askUntil(t, 'stty size\r', /20 90\r*\n/);
    await askUntil(t, 'tty\r', /\/dev\/pts\/\d+/);
    t.proc.stdin.write('exit 4\r');
    assert.equal(await t.exited, 4, t.stdout());
  } finally {
    release();
    t.proc.kill();
    await t.exited;
  }
}

/** `attach -i` to a container that echoes `got:<line>` and exits on `quit`. */
export async function attachScenario(ep: string, ctr: string): Promise<void> {
  const a = startCli(ep, ['attach', '-i', ctr]);
  try {
    // Output is seen from when the session starts: say hello until an answer comes back.
    await askUntil(a, 'hello\n', /got:hello/);
    a.proc.stdin.write('quit\n');
    assert.equal(await a.exited, 0, a.stderr());
  } finally {
    a.proc.kill();
  }
}

/** `port-forward` of a free local port to `remote`, where httpd serves `body` at /index.html. */
export async function portForwardScenario(ep: string, pod: string, remote: number, body: string): Promise<void> {
  const pf = startCli(ep, ['port-forward', pod.slice(0, 10), `:${remote}`]);
  try {
    const said = await pf.waitFor(new RegExp(`Forwarding from 127\\.0\\.0\\.1:\\d+ -> ${remote}\\n`));
    const port = Number(/127\.0\.0\.1:(\d+)/.exec(said)![1]);
    const get = async (): Promise<string> => {
      for (let i = 0; ; i++) {
        try {
          return await (await fetch(`http://127.0.0.1:${port}/index.html`)).text();
        } catch (err) {
          // httpd may still be starting in the pod.
          if (i > 50) throw err;
          await sleep(100);
        }
      }
    };
    assert.equal(await get(), body);
    // Several at once: each connection is a session of its own.
    assert.deepEqual(await Promise.all([get(), get(), get(), get()]), Array(4).fill(body));
  } finally {
    pf.proc.kill('SIGTERM');
  }
  assert.equal(await pf.exited, 0, pf.stderr());
  assert.equal(pf.stderr(), '');
}

/** `statsp`: a table with the pod's name and namespace; -o json and -o yaml agree on the pods. */
export async function statspScenario(ep: string, pod: string, name: string, namespace: string): Promise<void> {
  const out = await cli(ep, ['statsp', '-s', '1']);
  assert.equal(out.code, 0, out.stderr);
  const [header, ...rows] = out.stdout.trim().split('\n');
  assert.match(header!, /^POD\s+NAMESPACE\s+POD ID\s+CPU %\s+MEM$/);
  const row = rows.find((r) => r.includes(pod.slice(0, 13)));
  assert.match(row ?? '', new RegExp(`^${name}\\s+${namespace}\\s+[0-9a-f]{13}\\s+\\d+\\.\\d\\d\\s+\\d`), out.stdout);
  const asJson = JSON.parse((await cli(ep, ['statsp', pod, '-o', 'json'])).stdout) as { stats: { attributes: { id: string } }[] };
  assert.deepEqual(asJson.stats.map((s) => s.attributes.id), [pod]);
  const asYaml = parseYaml((await cli(ep, ['statsp', pod, '-o', 'yaml'])).stdout) as typeof asJson;
  assert.deepEqual(asYaml.stats.map((s) => s.attributes.id), [pod]);
}

/** `ps`: the POD and POD NAMESPACE columns, and the namespace filter. */
export async function psScenario(ep: string, c: { id: string; name: string; pod: string; podName: string; namespace: string }): Promise<void> {
  const ps = await cli(ep, ['ps', '--id', c.id]);
  const [header, row] = ps.stdout.trim().split('\n');
  assert.match(header!, /^CONTAINER\s+IMAGE\s+CREATED\s+STATE\s+NAME\s+ATTEMPT\s+POD ID\s+POD\s+POD NAMESPACE$/);
  assert.match(row!, new RegExp(`^${c.id.slice(0, 13)}\\s.*\\sRUNNING\\s+${c.name}\\s+0\\s+${c.pod.slice(0, 13)}\\s+${c.podName}\\s+${c.namespace}$`));
  assert.match((await cli(ep, ['ps', '-q', '--namespace', c.namespace.slice(0, -1)])).stdout, new RegExp(c.id));
  assert.equal((await cli(ep, ['ps', '-q', '--namespace', 'elsewhere'])).stdout, '');
}

/**
 * A document with what moves between two calls (counters, ages, times)
 * zeroed, and what a Go runtime gives in any order (map keys, list items)
 * sorted.
 */
function stable(v: unknown, key = ''): string {
  const norm = (x: unknown, k: string): unknown => {
    if (Array.isArray(x)) return x.map((e) => norm(e, '')).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    if (x && typeof x === 'object') return Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b)).map(([kk, e]) => [kk, norm(e, kk)]));
    return /(usage|bytes|timestamp|At$|nano|value|inodes)/i.test(k) ? 0 : x;
  };
  return JSON.stringify(norm(v, key));
}

/** Every command with -o json gives the same document with -o yaml. */
export async function yamlScenario(ep: string, commands: string[][]): Promise<void> {
  for (const args of commands) {
    const j = await cli(ep, [...args, '-o', 'json']);
    const y = await cli(ep, [...args, '-o', 'yaml']);
    assert.equal(j.code, 0, `${args.join(' ')}: ${j.stderr}`);
    assert.equal(y.code, 0, `${args.join(' ')}: ${y.stderr}`);
    assert.equal(stable(parseYaml(y.stdout)), stable(JSON.parse(j.stdout)), args.join(' '));
  }
  const bad = await cli(ep, ['ps', '-o', 'xml']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /unsupported output format "xml"/);
}

/**
 * Output cut by a closed pipe: `ctr`'s log must hold more than a pipe
 * buffer and end with a line `last`.
 */
export async function closedPipeScenario(ep: string, ctr: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await cli(ep, ['logs', '--tail', '1', ctr])).stdout.includes('last')) {
    assert.ok(Date.now() < deadline, 'the log was never complete');
    await sleep(200);
  }
  for (const cmd of [`BERTH logs ${ctr} | head -n 2`, `BERTH logs -f ${ctr} | head -n 2`, 'BERTH ps -a | head -n 1']) {
    const r = await pipeline(ep, `set -o pipefail; ${cmd}`);
    assert.equal(r.stderr, '', `${cmd}: ${r.stderr}`);
    assert.equal(r.code, 0, cmd);
    assert.equal(r.stdout.trim().split('\n').length, cmd.includes('ps') ? 1 : 2);
  }
}

/** A container command whose log fills more than a pipe buffer, then says `last`. */
export const CHATTY = ['sh', '-c', 'i=0; while [ $i -lt 4000 ]; do echo "line $i of a log long enough to fill a pipe"; i=$((i+1)); done; echo last; sleep 1000'];
/** A container command (with stdin) that answers each line and exits on `quit`. */
export const READER = ['sh', '-c', 'while read l; do [ "$l" = quit ] && exit 0; echo "got:$l"; done'];
/** httpd on 8080 serving `hello-from-pod\n`. */
export const WEB = ['sh', '-c', 'mkdir -p /www && echo hello-from-pod > /www/index.html && exec httpd -f -p 8080 -h /www'];
