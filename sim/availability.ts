import type { HistoryEvent } from '../src/check/history.js';
import { assert } from '../src/util/assert.js';
import type { FaultEvent } from './nemesis.js';
import type { Campaign } from './raft-observer.js';
import { NS_PER_MS } from './scheduler.js';

/**
 * Checks of what a healthy cluster does when nothing disturbs it, read from the run's record at
 * its end. Safety checks cannot see these bugs: a follower whose election timer a valid append
 * does not reset keeps the cluster electing (issue 17 measured 19 → 264 role changes, and every
 * safety check passed); a leader that needs ten seconds to serve again after a partition heals is
 * safe and useless.
 */

export interface Verdict {
  verdict: 'pass' | 'fail' | 'unknown';
  summary: string;
}

/**
 * The moments something disturbed the cluster — a fault began or ended, a node process exited or
 * its supervisor restarted it — and whether faults are in effect from then on. Sorted by time.
 */
export interface Disturbances {
  timeline: readonly FaultEvent[];
  /** Times a node process exited or was booted outside the fault schedule. */
  others: readonly number[];
}

/**
 * Leader stability: no node campaigns while no fault is in effect and nothing disturbed the
 * cluster for `graceNs` (a few election timeouts: elections that a fault made necessary, and the
 * ones a healed node's return may start, are over by then). Campaigns by nodes the leader does not
 * count as voters (removed nodes that never heard of it) are left out: they disturb no one.
 */
export function leaderStability(campaigns: readonly Campaign[], d: Disturbances, graceNs: number): Verdict {
  assert(graceNs > 0, 'a grace period after each disturbance');
  const times = [0, ...d.timeline.map((e) => e.atNs), ...d.others].sort((a, b) => a - b);
  const bad: string[] = [];
  let counted = 0;
  for (const c of campaigns) {
    if (!c.voter) continue;
    counted++;
    if (activeAt(d.timeline, c.atNs) > 0) continue;
    const last = lastAtOrBefore(times, c.atNs);
    if (c.atNs - last < graceNs) continue;
    bad.push(`${c.node} began to campaign at ${ms(c.atNs)} (term ${c.term}), ${ms(c.atNs - last)} after the last disturbance, with no fault in effect`);
  }
  if (bad.length > 0) {
    const more = bad.length > 5 ? `\n  … ${bad.length - 5} more` : '';
    return { verdict: 'fail', summary: `${bad.length} election(s) in a calm cluster:\n  ${bad.slice(0, 5).join('\n  ')}${more}` };
  }
  return { verdict: 'pass', summary: `no election while calm (${counted} campaigns, each within ${ms(graceNs)} of a disturbance or during a fault)` };
}

/**
 * Recovery: after every moment the faults all end, some window of `windowNs` inside the next
 * `withinNs` must see answered operations at `fraction` of the rate before the first fault (or,
 * when the run starts with a fault, at least one). A calm shorter than `withinNs` (the next fault,
 * or the end of the run, comes first) counts when throughput recovered within it, and is not
 * judged when it did not.
 */
export function recovery(history: readonly HistoryEvent[], timeline: readonly FaultEvent[], durationNs: number, withinNs: number, fraction: number, windowNs = 250 * NS_PER_MS): Verdict {
  assert(windowNs > 0 && withinNs >= windowNs, 'the recovery window fits in the time allowed');
  const oks = history.filter((e) => e.type === 'ok' && e.final !== true && typeof e.time === 'number').map((e) => e.time as number);
  const firstFault = timeline.find((e) => e.active > 0)?.atNs ?? durationNs;
  const firstOk = oks.find((t) => t < firstFault);
  const baseSpan = firstOk === undefined ? 0 : firstFault - firstOk;
  // Under half a second of calm the rate is mostly the first election: require an answer only.
  const baseline = baseSpan >= 500 * NS_PER_MS ? (count(oks, firstOk as number, firstFault) / baseSpan) * windowNs : null;
  const need = baseline === null ? 1 : Math.max(1, Math.floor(baseline * fraction));
  const slow: string[] = [];
  let judged = 0;
  for (const h of calmMoments(timeline)) {
    const next = timeline.find((e) => e.atNs > h)?.atNs ?? Infinity;
    const endNs = Math.min(h + withinNs, next, durationNs);
    let best = 0;
    for (let t = h; t + windowNs <= endNs; t += windowNs / 5) best = Math.max(best, count(oks, t, t + windowNs));
    if (best >= need) judged++;
    else if (endNs === h + withinNs) {
      judged++;
      slow.push(`after the faults ended at ${ms(h)}: at best ${best} answers per ${ms(windowNs)} within ${ms(withinNs)}, needed ${need}`);
    }
  }
  const base = baseline === null ? 'no calm start to measure' : `${baseline.toFixed(1)} answers per ${ms(windowNs)} before the first fault`;
  if (slow.length > 0) return { verdict: 'fail', summary: `throughput did not recover (${base}):\n  ${slow.join('\n  ')}` };
  return { verdict: 'pass', summary: `throughput recovered within ${ms(withinNs)} after ${judged === 1 ? 'the one heal' : `each of ${judged} heals`} judged (${base})` };
}

/** Times at which the number of faults in effect fell to zero. */
function calmMoments(timeline: readonly FaultEvent[]): number[] {
  const out: number[] = [];
  let before = 0;
  for (const e of timeline) {
    if (e.active === 0 && before > 0) out.push(e.atNs);
    before = e.active;
  }
  return out;
}

export function activeAt(timeline: readonly FaultEvent[], atNs: number): number {
  let active = 0;
  for (const e of timeline) {
    if (e.atNs > atNs) break;
    active = e.active;
  }
  return active;
}

export function lastAtOrBefore(sorted: readonly number[], t: number): number {
  let last = 0;
  for (const x of sorted) {
    if (x > t) break;
    last = x;
  }
  return last;
}

function count(sorted: readonly number[], from: number, to: number): number {
  let n = 0;
  for (const t of sorted) if (t >= from && t < to) n++;
  return n;
}

function ms(ns: number): string {
  return `${Math.round(ns / NS_PER_MS)} ms`;
}
