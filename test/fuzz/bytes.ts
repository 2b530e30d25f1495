// Raw request bodies for the fuzzer: random bytes, random protobuf wire
// format, and mutations of valid serialized requests. Everything is drawn
// from a seeded generator so a failing run can be replayed with its seed.

/** mulberry32: small, fast and good enough to pick fuzz inputs. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }

  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

function varint(n: bigint): Buffer {
  const out: number[] = [];
  let v = BigInt.asUintN(64, n);
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v) byte |= 0x80;
    out.push(byte);
  } while (v);
  return Buffer.from(out);
}

const INTERESTING_VARINTS = [0n, 1n, 2n, 3n, 99n, 127n, 128n, 255n, 65535n, 65536n, 70000n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n, 2n ** 63n - 1n, -1n, -(2n ** 31n), -(2n ** 63n)];

/** A random protobuf message: well-formed wire format with random fields, sometimes nested. */
export function randomMessage(rng: Rng, depth = 0): Buffer {
  const parts: Buffer[] = [];
  const fields = rng.int(6);
  for (let i = 0; i < fields; i++) {
    const field = rng.chance(0.8) ? 1 + rng.int(20) : 1 + rng.int(2 ** 29 - 1);
    const wire = rng.pick([0, 0, 1, 2, 2, 2, 5]);
    parts.push(varint(BigInt((field << 3) | wire)));
    if (wire === 0) parts.push(varint(rng.chance(0.5) ? rng.pick(INTERESTING_VARINTS) : BigInt(rng.int(2 ** 31))));
    else if (wire === 1) parts.push(rng.bytes(8));
    else if (wire === 5) parts.push(rng.bytes(4));
    else {
      const body = depth < 3 && rng.chance(0.4) ? randomMessage(rng, depth + 1) : rng.chance(0.5) ? Buffer.from(rng.pick(TEXTS)) : rng.bytes(rng.int(64));
      parts.push(varint(BigInt(body.length)), body);
    }
  }
  return Buffer.concat(parts);
}

const TEXTS = ['', 'a', '0', '-1', '/', '..', '../../etc/passwd', 'x\0y', 'a\nb', 'ü', '\u202e', 'SIGTERM', 'CONTAINER_RUNNING', '10.0.0.0/33', 'localhost:99999/x', 'a'.repeat(300)];

/** A valid serialized request changed by a few random edits: bit flips, bytes, cuts, splices, odd lengths and varints. */
export function mutate(rng: Rng, base: Buffer, others: Buffer[]): Buffer {
  let b = Buffer.from(base);
  const edits = 1 + rng.int(6);
  for (let e = 0; e < edits; e++) {
    const at = b.length ? rng.int(b.length) : 0;
    switch (rng.int(10)) {
      case 0:
        if (b.length) b[at] ^= 1 << rng.int(8);
        break;
      case 1:
        if (b.length) b[at] = rng.pick([0x00, 0x01, 0x7f, 0x80, 0xff, rng.int(256)]);
        break;
      case 2:
        b = Buffer.concat([b.subarray(0, at), rng.bytes(1 + rng.int(16)), b.subarray(at)]);
        break;
      case 3:
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + rng.int(16)))]);
        break;
      case 4:
        b = b.subarray(0, at);
        break;
      case 5: {
        const len = 1 + rng.int(Math.max(1, b.length - at));
        b = Buffer.concat([b.subarray(0, at + len), b.subarray(at, at + len), b.subarray(at + len)]);
        break;
      }
      case 6:
        b = Buffer.concat([b, randomMessage(rng)]);
        break;
      case 7:
        // A length or varint made huge (or overlong).
        b = Buffer.concat([b.subarray(0, at), Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), b.subarray(at + 1)]);
        break;
      case 8:
        if (others.length) {
          const o = rng.pick(others);
          const from = o.length ? rng.int(o.length) : 0;
          b = Buffer.concat([b.subarray(0, at), o.subarray(from, from + 1 + rng.int(64))]);
        }
        break;
      default:
        b = Buffer.concat([b.subarray(0, at), varint(rng.pick(INTERESTING_VARINTS)), b.subarray(at)]);
    }
    if (b.length > 1 << 20) b = b.subarray(0, 1 << 20);
  }
  return b;
}

/** Random bytes of a random size: mostly small, sometimes up to 64 KiB. */
export function randomBody(rng: Rng): Buffer {
  const size = rng.chance(0.9) ? rng.int(512) : rng.int(64 * 1024);
  return rng.bytes(size);
}
