import { randomBytes } from 'node:crypto';
import { SeededRng } from '../rng.js';

/**
 * A real node's randomness: seeded once from the operating system, and the seed logged, so that a
 * surprising run can still be replayed as far as randomness goes.
 */
export function osSeededRng(): SeededRng {
  return new SeededRng(randomBytes(16).toString('hex'));
}
