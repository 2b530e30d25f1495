// Header block compression (SPDY/3 section 2.6.10.1): one zlib stream per
// direction for the whole session, primed with the SPDY dictionary, each
// header block ended with a sync flush so the peer can inflate it at once.
//
// A header block must be compressed before the frame carrying it is queued
// and inflated before the next frame is looked at, so this needs a zlib
// context that persists across blocks and works synchronously. Node's zlib
// offers that only asynchronously (its sync calls are one-shot), hence pako.
import pako from 'pako';
import { SPDY3_DICTIONARY } from './dictionary.js';
import { decodeHeaderBlock, encodeHeaderBlock, SpdyProtocolError, type SpdyHeaders } from './frames.js';

/** Limit on an inflated header block, against decompression bombs. */
const MAX_HEADER_BLOCK = 256 * 1024;
const Z_SYNC_FLUSH = 2;

export class HeaderCompressor {
  private readonly z = new pako.Deflate({ dictionary: SPDY3_DICTIONARY });
  private out: Uint8Array[] = [];

  constructor() {
    this.z.onData = (chunk: Uint8Array) => this.out.push(chunk);
  }

  compress(headers: SpdyHeaders): Buffer {
    this.out = [];
    if (!this.z.push(encodeHeaderBlock(headers), Z_SYNC_FLUSH)) throw new Error(`header compression failed: ${this.z.msg}`);
    return Buffer.concat(this.out);
  }

  close(): void {
    this.out = [];
  }
}

export class HeaderDecompressor {
  private readonly z = new pako.Inflate({ dictionary: SPDY3_DICTIONARY });
  private out: Uint8Array[] = [];
  private size = 0;
  private broken = false;

  constructor() {
    this.z.onData = (chunk: Uint8Array) => {
      this.size += chunk.length;
      if (this.size <= MAX_HEADER_BLOCK) this.out.push(chunk);
    };
  }

  decompress(block: Buffer, streamId?: number): SpdyHeaders {
    if (block.length === 0) return {};
    if (this.broken) throw new SpdyProtocolError('header compression context is broken');
    this.out = [];
    this.size = 0;
    this.z.push(block, Z_SYNC_FLUSH);
    if (this.z.err) {
      // The shared context is unusable from here on: the whole session must go.
      this.broken = true;
      throw new SpdyProtocolError(`header block does not inflate: ${this.z.msg}`);
    }
    if (this.size > MAX_HEADER_BLOCK) throw new SpdyProtocolError(`header block inflates to more than ${MAX_HEADER_BLOCK} bytes`);
    return decodeHeaderBlock(Buffer.concat(this.out), streamId);
  }

  close(): void {
    this.out = [];
  }
}
