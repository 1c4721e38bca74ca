import { CommanderError } from 'commander';
import { EnvironmentError, EXIT_BAD_INPUT, EXIT_ENVIRONMENT, UsageError } from './errors.js';
import { createProgram } from './program.js';

/** The kv-lab command line (the commands: program.ts). */
// A reader that stops early (`kv-lab run … | head`) is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

const program = createProgram();

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and version end with code 0; anything else commander rejects is a usage mistake.
    process.exitCode = err.exitCode === 0 ? 0 : EXIT_BAD_INPUT;
  } else if (err instanceof UsageError) {
    process.stderr.write(`kv-lab: ${err.message}\n`);
    process.exitCode = EXIT_BAD_INPUT;
  } else if (err instanceof EnvironmentError) {
    process.stderr.write(`kv-lab: ${err.message}\n`);
    process.exitCode = EXIT_ENVIRONMENT;
  } else {
    process.stderr.write(`kv-lab: internal error (a bug; please report it with the command you ran):\n${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 70;
  }
}
