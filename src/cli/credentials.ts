// Registry credentials for `berth pull`, parsed as crictl parses them.
import { createInterface } from 'node:readline';

export interface Auth { username?: string; password?: string; auth?: string }

/**
 * `--creds user[:password]`: the password is everything after the first
 * colon (it may hold colons itself); without a colon it is empty, as crictl
 * sends it.
 */
export function parseCreds(creds: string): { username: string; password: string } {
  if (creds === '') throw new Error('--creds must not be empty');
  const i = creds.indexOf(':');
  if (i < 0) return { username: creds, password: '' };
  if (i === 0) throw new Error('--creds: the user name must not be empty');
  return { username: creds.slice(0, i), password: creds.slice(i + 1) };
}

/** The password for `--username`, typed without echo on a terminal or read as one line of a pipe. */
export async function readPassword(input: NodeJS.ReadStream = process.stdin, prompt: NodeJS.WriteStream = process.stderr): Promise<string> {
  if (!input.isTTY) {
    const rl = createInterface({ input, terminal: false });
    try {
      for await (const line of rl) return line;
      return '';
    } finally {
      rl.close();
    }
  }
  prompt.write('Enter Password: ');
  input.setRawMode(true);
  input.resume();
  let typed = '';
  try {
    return await new Promise<string>((resolve, reject) => {
      const onData = (d: Buffer): void => {
        for (const ch of d.toString('utf8')) {
          if (ch === '\r' || ch === '\n' || ch === '\u0004') {
            input.off('data', onData);
            resolve(typed);
            return;
          }
          if (ch === '\u0003') {
            input.off('data', onData);
            reject(new Error('interrupted'));
            return;
          }
          if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
          else typed += ch;
        }
      };
      input.on('data', onData);
    });
  } finally {
    input.setRawMode(false);
    input.pause();
    prompt.write('\n');
  }
}

/** The PullImage auth of `--creds`, `--auth` or `--username`; undefined when none was given. */
export async function pullAuth(o: { creds?: string; auth?: string; username?: string }): Promise<Auth | undefined> {
  const given = [o.creds, o.auth, o.username].filter((x) => x !== undefined).length;
  if (given > 1) throw new Error('give only one of --creds, --auth and --username');
  if (o.username !== undefined) return { username: o.username, password: await readPassword() };
  if (o.creds !== undefined) return parseCreds(o.creds);
  if (o.auth !== undefined) return { auth: o.auth };
  return undefined;
}
