/**
 * `kv-lab check` on its own (node --import tsx src/cli/check-main.ts …): the same command that
 * main.ts registers, for tests and for use before the full CLI is wired.
 */
import { runCheckCommand } from './check.js';

process.exitCode = await runCheckCommand(process.argv.slice(2));
