// Node's timers hold a delay of at most 2^31-1 ms (about 24.8 days); a longer
// one fires after 1 ms instead. CRI timeouts come from the request and may be
// any int64 of seconds, so every user-given delay goes through here.
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A delay Node can hold: beyond ~24.8 days it waits that long, which is as good as forever for a CRI call. */
export function clampTimerMs(ms: number): number {
  if (!Number.isFinite(ms)) return MAX_TIMER_MS;
  return Math.min(Math.max(0, ms), MAX_TIMER_MS);
}
