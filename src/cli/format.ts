// Output helpers shared by the CLI commands.

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('   ');
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

export function truncId(id: string, full: boolean): string {
  return full ? id : id.slice(0, 13);
}

/** `1763850000123456789` (ns) → "5 minutes ago". */
export function ago(ns: string | number | undefined, now = Date.now()): string {
  if (ns === undefined || ns === '' || ns === '0') return '';
  const ms = Number(BigInt(ns) / 1_000_000n);
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s} seconds ago`;
  if (s < 3600) return `${Math.floor(s / 60)} minutes ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} hours ago`;
  return `${Math.floor(s / 86400)} days ago`;
}

export function humanBytes(n: number | string | undefined): string {
  const v = Number(n ?? 0);
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let x = v;
  while (x >= 1000 && i < units.length - 1) {
    x /= 1000;
    i++;
  }
  return i === 0 ? `${v}B` : `${x.toFixed(x < 10 ? 2 : 1)}${units[i]}`;
}
