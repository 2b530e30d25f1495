// Progress bars for `berth pull` on a terminal: polls berthd's admin socket
// for the pull's layers and redraws one bar per layer. CRI's PullImage has no
// progress channel, so without the admin socket there are simply no bars.
import { formatReference, parseReference } from '../image/reference.js';
import { adminCall } from './admin.js';
import { humanBytes } from './format.js';

interface Layer { digest: string; size: number; done: number; state: string }

function bar(l: Layer, width = 30): string {
  const frac = l.state === 'present' || l.state === 'done' ? 1 : l.size ? Math.min(1, l.done / l.size) : 0;
  const fill = Math.round(frac * width);
  const label = l.state === 'present' ? 'already present' : l.state;
  return `${l.digest.slice(7, 19)}  [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${humanBytes(String(l.done)).padStart(9)} / ${humanBytes(String(l.size)).padEnd(9)} ${label}`;
}

export function showPullProgress(socket: string, image: string): { stop(ok: boolean): Promise<void> } {
  let want: string;
  try {
    want = formatReference(parseReference(image));
  } catch {
    return { stop: async () => undefined };
  }
  let drawn = 0;
  let last: Layer[] = [];
  const draw = (layers: Layer[]): void => {
    let out = drawn ? `\x1b[${drawn}A` : '';
    for (const l of layers) out += `\x1b[2K${bar(l)}\n`;
    process.stdout.write(out);
    drawn = layers.length;
  };
  let stopped = false;
  const once = async (): Promise<boolean> => {
    try {
      const res = await adminCall(socket, 'GET', '/v1/pulls');
      const p = (res.pulls as { image: string; layers: Layer[] }[]).find((x) => x.image === want);
      if (p && p.layers.length) {
        last = p.layers;
        draw(last);
      }
      return true;
    } catch {
      return false; // no admin socket: no bars
    }
  };
  const poll = async (): Promise<void> => {
    while (!stopped && (await once())) await new Promise((r) => setTimeout(r, 150));
  };
  const running = poll();
  return {
    async stop(ok) {
      stopped = true;
      await running;
      // The daemon keeps a finished pull's layers briefly: show the final state.
      if (ok) await once();
      if (drawn && ok) draw(last.map((l) => ({ ...l, done: l.state === 'present' ? l.done : l.size, state: l.state === 'present' ? l.state : 'done' })));
    },
  };
}
