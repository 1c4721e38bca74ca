import { Command } from 'commander';
import { registerCheckCommand } from './check.js';
import { registerClientCommands, registerHashPassword } from './client-commands.js';
import { registerTxn } from './txn.js';
import { registerClusterCommand } from './cluster.js';
import { registerReportCommand } from './report-command.js';
import { registerRunCommand } from './run.js';
import { registerRingCommand } from './ring.js';
import { registerServeCommand } from './serve.js';
import { registerShrinkCommand } from './shrink.js';
import { registerSwarmCommand } from './swarm.js';
import { registerWalCommand } from './wal.js';

/**
 * Every kv-lab command, registered in one place: the binary (main.ts) and the in-process test
 * runner build the same program, so a command documented but never registered cannot pass a test.
 * Each command's module is small to load; heavy parts (the simulator, the checker) are imported
 * only when their command runs, so `kv-lab --help` answers at once.
 */
export function createProgram(): Command {
  const program = new Command();
  program
    .name('kv-lab')
    .description('A distributed key-value store and the deterministic laboratory that proves it correct.')
    .version('0.1.0')
    .showHelpAfterError('(run kv-lab --help for usage)')
    .exitOverride();
  registerRunCommand(program);
  registerSwarmCommand(program);
  registerReportCommand(program);
  registerShrinkCommand(program);
  registerCheckCommand(program);
  registerServeCommand(program);
  registerClusterCommand(program);
  registerClientCommands(program);
  registerTxn(program);
  registerHashPassword(program);
  registerWalCommand(program);
  registerRingCommand(program);
  return program;
}
