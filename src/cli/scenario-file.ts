import { readFileSync } from 'node:fs';
import { parseScenario, ScenarioError, type Scenario } from '../../sim/scenario.js';
import { SchemaError } from '../util/schema.js';
import { UsageError } from './errors.js';

/** Reads and validates a scenario file, turning every problem into one clear UsageError. */
export function loadScenarioFile(file: string): Scenario {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(code === 'ENOENT' ? `no such scenario file: ${file}` : `cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    return parseScenario(text, file);
  } catch (err) {
    if (err instanceof SchemaError || err instanceof ScenarioError) throw new UsageError(`invalid scenario:\n${err.message}`);
    throw err;
  }
}
