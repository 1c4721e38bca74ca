/** fast-check generators of histories for the checker's properties. */
import fc from 'fast-check';
import type { HistoryEvent, Json, OpFunction } from '../../src/check/history.js';

const FUNCTIONS: OpFunction[] = ['read', 'write', 'cas', 'delete', 'append'];
const READ_RESULTS: Json[] = [null, 0, 1, 2, 'a', 'b', 'ab', 'ba'];
// Strings among the written values too: a key that holds both strings and numbers is where appends
// are legal in some states and not in others, which the append-key reductions must get right.
const WRITE_VALUES: Json[] = [0, 1, 2, 'a', 'ab'];
const CAS_VALUES: Json[] = [null, 0, 1, 2, 'a'];
const SUFFIXES = ['a', 'b'];

interface OpSpec {
  f: OpFunction;
  key: string;
  /** Index into the value pools above. */
  pick: number;
  pick2: number;
}

const opSpec = (keys: string[], functions: OpFunction[]): fc.Arbitrary<OpSpec> =>
  fc.record({
    f: fc.constantFrom(...functions),
    key: fc.constantFrom(...keys),
    pick: fc.nat(7),
    pick2: fc.nat(7),
  });

function invokeValue(spec: OpSpec): Json {
  switch (spec.f) {
    case 'read':
    case 'delete':
      return null;
    case 'write':
      return WRITE_VALUES[spec.pick % WRITE_VALUES.length] as Json;
    case 'cas':
      return [CAS_VALUES[spec.pick % CAS_VALUES.length] as Json, WRITE_VALUES[spec.pick2 % WRITE_VALUES.length] as Json];
    case 'append':
      return SUFFIXES[spec.pick % SUFFIXES.length] as string;
  }
}

/**
 * Any small well-formed history: processes invoke and complete in a random interleaving with random
 * outcomes and random read results — mostly not linearizable, which is what the agreement property
 * with the brute force needs as much as linearizable ones.
 */
export function randomHistory(options: { opsMax: number; processes: number; keys: string[]; functions?: OpFunction[] }) {
  const step = fc.record({
    process: fc.nat(options.processes - 1),
    op: opSpec(options.keys, options.functions ?? FUNCTIONS),
    end: fc.constantFrom<'ok' | 'fail' | 'info'>('ok', 'ok', 'ok', 'ok', 'fail', 'info'),
    result: fc.nat(READ_RESULTS.length - 1),
  });
  return fc.array(step, { minLength: options.opsMax, maxLength: options.opsMax * 3 }).map((steps) => {
    const events: HistoryEvent[] = [];
    const open = new Map<number, OpSpec>();
    const dead = new Set<number>();
    let ops = 0;
    for (const s of steps) {
      const p = s.process;
      if (dead.has(p)) continue;
      const busy = open.get(p);
      if (busy === undefined) {
        if (ops >= options.opsMax) continue;
        ops++;
        open.set(p, s.op);
        events.push({ process: p, type: 'invoke', f: s.op.f, key: s.op.key, value: invokeValue(s.op) });
        continue;
      }
      open.delete(p);
      if (s.end === 'info') dead.add(p);
      const value = busy.f === 'read' ? (s.end === 'ok' ? (READ_RESULTS[s.result] as Json) : null) : invokeValue(busy);
      events.push({ process: p, type: s.end, f: busy.f, key: busy.key, value });
    }
    return events;
  });
}

/** A sequential run of a plain map, each op at its own instant, seen through overlap windows. */
interface Executed {
  spec: OpSpec;
  instant: number;
  callTime: number;
  returnTime: number;
  /** ok: took effect and was acknowledged; info: unknown to the client; fail: did not happen. */
  end: 'ok' | 'fail' | 'info';
  value: Json;
  result: Json;
}

/** Where a stuck op's completion goes: after every other event, as when a network heals at the end. */
const STUCK_RETURN_TIME = 1e9;

function runSequentially(specs: OpSpec[], windows: number[], fates: number[], stuck: ReadonlySet<number>): Executed[] {
  const state = new Map<string, Json>();
  return specs.map((spec, i) => {
    const instant = 16 * i + 64;
    const callTime = instant - ((windows[2 * i] ?? 0) % 64);
    const returnTime = stuck.has(i) ? STUCK_RETURN_TIME + i : instant + ((windows[2 * i + 1] ?? 0) % 64);
    const value = invokeValue(spec);
    const fate = fates[i] ?? 0; // 0..5: mostly applied and acknowledged
    const applies = fate !== 5;
    const current = state.get(spec.key) ?? null;
    let took = applies;
    let result: Json = null;
    if (spec.f === 'read') result = current;
    if (spec.f === 'cas') took &&= JSON.stringify(current) === JSON.stringify((value as Json[])[0]);
    if (spec.f === 'append') took &&= current === null || typeof current === 'string';
    if (took) {
      if (spec.f === 'write') state.set(spec.key, value);
      if (spec.f === 'cas') state.set(spec.key, (value as Json[])[1] as Json);
      if (spec.f === 'delete') state.set(spec.key, null);
      if (spec.f === 'append') state.set(spec.key, ((current as string | null) ?? '') + (value as string));
    }
    // A cas or append that could not apply, or an op the store never ran, reports fail — or info
    // (a client that timed out cannot tell). An op that did apply may still be reported as info.
    const end = !took ? (fate === 4 ? 'info' : 'fail') : fate === 3 ? 'info' : 'ok';
    return { spec, instant, callTime, returnTime, end, value, result };
  });
}

/** Lays executed ops out on processes (one op at a time each; none after info) and as events. */
function layOut(executed: Executed[], dropInfoCompletions: boolean): HistoryEvent[] {
  const byCall = executed.slice().sort((a, b) => a.callTime - b.callTime || a.instant - b.instant);
  const freeAt: number[] = [];
  const timed: { time: number; order: number; event: HistoryEvent }[] = [];
  let order = 0;
  for (const ex of byCall) {
    let process = freeAt.findIndex((t) => t < ex.callTime);
    if (process < 0) process = freeAt.push(0) - 1;
    freeAt[process] = ex.end === 'info' ? Number.POSITIVE_INFINITY : ex.returnTime;
    const base = { process, f: ex.spec.f, key: ex.spec.key };
    timed.push({ time: ex.callTime, order: order++, event: { ...base, type: 'invoke', value: ex.value, time: ex.callTime } });
    if (ex.end === 'info' && dropInfoCompletions) continue;
    const value = ex.spec.f === 'read' ? (ex.end === 'ok' ? ex.result : null) : ex.value;
    timed.push({ time: ex.returnTime, order: order++, event: { ...base, type: ex.end, value, time: ex.returnTime } });
  }
  return timed.sort((a, b) => a.time - b.time || a.order - b.order).map((t) => t.event);
}

/**
 * Histories that are linearizable by construction: a map executed sequentially, each op at its own
 * instant, observed by clients whose invoke and completion lie anywhere in a window around it.
 * With `stuckMax`, up to that many ops complete only at the very end (their clients wait out a
 * partition): long windows that a search can try at every place, the 6.824 lab's hard shape.
 */
export function sequentialHistory(options: { opsMax: number; keys: string[]; functions?: OpFunction[]; stuckMax?: number }) {
  return fc
    .record({
      specs: fc.array(opSpec(options.keys, options.functions ?? FUNCTIONS), {
        minLength: Math.ceil(options.opsMax / 2),
        maxLength: options.opsMax,
      }),
      windows: fc.array(fc.nat(200), { minLength: 2 * options.opsMax, maxLength: 2 * options.opsMax }),
      fates: fc.array(fc.nat(5), { minLength: options.opsMax, maxLength: options.opsMax }),
      dropInfoCompletions: fc.boolean(),
      stuck: fc.array(fc.nat(options.opsMax - 1), { maxLength: options.stuckMax ?? 0 }),
    })
    .map(({ specs, windows, fates, dropInfoCompletions, stuck }) =>
      layOut(runSequentially(specs, windows, fates, new Set(stuck)), dropInfoCompletions));
}

/** A linearizable history with one ok read's result, or one op's outcome, changed. */
export function corruptedHistory(options: { opsMax: number; keys: string[]; functions?: OpFunction[]; stuckMax?: number }) {
  return fc
    .tuple(sequentialHistory(options), fc.nat(), fc.nat(READ_RESULTS.length - 1))
    .map(([events, where, result]) => {
      const completions = events.map((e, i) => ({ e, i })).filter(({ e }) => e.type === 'ok' || e.type === 'fail');
      if (completions.length === 0) return events;
      const { e, i } = completions[where % completions.length] as { e: HistoryEvent; i: number };
      const copy = events.slice();
      if (e.type === 'ok' && e.f === 'read') copy[i] = { ...e, value: READ_RESULTS[result] as Json };
      else copy[i] = { ...e, type: e.type === 'ok' ? 'fail' : 'ok' };
      return copy;
    });
}
