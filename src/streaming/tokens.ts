// Single-use, expiring tokens naming a streaming request. The token is the
// only secret in a streaming URL: 32 random bytes, taken out of the store on
// first use, so a reused or late URL finds nothing.
import { randomBytes } from 'node:crypto';

export interface CommandOptions {
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

export type StreamRequest =
  | ({ kind: 'exec'; containerId: string; cmd: string[] } & CommandOptions)
  | ({ kind: 'attach'; containerId: string } & CommandOptions)
  | { kind: 'portforward'; podSandboxId: string; ports: number[] };

interface Entry {
  req: StreamRequest;
  expires: number;
}

export class TokenStore {
  private readonly entries = new Map<string, Entry>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly ttlMs: number, private readonly now: () => number = Date.now) {
    this.sweeper = setInterval(() => this.sweep(), Math.max(1000, Math.min(ttlMs, 60_000)));
    this.sweeper.unref();
  }

  issue(req: StreamRequest): string {
    const token = randomBytes(32).toString('base64url');
    this.entries.set(token, { req, expires: this.now() + this.ttlMs });
    return token;
  }

  /**
   * The request behind a token, once, when it is of `kind`: the token is gone
   * afterwards. A token presented for another kind of session (an exec token
   * on /attach/) is refused and stays usable for its own.
   */
  take(token: string, kind: StreamRequest['kind']): StreamRequest | undefined {
    const r = this.peek(token);
    if (!r || r.kind !== kind) return undefined;
    this.entries.delete(token);
    return r;
  }

  /** The live request behind a token, leaving it in place. */
  peek(token: string): StreamRequest | undefined {
    const e = this.entries.get(token);
    if (!e) return undefined;
    if (e.expires > this.now()) return e.req;
    this.entries.delete(token);
    return undefined;
  }

  get size(): number {
    return this.entries.size;
  }

  private sweep(): void {
    const now = this.now();
    for (const [t, e] of this.entries) if (e.expires <= now) this.entries.delete(t);
  }

  close(): void {
    clearInterval(this.sweeper);
    this.entries.clear();
  }
}
