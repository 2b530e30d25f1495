// Node's timers take a delay in signed 32-bit milliseconds: anything larger
// (about 24.8 days and up) is replaced by 1 ms with only a warning, so a
// caller's "very long" timeout fires at once. Every delay that comes from a
// request goes through here.

/** The largest delay setTimeout honours. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Whole seconds that still fit a timer once multiplied by 1000. */
export const MAX_TIMER_SECONDS = Math.floor(MAX_TIMER_MS / 1000);

/** A delay setTimeout keeps: negative and NaN become 0, too large becomes the maximum. */
export function clampTimerMs(ms: number): number {
  if (!(ms > 0)) return 0;
  return Math.min(ms, MAX_TIMER_MS);
}
