// Reading a file a request (or an image) names without trusting what it is:
// a FIFO would block the thread-pool thread that opens it for good (four of
// them stop all of the daemon's file work), and /dev/zero or a huge file
// would be read into memory. The file is opened non-blocking, checked on the
// open descriptor (so a swap after a check cannot fool it), and read only up
// to the limit.
import { open } from 'node:fs/promises';
import { constants } from 'node:fs';

export class UnreadableFile extends Error {
  constructor(readonly reason: 'missing' | 'not-regular' | 'too-large' | 'symlink', message: string) {
    super(message);
    this.name = 'UnreadableFile';
  }
}

/** The contents of a regular file of at most `maxBytes`; UnreadableFile otherwise. */
export async function readRegularFile(path: string, maxBytes: number, o: { noFollow?: boolean } = {}): Promise<Buffer> {
  let fh;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY | (o.noFollow ? constants.O_NOFOLLOW : 0));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' && o.noFollow) throw new UnreadableFile('symlink', 'is a symbolic link');
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new UnreadableFile('missing', 'does not exist');
    throw err;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new UnreadableFile('not-regular', 'is not a regular file');
    if (st.size > maxBytes) throw new UnreadableFile('too-large', `is larger than ${maxBytes} bytes`);
    // The size may change after the stat: never read past the limit.
    const buf = Buffer.alloc(Math.min(st.size, maxBytes) + 1);
    let got = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, got, buf.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
      if (got > maxBytes) throw new UnreadableFile('too-large', `is larger than ${maxBytes} bytes`);
      if (got === buf.length) break;
    }
    return buf.subarray(0, got);
  } finally {
    await fh.close();
  }
}
