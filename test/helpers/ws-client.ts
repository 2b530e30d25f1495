// A WebSocket client for the Kubernetes channel protocols, for tests, written
// from the protocol description (each message: a channel byte, then data;
// base64 variants: the channel as an ASCII digit, then base64 text; v5's
// close message is [255, channel]). Port-forward: channel 2i data and 2i+1
// error for the i-th port, each opened by the port as 2 bytes little-endian.
import WebSocket from 'ws';

export class WsChannels {
  readonly data = new Map<number, Buffer[]>();
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket, readonly base64: boolean) {
    ws.on('message', (msg: Buffer, isBinary: boolean) => {
      let ch: number;
      let payload: Buffer;
      if (this.base64 && !isBinary) {
        const s = msg.toString();
        ch = s.charCodeAt(0) - 48;
        payload = Buffer.from(s.slice(1), 'base64');
      } else {
        ch = msg[0]!;
        payload = msg.subarray(1);
      }
      if (!this.data.has(ch)) this.data.set(ch, []);
      this.data.get(ch)!.push(payload);
      this.waiters.splice(0).forEach((w) => w());
    });
    this.closed = new Promise((r) => ws.once('close', (code, reason) => {
      r({ code, reason: reason.toString() });
      this.waiters.splice(0).forEach((w) => w());
    }));
  }

  static connect(url: string, protocols: string[]): Promise<WsChannels> {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), protocols);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new WsChannels(ws, ws.protocol.includes('base64'))));
      ws.once('unexpected-response', (_req, res) => {
        reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode }));
        ws.terminate();
      });
      ws.once('error', reject);
    });
  }

  get protocol(): string {
    return this.ws.protocol;
  }

  send(channel: number, data: Buffer | string): void {
    const b = Buffer.from(data);
    if (this.base64) this.ws.send(String.fromCharCode(48 + channel) + b.toString('base64'));
    else this.ws.send(Buffer.concat([Buffer.from([channel]), b]));
  }

  /** v5: no more stdin. */
  closeChannel(channel: number): void {
    this.ws.send(Buffer.from([255, channel]));
  }

  bytes(channel: number): Buffer {
    return Buffer.concat(this.data.get(channel) ?? []);
  }

  text(channel: number): string {
    return this.bytes(channel).toString();
  }

  /** Waits until `pred` holds (checked on every message) or the socket closes. */
  async until(pred: () => boolean, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    let isClosed = false;
    void this.closed.then(() => (isClosed = true));
    while (!pred()) {
      if (isClosed) throw new Error('websocket closed before the condition held');
      if (Date.now() > deadline) throw new Error('timed out');
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
  }

  close(): void {
    this.ws.close();
  }
}

export async function wsCommand(
  url: string,
  o: { stdin?: string; protocols?: string[] },
): Promise<{ stdout: string; stderr: string; error: string; protocol: string }> {
  const c = await WsChannels.connect(url, o.protocols ?? ['v5.channel.k8s.io', 'v4.channel.k8s.io']);
  if (o.stdin !== undefined) {
    c.send(0, o.stdin);
    c.closeChannel(0);
  }
  await c.closed;
  return { stdout: c.text(1), stderr: c.text(2), error: c.text(3), protocol: c.protocol };
}
