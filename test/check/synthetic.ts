import { assert } from '../../src/util/assert.js';
import type { EventType, HistoryEvent, Json, OpFunction } from '../../src/check/history.js';

/**
 * Synthetic histories for benchmarks and tests: `processes` clients issue operations back to back
 * on `keys` keys; each operation takes effect at one instant inside its [invoke, completion]
 * window, the store is a plain sequential map applied in instant order, so the history is
 * linearizable by construction. `corrupt` then makes one read return a provably stale value: one
 * written by an ok write W that completed before an ok overwrite W' was invoked, which itself
 * completed before the read was invoked — every linearization orders W < W' < read.
 * `crashes` makes the store an in-memory one that loses power: what the simulator's crash and
 * restart-storm scenarios do to it, acknowledged writes vanishing, in a history of any size.
 */
export interface SyntheticOptions {
  readonly ops: number;
  readonly keys: number;
  readonly processes: number;
  /** Fraction of operations whose outcome the client does not learn (half of them took effect). */
  readonly infoFraction: number;
  /** Relative weights of the functions. */
  readonly mix: Readonly<Partial<Record<OpFunction, number>>>;
  readonly corrupt: boolean;
  /**
   * Points of the run (fractions of its operations, in the order they take effect) at which the
   * store forgets every key. The next CRASH_DOWN_OPS operations find it down: the client times
   * out (info) and nothing happens.
   */
  readonly crashes?: readonly number[];
}

/** The random source: SeededRng from src/env fits. */
export interface RandomSource {
  next(): number;
  int(maxExclusive: number): number;
}

interface Planned {
  lane: number;
  callTime: number;
  instant: number;
  returnTime: number;
  key: number;
  f: OpFunction;
  info: boolean;
  tookEffect: boolean;
  input: Json;
  output: Json;
  status: EventType;
}

/** Times are in nanoseconds; an operation lasts 0.1–2 ms, clients pause up to 0.1 ms between. */
const DURATION_NS_MIN = 100_000;
const DURATION_NS_SPREAD = 1_900_000;
const THINK_NS_MAX = 100_000;

export function syntheticHistory(options: SyntheticOptions, random: RandomSource): HistoryEvent[] {
  assert(options.ops >= 1 && options.keys >= 1 && options.processes >= 1, 'synthetic history needs ops, keys, processes');
  const planned = plan(options, random);
  execute(planned, options, random);
  if (options.corrupt) corruptOneRead(planned, options.keys);
  return layOut(planned, options.processes);
}

function pickFunction(mix: SyntheticOptions['mix'], random: RandomSource): OpFunction {
  const entries = Object.entries(mix) as [OpFunction, number][];
  const total = entries.reduce((s, [, w]) => s + w, 0);
  let x = random.next() * total;
  for (const [f, w] of entries) if ((x -= w) < 0) return f;
  return (entries[entries.length - 1] as [OpFunction, number])[0];
}

function plan(options: SyntheticOptions, random: RandomSource): Planned[] {
  const out: Planned[] = [];
  const laneTime = new Float64Array(options.processes);
  for (let i = 0; i < options.ops; i++) {
    const lane = i % options.processes;
    const callTime = (laneTime[lane] as number) + 1 + random.int(THINK_NS_MAX);
    const duration = DURATION_NS_MIN + random.int(DURATION_NS_SPREAD);
    const returnTime = callTime + duration;
    laneTime[lane] = returnTime;
    const info = random.next() < options.infoFraction;
    out.push({
      lane, callTime, returnTime, instant: callTime + 1 + random.int(duration - 1), key: random.int(options.keys),
      f: pickFunction(options.mix, random), info, tookEffect: !info || random.next() < 0.5,
      input: null, output: null, status: info ? 'info' : 'ok',
    });
  }
  return out;
}

/** How many operations (in instant order) find the store down after each crash. */
const CRASH_DOWN_OPS = 20;

/** Applies the ops in instant order to a sequential map, choosing inputs and recording results. */
function execute(planned: Planned[], options: SyntheticOptions, random: RandomSource): void {
  const state: Json[] = new Array<Json>(options.keys).fill(null);
  const byInstant = planned.slice().sort((a, b) => a.instant - b.instant || a.lane - b.lane);
  const crashAt = new Set((options.crashes ?? []).map((f) => Math.floor(f * byInstant.length)));
  let unique = 0;
  let downLeft = 0;
  for (const [i, op] of byInstant.entries()) {
    if (crashAt.has(i)) {
      state.fill(null);
      downLeft = CRASH_DOWN_OPS;
    }
    if (downLeft > 0) {
      downLeft--;
      op.info = true;
      op.tookEffect = false;
      op.status = 'info';
    }
    const current = state[op.key] as Json;
    switch (op.f) {
      case 'read':
        op.output = op.tookEffect ? current : null;
        break;
      case 'write':
        op.input = ++unique;
        if (op.tookEffect) state[op.key] = op.input;
        break;
      case 'delete':
        if (op.tookEffect) state[op.key] = null;
        break;
      case 'cas': {
        const expected = random.next() < 0.7 ? current : ++unique;
        op.input = [expected, ++unique];
        if (expected !== current) op.tookEffect = false;
        if (op.tookEffect) state[op.key] = unique;
        else if (!op.info) op.status = 'fail';
        break;
      }
      case 'append': {
        op.input = `${(++unique).toString(36)},`;
        if (current !== null && typeof current !== 'string') op.tookEffect = false;
        if (op.tookEffect) state[op.key] = `${(current as string | null) ?? ''}${op.input}`;
        else if (!op.info) op.status = 'fail';
        break;
      }
    }
  }
}

/** How far back (in effects on the read's key) the corruption looks for W and W'. */
const STALE_LOOKBACK = 256;

/** Turns the first eligible ok read past 60% of the history into a stale read. */
function corruptOneRead(planned: Planned[], keys: number): void {
  // Per key, the ok operations that took effect, in instant order: only those have a known window
  // (an info one could be placed anywhere later by the checker).
  const effects: Planned[][] = Array.from({ length: keys }, () => []);
  const byInstant = planned.slice().sort((a, b) => a.instant - b.instant || a.lane - b.lane);
  const from = Math.floor(byInstant.length * 0.6);
  for (let i = 0; i < byInstant.length; i++) {
    const op = byInstant[i] as Planned;
    const list = effects[op.key] as Planned[];
    if (op.f === 'read' && op.status === 'ok' && i >= from) {
      const stale = staleValueFor(op, list);
      if (stale !== undefined) {
        op.output = stale;
        return;
      }
    }
    if (op.f !== 'read' && op.tookEffect && op.status === 'ok') list.push(op);
  }
  assert(false, 'no read could be made stale; use more operations or fewer keys');
}

/** A value written by W, with W' invoked after W completed and completed before the read. */
function staleValueFor(read: Planned, effects: readonly Planned[]): Json | undefined {
  const low = Math.max(0, effects.length - STALE_LOOKBACK);
  for (let j = effects.length - 1; j >= low; j--) {
    const overwrite = effects[j] as Planned;
    if (overwrite.returnTime >= read.callTime) continue;
    for (let k = j - 1; k >= low; k--) {
      const w = effects[k] as Planned;
      if (w.f === 'write' && w.returnTime < overwrite.callTime && w.input !== read.output) return w.input;
    }
  }
  return undefined;
}

/** Events in time order; a lane whose op ended in info continues under a new process number. */
function layOut(planned: Planned[], lanes: number): HistoryEvent[] {
  const processOf = Array.from({ length: lanes }, (_, i) => i);
  let nextProcess = lanes;
  const timed: { time: number; seq: number; event: HistoryEvent }[] = [];
  for (const [seq, op] of planned.entries()) {
    const process = processOf[op.lane] as number;
    if (op.status === 'info') processOf[op.lane] = nextProcess++;
    const key = `k${op.key}`;
    const value = op.f === 'read' || op.f === 'delete' ? null : op.input;
    timed.push({ time: op.callTime, seq: 2 * seq, event: { process, type: 'invoke', f: op.f, key, value, time: op.callTime } });
    const result = op.f === 'read' ? (op.status === 'ok' ? op.output : null) : value;
    timed.push({ time: op.returnTime, seq: 2 * seq + 1, event: { process, type: op.status, f: op.f, key, value: result, time: op.returnTime } });
  }
  timed.sort((a, b) => a.time - b.time || a.seq - b.seq);
  return timed.map((t) => t.event);
}
