import { Command, CommanderError } from 'commander';
import { EXIT_BAD_INPUT, UsageError } from './errors.js';
import { registerCheckCommand } from './check.js';
import { registerRunCommand } from './run.js';
import { registerServeCommand } from './serve.js';
import { registerClusterCommand } from './cluster.js';
import { registerClientCommands, registerHashPassword } from './client-commands.js';

/**
 * The kv-lab command line. Each command's module is small to load; heavy parts (the simulator,
 * the checker) are imported only when their command runs, so `kv-lab --help` answers at once.
 */
// A reader that stops early (`kv-lab run … | head`) is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

const program = new Command();
program
  .name('kv-lab')
  .description('A distributed key-value store and the deterministic laboratory that proves it correct.')
  .version('0.1.0')
  .showHelpAfterError('(run kv-lab --help for usage)')
  .exitOverride();

registerRunCommand(program);
registerCheckCommand(program);
registerServeCommand(program);
registerClusterCommand(program);
registerClientCommands(program);
registerHashPassword(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and version end with code 0; anything else commander rejects is a usage mistake.
    process.exitCode = err.exitCode === 0 ? 0 : EXIT_BAD_INPUT;
  } else if (err instanceof UsageError) {
    process.stderr.write(`kv-lab: ${err.message}\n`);
    process.exitCode = EXIT_BAD_INPUT;
  } else {
    process.stderr.write(`kv-lab: internal error (a bug; please report it with the command you ran):\n${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 70;
  }
}
