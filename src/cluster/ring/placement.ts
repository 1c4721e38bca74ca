import { assert } from '../../util/assert.js';
import { hashText } from './hash.js';
import type { Ring } from './ring.js';

/**
 * Placing a set of units (keys, or later shards) on a ring, measuring the balance, and bounded
 * loads. Units are given by their probe hashes (a KeySet), computed once and looked up in as many
 * rings as needed.
 */

export const KEYSET_KEYS_MAX = 10_000_000;

/** The probe hashes of `count` units, unit i at hashes[i * probes .. + probes). */
export class KeySet {
  readonly hashes: Uint32Array;

  constructor(
    readonly count: number,
    readonly probes: number,
    hashes: Uint32Array,
  ) {
    assert(Number.isInteger(count) && count >= 0 && count <= KEYSET_KEYS_MAX, () => `a key set holds 0..${KEYSET_KEYS_MAX} keys, got ${count}`);
    assert(hashes.length === count * probes, 'key set hashes do not match count × probes');
    this.hashes = hashes;
  }

  /** The keys `${prefix}0` … `${prefix}${count - 1}`. */
  static numbered(count: number, probes: number, prefix = 'key-'): KeySet {
    const hashes = new Uint32Array(count * probes);
    for (let i = 0; i < count; i++) {
      const key = `${prefix}${i}`;
      for (let p = 0; p < probes; p++) hashes[i * probes + p] = hashText(key, p);
    }
    return new KeySet(count, probes, hashes);
  }

  static of(keys: readonly string[], probes: number): KeySet {
    const hashes = new Uint32Array(keys.length * probes);
    keys.forEach((key, i) => {
      for (let p = 0; p < probes; p++) hashes[i * probes + p] = hashText(key, p);
    });
    return new KeySet(keys.length, probes, hashes);
  }

  probesOf(i: number): Uint32Array {
    return this.hashes.subarray(i * this.probes, (i + 1) * this.probes);
  }
}

/** The token each unit lands on. */
export function locateAll(ring: Ring, keys: KeySet): Int32Array {
  assert(keys.probes >= ring.options.probes, () => `the key set has ${keys.probes} probes, the ring needs ${ring.options.probes}`);
  const out = new Int32Array(keys.count);
  for (let i = 0; i < keys.count; i++) out[i] = ring.locateAt(keys.hashes, i * keys.probes);
  return out;
}

/** The owning member index of each unit (plain consistent hashing). */
export function primaryOwners(ring: Ring, keys: KeySet): Int32Array {
  const tokens = locateAll(ring, keys);
  const out = new Int32Array(keys.count);
  for (let i = 0; i < keys.count; i++) out[i] = ring.ownerOfToken(tokens[i] as number);
  return out;
}

/**
 * Consistent hashing with bounded loads (Mirrokni, Thorup and Zadimoghaddam, SODA 2018): every
 * member has a capacity of ceil((1 + ε) × m × weight / total weight) units; units are placed in
 * the order given, each on the first member at or after its token that still has room. No member
 * then holds more than (1 + ε) times its fair share (plus one unit of rounding). The price is
 * movement: when a member joins or leaves, units displaced by full members cascade further along
 * the ring; the paper bounds the expected extra movement by O(1/ε²) times the optimum, and
 * `kv-lab ring` prints what it is at a given ε. The same units in the same order on the same ring
 * give the same assignment in every process.
 */
export function assignBoundedLoads(ring: Ring, keys: KeySet, epsilon: number): Int32Array {
  assert(epsilon > 0 && epsilon <= 10, () => `bounded loads need 0 < ε <= 10, got ${epsilon}`);
  const n = ring.members.length;
  assert(n > 0, 'bounded loads on an empty ring');
  assert(keys.probes >= ring.options.probes, () => `the key set has ${keys.probes} probes, the ring needs ${ring.options.probes}`);
  const totalWeight = ring.members.reduce((s, m) => s + m.weight, 0);
  const capacity = ring.members.map((m) => Math.ceil(((1 + epsilon) * keys.count * m.weight) / totalWeight));
  const load = new Int32Array(n);
  const out = new Int32Array(keys.count);
  const tokens = ring.tokenCount;
  for (let i = 0; i < keys.count; i++) {
    const start = ring.locateAt(keys.hashes, i * keys.probes);
    let placed = -1;
    // Σ capacity >= count, so some member has room; the walk meets every member within one turn.
    for (let step = 0; step < tokens; step++) {
      const mi = ring.ownerOfToken((start + step) % tokens);
      if ((load[mi] as number) < (capacity[mi] as number)) {
        placed = mi;
        break;
      }
    }
    assert(placed >= 0, 'bounded loads found no member with room');
    load[placed] = (load[placed] as number) + 1;
    out[i] = placed;
  }
  return out;
}

export interface LoadStats {
  readonly members: number;
  readonly units: number;
  /** Standard deviation over mean of each member's load relative to its fair share. */
  readonly stdOverMean: number;
  readonly maxOverMean: number;
  readonly minOverMean: number;
  /** Units per member, in the ring's member order. */
  readonly counts: readonly number[];
}

/** Balance of an assignment (member index per unit); loads are normalised by weight. */
export function loadStats(ring: Ring, owners: Int32Array): LoadStats {
  const n = ring.members.length;
  assert(n > 0, 'load statistics of an empty ring');
  const counts = new Array<number>(n).fill(0);
  for (let i = 0; i < owners.length; i++) counts[owners[i] as number]! += 1;
  const totalWeight = ring.members.reduce((s, m) => s + m.weight, 0);
  const rel = counts.map((c, i) => (owners.length === 0 ? 1 : c / ((owners.length * ring.members[i]!.weight) / totalWeight)));
  const mean = rel.reduce((a, b) => a + b, 0) / n;
  const std = Math.sqrt(rel.reduce((a, b) => a + (b - mean) ** 2, 0) / n);
  return {
    members: n,
    units: owners.length,
    stdOverMean: std / mean,
    maxOverMean: Math.max(...rel) / mean,
    minOverMean: Math.min(...rel) / mean,
    counts,
  };
}

/** The fraction of units whose owner differs between two assignments (owners compared by id). */
export function movedFraction(before: Ring, ownersBefore: Int32Array, after: Ring, ownersAfter: Int32Array): number {
  assert(ownersBefore.length === ownersAfter.length, 'moved fraction of assignments of different key sets');
  if (ownersBefore.length === 0) return 0;
  // Translate the before-ring's member indexes to the after-ring's (-1: gone) once.
  const map = before.members.map((m) => after.indexOf(m.id) ?? -1);
  let moved = 0;
  for (let i = 0; i < ownersBefore.length; i++) if (map[ownersBefore[i] as number] !== ownersAfter[i]) moved++;
  return moved / ownersBefore.length;
}
