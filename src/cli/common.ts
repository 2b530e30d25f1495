import type { Command } from 'commander';
import { CriClient, DEFAULT_ENDPOINT, CallError } from './client.js';

export interface GlobalOptions {
  runtimeEndpoint: string;
  imageEndpoint?: string;
  timeout: number;
}

export function globals(cmd: Command): GlobalOptions {
  let root = cmd;
  while (root.parent) root = root.parent;
  const o = root.opts();
  return {
    runtimeEndpoint: (o.runtimeEndpoint as string | undefined) ?? process.env.BERTH_RUNTIME_ENDPOINT ?? DEFAULT_ENDPOINT,
    timeout: Number(o.timeout ?? 10) * 1000,
  };
}

/** Runs a command body with a client, turning failures into stderr + exit 1. */
export function withClient(fn: (client: CriClient, args: unknown[], cmd: Command) => Promise<void>) {
  return async (...args: unknown[]): Promise<void> => {
    const cmd = args[args.length - 1] as Command;
    const g = globals(cmd);
    const client = new CriClient(g.runtimeEndpoint, g.timeout);
    try {
      await fn(client, args.slice(0, -1), cmd);
    } catch (err) {
      const msg = err instanceof CallError ? err.message : (err as Error).message;
      process.stderr.write(`berth: ${msg}\n`);
      process.exitCode = 1;
    } finally {
      client.close();
    }
  };
}

export type Output = 'table' | 'json' | 'yaml';

export function outputOption(cmd: Command): Command {
  return cmd.option('-o, --output <format>', 'output format: table or json', 'table');
}

/** Labels given as key=value, repeated. */
export function collectLabels(value: string, prev: Record<string, string>): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new Error(`label must be key=value, got "${value}"`);
  return { ...prev, [value.slice(0, eq)]: value.slice(eq + 1) };
}
