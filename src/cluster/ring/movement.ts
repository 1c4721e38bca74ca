import { assert } from '../../util/assert.js';
import { keyProbes, type Ring } from './ring.js';

/**
 * The movement plan between two rings: for each unit (a key, later a shard), which members gain
 * a replica and where to copy it from, and which members may drop theirs once the copies are done.
 * Copy before drop: a unit is never left with fewer replicas than the smaller of the two lists.
 */

export const PLAN_UNITS_MAX = 1_000_000;

export interface Transfer {
  readonly unit: string;
  /** A member holding the unit in the old ring and still present in the new one; or the old
   *  primary when every old holder is gone (then `sourceGone`: the data must come from backups). */
  readonly from: string;
  readonly to: string;
  readonly sourceGone: boolean;
}

export interface Drop {
  readonly unit: string;
  readonly member: string;
}

export interface MovementPlan {
  readonly units: number;
  readonly replicas: number;
  /** Units whose preference list changed (as a set). */
  readonly unitsChanged: number;
  /** Units whose first replica (the primary) changed. */
  readonly primariesMoved: number;
  readonly transfers: readonly Transfer[];
  readonly drops: readonly Drop[];
}

export function movementPlan(before: Ring, after: Ring, units: readonly string[], replicas = 1, zones = false): MovementPlan {
  assert(units.length <= PLAN_UNITS_MAX, () => `a movement plan covers at most ${PLAN_UNITS_MAX} units, got ${units.length}`);
  assert(Number.isInteger(replicas) && replicas >= 1, () => `replicas must be a positive integer, got ${replicas}`);
  assert(before.members.length > 0 && after.members.length > 0, 'a movement plan needs two non-empty rings');
  const probes = Math.max(before.options.probes, after.options.probes);
  const transfers: Transfer[] = [];
  const drops: Drop[] = [];
  let unitsChanged = 0;
  let primariesMoved = 0;
  for (const unit of units) {
    const h = keyProbes(unit, probes);
    const old = before.preferenceFromToken(before.locate(h), replicas, zones).map((i) => before.memberAt(i));
    const now = after.preferenceFromToken(after.locate(h), replicas, zones).map((i) => after.memberAt(i));
    if (old[0] !== now[0]) primariesMoved++;
    const gained = now.filter((m) => !old.includes(m));
    const lost = old.filter((m) => !now.includes(m));
    if (gained.length === 0 && lost.length === 0) continue;
    unitsChanged++;
    const survivor = old.find((m) => after.indexOf(m) !== undefined);
    for (const to of gained) transfers.push({ unit, from: survivor ?? (old[0] as string), to, sourceGone: survivor === undefined });
    for (const member of lost) drops.push({ unit, member });
  }
  assert(primariesMoved <= units.length && unitsChanged <= units.length, 'movement counts exceed the units');
  return { units: units.length, replicas, unitsChanged, primariesMoved, transfers, drops };
}
