import { compareBytes } from '../util/bytes.js';
import type { LsmOptions } from './options.js';
import { type FileMeta, LEVELS, type Version } from './version.js';

/**
 * Which compaction to run next (LevelDB's VersionSet::PickCompaction), leveled:
 *
 * - every level has a score: level 0 its table count over l0CompactionTrigger (many small
 *   overlapping tables slow every read), level n >= 1 its bytes over its size limit, which grows by
 *   levelSizeRatio per level (10 MiB, 100 MiB, ...);
 * - the level with the highest score >= 1 is compacted into the next one;
 * - from level 0 all tables are taken (their ranges overlap, and moving a newer one below an older
 *   one would let the older value win); from level n >= 1 one table, chosen round-robin after the
 *   last compacted key (the compact pointer), so that the whole key space takes its turn;
 * - the inputs are merged with every table of the next level they overlap;
 * - one input table with nothing to merge with moves down as it is (a trivial move: no rewrite).
 */

export interface CompactionPick {
  level: number;
  inputs: FileMeta[];
  /** Tables of level + 1 overlapping the inputs. */
  overlaps: FileMeta[];
  trivialMove: boolean;
  score: number;
}

export function levelBytesMax(level: number, o: LsmOptions): number {
  return o.l1Bytes * Math.pow(o.levelSizeRatio, Math.max(0, level - 1));
}

export function levelScores(v: Version, o: LsmOptions): number[] {
  const scores = [(v.levels[0] as FileMeta[]).length / o.l0CompactionTrigger];
  for (let l = 1; l < LEVELS - 1; l++) scores.push(v.levelBytes(l) / levelBytesMax(l, o));
  return scores;
}

export function pickCompaction(v: Version, compactPointers: readonly (Uint8Array | null)[], o: LsmOptions): CompactionPick | null {
  const scores = levelScores(v, o);
  let level = -1;
  let best = 1;
  for (let l = 0; l < scores.length; l++) {
    if ((scores[l] as number) >= best) {
      best = scores[l] as number;
      level = l;
    }
  }
  if (level < 0) return null;
  const files = v.levels[level] as FileMeta[];
  let inputs: FileMeta[];
  if (level === 0) {
    inputs = files.slice();
  } else {
    const pointer = compactPointers[level] ?? null;
    const after = pointer === null ? undefined : files.find((f) => compareBytes(f.largest, pointer) > 0);
    inputs = [after ?? (files[0] as FileMeta)];
  }
  let smallest = (inputs[0] as FileMeta).smallest;
  let largest = (inputs[0] as FileMeta).largest;
  for (const f of inputs) {
    if (compareBytes(f.smallest, smallest) < 0) smallest = f.smallest;
    if (compareBytes(f.largest, largest) > 0) largest = f.largest;
  }
  const overlaps = v.overlapping(level + 1, smallest, largest);
  return { level, inputs, overlaps, trivialMove: inputs.length === 1 && overlaps.length === 0, score: best };
}

/**
 * Compaction debt: the bytes levels 1 and deeper hold beyond their limits, plus level 0's tables
 * beyond its trigger, counted at their average size. The write throttle reads it.
 */
export function compactionDebtBytes(v: Version, o: LsmOptions): number {
  const l0 = v.levels[0] as FileMeta[];
  let debt = 0;
  if (l0.length > o.l0CompactionTrigger) debt += ((l0.length - o.l0CompactionTrigger) * v.levelBytes(0)) / l0.length;
  for (let l = 1; l < LEVELS - 1; l++) debt += Math.max(0, v.levelBytes(l) - levelBytesMax(l, o));
  return debt;
}
