#!/usr/bin/env node
import { Command } from 'commander';
import { registerRuntimeCommands } from '../cli/runtime.js';
import { registerImageCommands } from '../cli/images.js';
import { registerImageArchiveCommands } from '../cli/image-archive.js';
import { registerPodCommands } from '../cli/pods.js';
import { registerContainerCommands } from '../cli/containers.js';
import { registerSloCommand } from '../cli/slo.js';
import { PACKAGE_VERSION } from '../util/package-info.js';

const program = new Command('berth')
  .description('Client for CRI runtimes (berth, containerd, CRI-O)')
  .version(PACKAGE_VERSION, '--client-version', 'print the berth client version')
  .option('-r, --runtime-endpoint <endpoint>', 'CRI endpoint (env BERTH_RUNTIME_ENDPOINT; default unix:///run/berth/berth.sock)')
  .option('--timeout <seconds>', 'deadline of each call', '10');

registerRuntimeCommands(program);
registerImageCommands(program);
registerImageArchiveCommands(program);
registerPodCommands(program);
registerContainerCommands(program);
registerSloCommand(program);

await program.parseAsync(process.argv);
