import type { Json, MicroOp, TxnEvent } from '../../../src/check/history.js';
import type { Rng } from '../../../src/env/rng.js';

/**
 * Synthetic list-append histories in the shape of Elle's own workload: `processes` clients run
 * transactions of 1–4 micro-operations (reads and appends) over a few active keys; a key retires
 * after `appendsPerKeyMax` appends and a fresh one takes its place, so reads stay short however
 * long the history. Each transaction takes effect atomically at one instant between its invoke
 * and its completion, against one store: the history is strictly serializable. Some transactions
 * fail (no effect) or end unknown (effect or not; the process is then replaced, as Jepsen's are).
 *
 * `anomalies` > 0 then corrupts that many ok reads, each losing its last element (a stale read:
 * a G-single or a real-time cycle), so a checker has something to find.
 */
export interface SyntheticTxnOptions {
  readonly txns: number;
  readonly processes: number;
  readonly activeKeys: number;
  readonly appendsPerKeyMax: number;
  readonly failFraction: number;
  readonly infoFraction: number;
  readonly anomalies: number;
}

export const ELLE_SHAPE: Omit<SyntheticTxnOptions, 'txns' | 'anomalies'> = {
  processes: 10, activeKeys: 10, appendsPerKeyMax: 32, failFraction: 0.02, infoFraction: 0.02,
};

interface Running {
  process: number;
  ops: MicroOp[];
  done: MicroOp[] | null;
  outcome: 'ok' | 'fail' | 'info';
}

export function syntheticTxnHistory(o: SyntheticTxnOptions, rng: Rng): TxnEvent[] {
  const events: TxnEvent[] = [];
  const state = new Map<string, Json[]>();
  const active: string[] = Array.from({ length: o.activeKeys }, (_, i) => `k${i}`);
  let nextKey = o.activeKeys;
  let nextValue = 1;
  let nextProcess = o.processes;
  const appended = new Map<string, number>();
  const slots: (Running | null)[] = Array.from({ length: o.processes }, () => null);
  const processOf = Array.from({ length: o.processes }, (_, i) => i);
  let invoked = 0;
  let time = 0;
  const pick = (): string => {
    const i = rng.int(active.length);
    const key = active[i] as string;
    if ((appended.get(key) ?? 0) >= o.appendsPerKeyMax) active[i] = `k${nextKey++}`;
    return active[i] as string;
  };
  while (invoked < o.txns || slots.some((s) => s !== null)) {
    const slot = rng.int(o.processes);
    const running = slots[slot] ?? null;
    time += 1 + rng.int(1000);
    if (running === null) {
      if (invoked >= o.txns) continue;
      invoked++;
      const ops: MicroOp[] = [];
      for (let n = 1 + rng.int(4); n > 0; n--) {
        const key = pick();
        if (rng.next() < 0.5) ops.push(['r', key, null]);
        else {
          ops.push(['append', key, nextValue++]);
          appended.set(key, (appended.get(key) ?? 0) + 1);
        }
      }
      const roll = rng.next();
      const outcome = roll < o.failFraction ? 'fail' : roll < o.failFraction + o.infoFraction ? 'info' : 'ok';
      const process = processOf[slot] as number;
      slots[slot] = { process, ops, done: null, outcome };
      events.push({ process, type: 'invoke', f: 'txn', value: ops, time });
    } else if (running.done === null && running.outcome !== 'fail') {
      // Takes effect now, atomically (an info transaction only half the time).
      running.done = running.outcome === 'info' && rng.next() < 0.5 ? [] : running.ops.map(([f, key, v]) => {
        const list = state.get(key) ?? [];
        if (f === 'append') {
          state.set(key, [...list, v]);
          return [f, key, v] as MicroOp;
        }
        return ['r', key, [...list]] as MicroOp;
      });
    } else {
      const value = running.outcome === 'ok' ? running.done as MicroOp[] : running.ops;
      events.push({ process: running.process, type: running.outcome, f: 'txn', value, time });
      slots[slot] = null;
      if (running.outcome === 'info') processOf[slot] = nextProcess++;
    }
  }
  corrupt(events, o.anomalies, rng);
  return events;
}

/** Stale reads: an ok read that saw a non-empty list loses its last element. */
function corrupt(events: TxnEvent[], count: number, rng: Rng): void {
  const candidates: [number, number][] = [];
  events.forEach((e, i) => {
    if (e.type !== 'ok') return;
    e.value.forEach(([f, , v], j) => {
      if (f === 'r' && Array.isArray(v) && v.length > 0) candidates.push([i, j]);
    });
  });
  for (let n = 0; n < count && candidates.length > 0; n++) {
    const [i, j] = candidates.splice(rng.int(candidates.length), 1)[0] as [number, number];
    const e = events[i] as TxnEvent;
    const [f, key, v] = e.value[j] as MicroOp;
    const value = [...e.value];
    value[j] = [f, key, (v as Json[]).slice(0, -1)];
    events[i] = { ...e, value };
  }
}
