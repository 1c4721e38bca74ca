import { assert } from '../../src/util/assert.js';
import type { EventType, HistoryEvent, Json, OpFunction } from '../../src/check/history.js';
import type { RandomSource } from './synthetic.js';

/**
 * The shape of MIT 6.824's key-value lab histories (the ones Porcupine's kv tests check): many
 * clerks, few keys, `append` of a unique text ("x <clerk> <n> y") most of the time, reads of the
 * whole growing string, an occasional put. What makes the shape hard is lost replies: the clerk
 * never learns whether its append happened (info, and it carries on under a new process number),
 * and when it did, the effect may land long after the invoke, anywhere up to LATE_NS_MAX later.
 * Every such append could sit at many places in a linearization, and a search that has to exhaust
 * them all to prove a violation multiplies their orders.
 *
 * `violation` makes one late read return "" on a key that an ok append or put had already written
 * before the read was invoked: appends only extend a string and no put writes "", so no
 * linearization can give that read "" (what 6.824's bad histories show when a server loses its
 * state). Everything else is linearizable by construction: each op takes effect at one instant
 * inside its window, applied in instant order to a plain map.
 */
export interface LabKvOptions {
  readonly ops: number;
  readonly clients: number;
  readonly keys: number;
  /** Fraction of operations whose reply is lost: info; half of those took effect, maybe late. */
  readonly lostFraction: number;
  /**
   * What a clerk whose reply is lost does: `info` gives up (the op is info, the clerk carries on
   * under a new process number); `stuck` waits until the end of the run, when every stuck op
   * completes ok (6.824's tests heal the network at the end), having taken effect at any instant
   * in between. Default info.
   */
  readonly lostReplies?: 'info' | 'stuck';
  /** Relative weights of read (get), write (put) and append. */
  readonly mix?: { readonly read: number; readonly write: number; readonly append: number };
  readonly violation: boolean;
}

interface Planned {
  clerk: number;
  callNs: number;
  returnNs: number;
  instantNs: number;
  key: number;
  f: OpFunction;
  status: EventType;
  tookEffect: boolean;
  input: Json;
  output: Json;
}

/** An answered op lasts 0.2–3 ms; a clerk pauses up to 0.1 ms between ops (the lab's RPCs over a LAN). */
const DURATION_NS_MIN = 200_000;
const DURATION_NS_SPREAD = 2_800_000;
const THINK_NS_MAX = 100_000;
/** A lost reply: the clerk gives up after this long; the op may take effect up to LATE_NS_MAX after its invoke. */
const TIMEOUT_NS = 5_000_000;
const LATE_NS_MAX = 30_000_000;
/** Where in the run (fraction of effects) the violating read comes. */
const VIOLATION_AT = 0.9;
const DEFAULT_MIX = { read: 45, write: 5, append: 50 } as const;

export function labKvHistory(options: LabKvOptions, random: RandomSource): HistoryEvent[] {
  assert(options.ops >= 1 && options.clients >= 1 && options.keys >= 1, 'a lab history needs ops, clerks and keys');
  assert(options.lostFraction >= 0 && options.lostFraction < 1, 'lostFraction is a fraction below 1');
  const planned = plan(options, random);
  if (options.lostReplies === 'stuck') completeAtEnd(planned, random);
  execute(planned, options.keys);
  if (options.violation) emptyOneLateRead(planned);
  return layOut(planned, options.clients);
}

function plan(options: LabKvOptions, random: RandomSource): Planned[] {
  const mix = options.mix ?? DEFAULT_MIX;
  const total = mix.read + mix.write + mix.append;
  const clock = new Float64Array(options.clients);
  const counters = new Int32Array(options.clients);
  const out: Planned[] = [];
  for (let i = 0; i < options.ops; i++) {
    const clerk = i % options.clients;
    const callNs = (clock[clerk] as number) + 1 + random.int(THINK_NS_MAX);
    const pick = random.next() * total;
    const f: OpFunction = pick < mix.read ? 'read' : pick < mix.read + mix.write ? 'write' : 'append';
    const lost = random.next() < options.lostFraction;
    const returnNs = callNs + (lost ? TIMEOUT_NS : DURATION_NS_MIN + random.int(DURATION_NS_SPREAD));
    const tookEffect = !lost || (f !== 'read' && random.next() < 0.5);
    const lateNs = lost ? random.int(LATE_NS_MAX) : random.int(returnNs - callNs - 1);
    clock[clerk] = returnNs;
    const n = counters[clerk]!++;
    out.push({
      clerk, callNs, returnNs, instantNs: callNs + 1 + lateNs, key: random.int(options.keys), f,
      status: lost ? 'info' : 'ok', tookEffect, input: f === 'read' ? null : `x ${clerk} ${n} y`, output: null,
    });
  }
  return out;
}

/**
 * A stuck op blocks its clerk: its later ops vanish, it completes ok after every other event, and
 * it takes effect at an instant between its invoke and the end of the run.
 */
function completeAtEnd(planned: Planned[], random: RandomSource): void {
  const blocked = new Set<number>();
  let endNs = 0;
  for (const op of planned) endNs = Math.max(endNs, op.returnNs);
  const kept = planned.filter((op) => {
    if (blocked.has(op.clerk)) return false;
    if (op.status !== 'info') return true;
    blocked.add(op.clerk);
    op.status = 'ok';
    op.tookEffect = true;
    op.returnNs = endNs + 1 + op.clerk;
    op.instantNs = op.callNs + 1 + random.int(endNs - op.callNs);
    return true;
  });
  planned.splice(0, planned.length, ...kept);
}

/** Applies the effects in instant order to a plain map: gets read, puts replace, appends extend. */
function execute(planned: Planned[], keys: number): void {
  const state: (string | null)[] = new Array<string | null>(keys).fill(null);
  for (const op of byInstant(planned)) {
    if (!op.tookEffect) continue;
    if (op.f === 'read') op.output = state[op.key] as string | null;
    else if (op.f === 'write') state[op.key] = op.input as string;
    else state[op.key] = `${state[op.key] ?? ''}${op.input as string}`;
  }
}

function byInstant(planned: readonly Planned[]): Planned[] {
  return planned.slice().sort((a, b) => a.instantNs - b.instantNs || a.clerk - b.clerk);
}

/** The first ok read past VIOLATION_AT whose key an ok write or append had set before its invoke now reads "". */
function emptyOneLateRead(planned: Planned[]): void {
  const ordered = byInstant(planned);
  const from = Math.floor(ordered.length * VIOLATION_AT);
  const writtenBy = new Map<number, number>(); // key → earliest return of an ok effect on it
  for (const op of planned) {
    if (op.f === 'read' || op.status !== 'ok') continue;
    writtenBy.set(op.key, Math.min(writtenBy.get(op.key) ?? Number.POSITIVE_INFINITY, op.returnNs));
  }
  for (let i = from; i < ordered.length; i++) {
    const op = ordered[i] as Planned;
    if (op.f !== 'read' || op.status !== 'ok') continue;
    if ((writtenBy.get(op.key) ?? Number.POSITIVE_INFINITY) < op.callNs) {
      op.output = '';
      return;
    }
  }
  assert(false, 'no late read could be emptied; use more operations');
}

/** Events in time order; a clerk whose op ended in info continues under a new process number. */
function layOut(planned: readonly Planned[], clerks: number): HistoryEvent[] {
  const processOf = Array.from({ length: clerks }, (_, i) => i);
  let nextProcess = clerks;
  const timed: { ns: number; seq: number; event: HistoryEvent }[] = [];
  planned.forEach((op, seq) => {
    const process = processOf[op.clerk] as number;
    if (op.status === 'info') processOf[op.clerk] = nextProcess++;
    const key = String(op.key);
    // Plain literals of one shape, as JSON.parse and the simulator's recorder make them: built by
    // spreading a shared base, 3,233 of 4,000 events had a hidden class of their own, and every
    // property load of the checker's parse went megamorphic on them (a third of its cold time),
    // which no history read from a file costs.
    timed.push({ ns: op.callNs, seq: 2 * seq, event: { process, type: 'invoke', f: op.f, key, value: op.input, time: op.callNs } });
    const value = op.f === 'read' ? (op.status === 'ok' ? op.output : null) : op.input;
    timed.push({ ns: op.returnNs, seq: 2 * seq + 1, event: { process, type: op.status, f: op.f, key, value, time: op.returnNs } });
  });
  timed.sort((a, b) => a.ns - b.ns || a.seq - b.seq);
  return timed.map((t) => t.event);
}
