import seedrandom from 'seedrandom';

/**
 * The Rng seam: seeded random numbers. Every random choice a node or the simulator makes comes
 * from a stream derived from the run's seed, one stream per purpose, so that adding a random draw
 * in one component does not shift the draws of every other component.
 */
export interface Rng {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, maxExclusive). REQUIRES: maxExclusive >= 1. */
  int(maxExclusive: number): number;
  /** An integer in [min, max], both inclusive. */
  between(min: number, max: number): number;
  /** true with probability p. */
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  /** A new Fisher–Yates shuffled copy. */
  shuffled<T>(items: readonly T[]): T[];
  /** An independent stream, determined by this stream's seed and the label (not by its state). */
  fork(label: string): Rng;
  /** The seed text this stream was made from, for logs. */
  readonly seed: string;
}

/**
 * A seeded stream. Alea (Johannes Baagøe's generator, as packaged by seedrandom) is fast, has a
 * long period and is exact across platforms because it works on 32-bit fractions only.
 */
export class SeededRng implements Rng {
  private readonly gen: () => number;

  constructor(readonly seed: string) {
    this.gen = seedrandom.alea(seed);
  }

  next(): number {
    return this.gen();
  }

  int(maxExclusive: number): number {
    if (!(maxExclusive >= 1)) throw new RangeError(`Rng.int: maxExclusive must be >= 1, got ${maxExclusive}`);
    return Math.floor(this.gen() * maxExclusive);
  }

  between(min: number, max: number): number {
    if (max < min) throw new RangeError(`Rng.between: max ${max} < min ${min}`);
    return min + this.int(max - min + 1);
  }

  chance(p: number): boolean {
    return p > 0 && this.gen() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('Rng.pick: empty list');
    return items[this.int(items.length)] as T;
  }

  shuffled<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = out[i] as T;
      out[i] = out[j] as T;
      out[j] = t;
    }
    return out;
  }

  fork(label: string): Rng {
    return new SeededRng(`${this.seed}/${label}`);
  }
}
