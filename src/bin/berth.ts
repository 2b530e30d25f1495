#!/usr/bin/env node
import { Command } from 'commander';
import { registerRuntimeCommands } from '../cli/runtime.js';
import { registerImageCommands } from '../cli/images.js';
import { registerImageArchiveCommands } from '../cli/image-archive.js';
import { registerPodCommands } from '../cli/pods.js';
import { registerContainerCommands } from '../cli/containers.js';
import { registerEventsCommand } from '../cli/events.js';
import { registerSloCommand } from '../cli/slo.js';
import { registerDiagnoseCommand } from '../cli/diagnose.js';
import { exitQuietlyOnClosedPipe } from '../cli/common.js';
import { PACKAGE_VERSION } from '../util/package-info.js';

exitQuietlyOnClosedPipe();

const program = new Command('berth')
  .description('Client for CRI runtimes (berth, containerd, CRI-O)')
  .version(PACKAGE_VERSION, '--client-version', 'print the berth client version')
  .option('-r, --runtime-endpoint <endpoint>', 'CRI endpoint (env BERTH_RUNTIME_ENDPOINT; default unix:///run/berth/berth.sock)')
  .option('--timeout <seconds>', 'deadline of each call', '10')
  // Global options go before the command, as with crictl: what follows a
  // command is its own (`exec ID sh -c …`, `stop -t 5`, `runp -r handler`).
  .enablePositionalOptions();

registerRuntimeCommands(program);
registerImageCommands(program);
registerImageArchiveCommands(program);
registerPodCommands(program);
registerContainerCommands(program);
registerEventsCommand(program);
registerSloCommand(program);
registerDiagnoseCommand(program);

await program.parseAsync(process.argv);
