// CNI specification versions Berth speaks, and which operations each has.

/** Versions whose result format Berth reads; 0.1.0/0.2.0 used another one. */
export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;

function parts(v: string): number[] {
  return v.split('.').map((x) => Number(x));
}

export function compareVersions(a: string, b: string): number {
  const pa = parts(a);
  const pb = parts(b);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function isSupported(v: string): boolean {
  return (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

/** CHECK, and prevResult on DEL, arrived in 0.4.0. */
export const hasCheck = (v: string): boolean => compareVersions(v, '0.4.0') >= 0;
export const hasDelPrevResult = hasCheck;
/** STATUS (and GC) arrived in 1.1.0. */
export const hasStatus = (v: string): boolean => compareVersions(v, '1.1.0') >= 0;

/** 1.1.0's `cniVersions`: the highest listed version Berth supports. */
export function pickVersion(versions: unknown[]): string | undefined {
  const ok = versions.filter((v): v is string => typeof v === 'string' && isSupported(v));
  return ok.sort(compareVersions).at(-1);
}
