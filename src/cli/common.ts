import type { Command } from 'commander';
import { stringify as yamlStringify } from 'yaml';
import { CriClient, DEFAULT_ENDPOINT, CallError } from './client.js';

export interface GlobalOptions {
  runtimeEndpoint: string;
  /** True when the endpoint came from -r or BERTH_RUNTIME_ENDPOINT rather than the default. */
  endpointGiven: boolean;
  timeout: number;
}

export function globals(cmd: Command): GlobalOptions {
  let root = cmd;
  while (root.parent) root = root.parent;
  const o = root.opts();
  const given = (o.runtimeEndpoint as string | undefined) ?? process.env.BERTH_RUNTIME_ENDPOINT;
  return {
    runtimeEndpoint: given ?? DEFAULT_ENDPOINT,
    endpointGiven: given !== undefined,
    timeout: Number(o.timeout ?? 10) * 1000,
  };
}

/** The message shown for a failure: the CRI call and code, or the error's own text. */
export function failureMessage(err: unknown): string {
  return err instanceof CallError ? err.message : err instanceof Error ? err.message : String(err);
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
      process.stderr.write(`berth: ${failureMessage(err)}\n`);
      process.exitCode = 1;
    } finally {
      client.close();
    }
  };
}

export type Output = 'table' | 'json' | 'yaml';
export type Structured = Exclude<Output, 'table'>;

/**
 * `-o`: table (where the command has one), json or yaml. Commands whose
 * natural output is a document (inspect, info) default to json.
 */
export function outputOption(cmd: Command, def: Output = 'table'): Command {
  const choices = def === 'table' ? 'table, json or yaml' : 'json or yaml';
  return cmd.option('-o, --output <format>', `output format: ${choices}`, def);
}

/** The -o value, checked: an unknown format is an error rather than a silent table. */
export function outputFormat(cmd: Command, allowed: readonly Output[] = ['table', 'json', 'yaml']): Output {
  const v = String(cmd.opts().output ?? allowed[0]);
  if (!(allowed as readonly string[]).includes(v)) throw new Error(`unsupported output format "${v}" (one of: ${allowed.join(', ')})`);
  return v as Output;
}

/** -o of a command whose output is a document (json or yaml). */
export function documentFormat(cmd: Command): Structured {
  return outputFormat(cmd, ['json', 'yaml']) as Structured;
}

/** A document as JSON or YAML, in the message's camelCase field names either way. */
export function renderStructured(v: unknown, format: Structured): string {
  if (format === 'json') return JSON.stringify(v, null, 2) + '\n';
  return yamlStringify(v, { lineWidth: 0 });
}

export function printStructured(v: unknown, format: Structured): void {
  process.stdout.write(renderStructured(v, format));
}

/** Several documents (one per ID asked about): YAML separates them with `---`. */
export function printDocuments(docs: unknown[], format: Structured): void {
  process.stdout.write(docs.map((d) => renderStructured(d, format)).join(format === 'yaml' ? '---\n' : ''));
}

/** Verbose `info` maps carry JSON documents as strings; show them as objects. */
export function parseInfo(info: Record<string, string> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(info ?? {})) {
    try {
      out[k] = JSON.parse(v);
    } catch {
      out[k] = v;
    }
  }
  return out;
}

/** Labels given as key=value, repeated. */
export function collectLabels(value: string, prev: Record<string, string>): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new Error(`label must be key=value, got "${value}"`);
  return { ...prev, [value.slice(0, eq)]: value.slice(eq + 1) };
}

/**
 * Output cut short by the reader (`berth logs … | head`) is not a failure of
 * berth: a write to a closed pipe ends the process quietly, as SIGPIPE ends
 * a C program, instead of an EPIPE stack trace. Node ignores SIGPIPE, so the
 * error arrives on the stream.
 */
export function exitQuietlyOnClosedPipe(): void {
  for (const s of [process.stdout, process.stderr]) {
    s.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
      throw err;
    });
  }
}
