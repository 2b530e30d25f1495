// A reader for the Prometheus text exposition format (what /metrics serves),
// enough for `berth slo`: samples with their labels, comments skipped.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseLabels(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?/gy;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    out[m[1]!] = m[2]!.replace(/\\(.)/g, (_x, c: string) => (c === 'n' ? '\n' : c));
  }
  return out;
}

function parseValue(v: string): number {
  if (v === '+Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  return Number(v);
}

export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    let name: string;
    let labels: Record<string, string> = {};
    let rest: string;
    if (brace >= 0 && brace < line.indexOf(' ')) {
      name = line.slice(0, brace);
      const close = line.lastIndexOf('}');
      labels = parseLabels(line.slice(brace + 1, close));
      rest = line.slice(close + 1).trim();
    } else {
      const sp = line.indexOf(' ');
      name = line.slice(0, sp);
      rest = line.slice(sp + 1).trim();
    }
    out.push({ name, labels, value: parseValue(rest.split(/\s+/)[0]!) });
  }
  return out;
}

/** Sum of every sample of `name` whose labels include `match`. */
export function sum(samples: Sample[], name: string, match: Record<string, string> = {}): number {
  let s = 0;
  for (const x of samples) {
    if (x.name !== name) continue;
    if (Object.entries(match).some(([k, v]) => x.labels[k] !== v)) continue;
    s += x.value;
  }
  return s;
}

/** Cumulative histogram buckets of `name` (summed over other labels), sorted by upper bound. */
export function buckets(samples: Sample[], name: string): { le: number; count: number }[] {
  const by = new Map<number, number>();
  for (const x of samples) {
    if (x.name !== `${name}_bucket` || x.labels.le === undefined) continue;
    const le = parseValue(x.labels.le);
    by.set(le, (by.get(le) ?? 0) + x.value);
  }
  return [...by.entries()].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
}
