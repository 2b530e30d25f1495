// The configuration directory: the lexically first valid file wins, and
// edits are picked up without a restart. Each use compares a signature of the
// directory (names, mtimes, sizes) and re-parses only when it changed; the
// directory holds a handful of small local files, so the synchronous stats
// cost microseconds and keep Status (a synchronous source) exact.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isConfFile, parseConf } from './config.js';
import type { LoadedConf } from './types.js';

export interface DirState {
  conf?: LoadedConf;
  /** Why each earlier file (or the directory) was not usable. */
  problems: string[];
  /** True when the directory holds no candidate file at all. */
  empty: boolean;
}

export class ConfigDir {
  private signature = '';
  private state: DirState = { problems: [], empty: true };

  constructor(readonly dir: string) {}

  private scan(): { names: string[]; sig: string; error?: string } {
    let names: string[];
    try {
      names = readdirSync(this.dir).filter(isConfFile).sort();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return { names: [], sig: `error:${code}`, error: code === 'ENOENT' ? `${this.dir} does not exist` : `cannot read ${this.dir}: ${code}` };
    }
    const parts: string[] = [];
    for (const n of names) {
      try {
        const s = statSync(join(this.dir, n));
        parts.push(`${n}:${s.mtimeMs}:${s.size}:${s.ino}`);
      } catch {
        parts.push(`${n}:gone`);
      }
    }
    return { names, sig: parts.join('|') };
  }

  /** The current state, re-read when the directory changed. */
  current(): DirState {
    const { names, sig, error } = this.scan();
    if (sig === this.signature) return this.state;
    this.signature = sig;
    const problems: string[] = error ? [error] : [];
    let conf: LoadedConf | undefined;
    for (const n of names) {
      const file = join(this.dir, n);
      try {
        conf = { file, list: parseConf(n, readFileSync(file, 'utf8')) };
        break;
      } catch (err) {
        problems.push(`${n}: ${(err as Error).message}`);
      }
    }
    this.state = { conf, problems, empty: names.length === 0 };
    return this.state;
  }

  /** Forces a re-read at the next use (after Berth itself wrote a file in the same millisecond). */
  invalidate(): void {
    this.signature = '';
  }
}
