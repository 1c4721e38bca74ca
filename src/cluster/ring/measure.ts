import { assert } from '../../util/assert.js';
import { assignBoundedLoads, KeySet, loadStats, movedFraction, primaryOwners } from './placement.js';
import { Ring, type RingMember } from './ring.js';

/**
 * What `kv-lab ring` prints: the balance of keys per member and the keys moved by a join and a
 * leave, for the ring as configured, the classic one-probe ring and bounded loads, on one key set.
 * Members are n1 … nN; the join adds n(N+1), the leave removes nN.
 */

export interface RingMeasureOptions {
  readonly nodes: number;
  readonly vnodes: number;
  readonly probes: number;
  readonly keys: number;
  /** Bounded loads' ε. */
  readonly epsilon: number;
}

export interface RingRow {
  readonly name: 'ring' | 'classic' | 'bounded';
  readonly label: string;
  readonly stdOverMean: number;
  readonly maxOverMean: number;
  readonly joinMoved: number;
  readonly leaveMoved: number;
}

export interface RingReport {
  readonly options: RingMeasureOptions;
  /** 1/(N+1): a join must move at least the new member's fair share. */
  readonly joinOptimal: number;
  /** 1/N: a leave must move at least the leaving member's fair share. */
  readonly leaveOptimal: number;
  readonly rows: readonly RingRow[];
  /** Keys per member on the ring as configured, in id order. */
  readonly counts: readonly { readonly id: string; readonly keys: number }[];
}

function members(n: number): RingMember[] {
  return Array.from({ length: n }, (_, i) => ({ id: `n${i + 1}` }));
}

type Assign = (ring: Ring, keys: KeySet) => Int32Array;

function measureOne(name: RingRow['name'], label: string, o: RingMeasureOptions, probes: number, keys: KeySet, assign: Assign): { row: RingRow; ring: Ring; owners: Int32Array } {
  const base = members(o.nodes);
  const ring = Ring.build(base, { vnodes: o.vnodes, probes });
  const owners = assign(ring, keys);
  const stats = loadStats(ring, owners);
  const joined = Ring.build([...base, { id: `n${o.nodes + 1}` }], { vnodes: o.vnodes, probes });
  const joinMoved = movedFraction(ring, owners, joined, assign(joined, keys));
  let leaveMoved = 0;
  if (o.nodes > 1) {
    const left = Ring.build(base.slice(0, -1), { vnodes: o.vnodes, probes });
    leaveMoved = movedFraction(ring, owners, left, assign(left, keys));
  }
  return { row: { name, label, stdOverMean: stats.stdOverMean, maxOverMean: stats.maxOverMean, joinMoved, leaveMoved }, ring, owners };
}

export function measureRing(o: RingMeasureOptions): RingReport {
  assert(o.nodes >= 1 && o.keys >= 1, 'measureRing needs at least one node and one key');
  const keys = KeySet.numbered(o.keys, Math.max(o.probes, 1));
  const plain: Assign = (ring, k) => primaryOwners(ring, k);
  const bounded: Assign = (ring, k) => assignBoundedLoads(ring, k, o.epsilon);
  const main = measureOne('ring', o.probes === 1 ? 'ring (1 probe)' : `ring (${o.probes} probes)`, o, o.probes, keys, plain);
  const rows: RingRow[] = [main.row];
  if (o.probes !== 1) rows.push(measureOne('classic', 'classic ring (1 probe)', o, 1, keys, plain).row);
  rows.push(measureOne('bounded', `bounded loads (ε=${o.epsilon})`, o, o.probes, keys, bounded).row);
  const counts = loadStats(main.ring, main.owners).counts.map((c, i) => ({ id: main.ring.memberAt(i), keys: c }));
  return { options: o, joinOptimal: 1 / (o.nodes + 1), leaveOptimal: o.nodes > 1 ? 1 / o.nodes : 0, rows, counts };
}
