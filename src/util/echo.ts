// Request values quoted back in errors and logs. A value is echoed only up
// to a bound: gRPC carries an error's message in the `grpc-message` trailer,
// and an HPACK decoder refuses a header field over 64 KiB (nghttp2's limit,
// which grpc-js's client uses) as a compression error that leaves the whole
// connection stuck, so a 128 KiB ID quoted back would stop every later call
// on a kubelet's single connection. Logs get the same bound.

/** Characters of a value kept when it is quoted back. */
export const ECHO_MAX = 256;

/** `s` cut to `max` characters, followed by its full size when it was cut. */
export function truncate(s: string, max = ECHO_MAX): string {
  if (s.length <= max) return s;
  return `${s.slice(0, max)}…(${Buffer.byteLength(s)} bytes)`;
}

/**
 * A value as an error quotes it: JSON-quoted (control characters and
 * newlines escaped, so one message stays one log line) and truncated.
 */
export function echo(v: unknown, max = ECHO_MAX): string {
  if (typeof v === 'string') return JSON.stringify(truncate(v, max));
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (v === null || v === undefined) return String(v);
  return truncate(JSON.stringify(v) ?? String(v), max);
}
