import type { CliCommand } from './command.js';
import { configCommand } from './config.js';
import { demoCommand } from './demo.js';
import { gatewayCommand } from './gateway.js';
import { probeCommand } from './probe.js';
import { probeServerCommand } from './probe-server.js';
import { proxyCommand } from './proxy.js';

/**
 * The subcommands, in the order `outlast --help` lists them. Each lives in its own file under
 * `src/cli/` and is only a consumer of the library.
 */
export const commands: CliCommand[] = [
  proxyCommand,
  gatewayCommand,
  probeCommand,
  probeServerCommand,
  configCommand,
  demoCommand,
];
