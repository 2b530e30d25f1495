// This terminal's side of `berth exec -i/-t` and `berth attach`: raw mode
// while a remote terminal is in use, its size sent at the start and on every
// SIGWINCH, stdin forwarded when asked for.
import { runCommandSession, type CommandSession, type TerminalSize } from './stream-client.js';

export async function runInteractive(url: string, o: { tty: boolean; stdin: boolean }): Promise<number> {
  const input = process.stdin;
  // Raw mode only where the user's keystrokes go to a remote terminal: then
  // Ctrl-C, Ctrl-D and line editing belong to the program in the container.
  const raw = o.tty && o.stdin && input.isTTY === true;
  const out = process.stdout;
  const session: CommandSession = {
    stdout: out,
    stderr: o.tty ? undefined : process.stderr,
    stdin: o.stdin ? input : undefined,
  };
  if (o.tty && out.isTTY) {
    session.size = (): TerminalSize => ({ width: out.columns, height: out.rows });
    session.onResize = (cb) => {
      out.on('resize', cb);
      return () => out.off('resize', cb);
    };
  }
  if (raw) input.setRawMode(true);
  try {
    return await runCommandSession(url, session);
  } finally {
    if (raw) input.setRawMode(false);
    if (o.stdin) {
      // A read still pending on stdin would keep the process alive after the session.
      input.pause();
      input.destroy();
    }
  }
}
