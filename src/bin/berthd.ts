#!/usr/bin/env -S node --max-semi-space-size=1 --interrupt-budget=1000000 --optimize-for-size
// How berthd runs, declared on the line above so that `./berthd.js`,
// scripts/start.sh and the tests all run it the same way. The V8 flags trade
// a little speed on cold paths for resident memory, which the issue budgets
// at 80 MiB with 50 pods:
// - small semi-spaces: a daemon that mostly waits does not need 16 MiB of
//   young generation (measured: 118 -> 86 MiB with 50 pods);
// - a 15x interrupt budget: only really hot functions (layer hashing and
//   unpacking, bulk stats) get optimized, not every CRI handler after a few
//   calls, so a burst of pod starts leaves ~3 MiB less compiled code and
//   compiler pages behind; bench/image-pull.ts shows no loss beyond noise;
// - optimize-for-size: V8 grows and keeps its heap closer to the live data
//   (measured with `node dist/bench/pod-lifecycle.js 30 50`: anonymous
//   memory 32-37 -> 27-28 MiB, RSS 81.7 -> 73.4 MiB with 50 pods; pulls and
//   pod starts no slower beyond noise).
import { Command, Option } from 'commander';
import { ConfigError, DEFAULT_CONFIG_FILE, flagName, loadConfig, renderDefaultToml, renderConfigDocs } from '../config/config.js';
import { KEYS } from '../config/keys.js';
import { redactConfig } from '../config/redact.js';
import { createLogger } from '../log/logger.js';
import { Daemon } from '../daemon/daemon.js';
import { PACKAGE_VERSION } from '../util/package-info.js';

function collectSet(value: string, prev: Record<string, string>): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new Error(`--set expects KEY=VALUE, got "${value}"`);
  return { ...prev, [value.slice(0, eq)]: value.slice(eq + 1) };
}

const program = new Command('berthd')
  .description('Berth: a CRI v1 container runtime daemon')
  .version(PACKAGE_VERSION)
  .option('-c, --config <file>', 'TOML configuration file', DEFAULT_CONFIG_FILE)
  .option('--set <key=value>', 'override any configuration key (repeatable)', collectSet, {});
// Every configuration key also has a flag of its own, derived from its path.
for (const k of KEYS) {
  program.addOption(new Option(`--${flagName(k.path)} <value>`, k.doc).hideHelp());
}

function overridesFrom(opts: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = { ...(opts.set as Record<string, string>) };
  for (const k of KEYS) {
    // commander camel-cases flag names into option keys
    const attr = flagName(k.path).replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
    if (typeof opts[attr] === 'string') out[k.path] = opts[attr] as string;
  }
  return out;
}

program.action(async () => {
  const opts = program.opts();
  let config;
  try {
    config = loadConfig({
      file: opts.config as string,
      fileRequired: program.getOptionValueSource('config') !== 'default',
      overrides: overridesFrom(opts),
    });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`berthd: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.daemon.log_level);
  let daemon: Daemon;
  try {
    daemon = await Daemon.start(config, log);
  } catch (err) {
    log.fatal({ err }, 'berthd failed to start');
    process.stderr.write(`berthd: ${(err as Error).message}\n`);
    process.exit(1);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'signal received');
    daemon.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
});

const configCmd = program.command('config').description('configuration helpers');
configCmd.command('default').description('print the complete default configuration file').action(() => {
  process.stdout.write(renderDefaultToml());
});
configCmd.command('docs').description('print the configuration reference (Markdown)').action(() => {
  process.stdout.write(renderConfigDocs());
});
configCmd
  .command('check')
  .description('validate the configuration file and flags, print the effective configuration as JSON')
  .action(() => {
    const opts = program.opts();
    try {
      const cfg = loadConfig({ file: opts.config as string, fileRequired: true, overrides: overridesFrom(opts) });
      process.stdout.write(JSON.stringify(redactConfig(cfg), null, 2) + '\n');
    } catch (err) {
      process.stderr.write(`berthd: ${(err as Error).message}\n`);
      process.exit(2);
    }
  });

await program.parseAsync(process.argv);
