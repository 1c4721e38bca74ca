import { OP_APPEND, OP_CAS, OP_DELETE, OP_READ, OP_WRITE } from './model.js';
import { ObservedPrefixes } from './observed-prefixes.js';
import { ABSENT, UNOBSERVED, type ValueTable } from './values.js';

/**
 * Sound shrinking of one key's history before the search: which operations of unknown outcome
 * (info, or weakened to info by an explanation) can matter at all. Call a value *observed* when
 * an operation the search keeps compares the state with it: an ok read that returned it, or a
 * kept cas that expects it.
 *
 * On a key without appends:
 * 1. Only info writes, cas and deletes that leave an observed value are kept, where "observed"
 *    grows with the kept info cas ops (they observe their expected value): a least fixpoint,
 *    grown from the ok operations outward along "who could have produced what they saw".
 *    Proof: take any legal order and drop every info op outside the fixpoint. An op that looks at
 *    the state (ok read, kept cas) saw a value v of the fixpoint, left by the last effectful op
 *    before it; that op leaves v, so it is kept (an ok op, or an info op leaving an observed v),
 *    and the dropped ops all sit elsewhere: every op still sees what it saw. Info ops may not
 *    happen at all, so the order stays legal. A greatest fixpoint (dropping one unobserved info
 *    op at a time) would keep cycles of info cas ops that only observe each other; this does not.
 * 2. All unobserved values other than absent can be merged into one state, UNOBSERVED: no
 *    operation's legality depends on which of them the state holds, so the merged states behave
 *    the same in every future (they are bisimilar), and the search sees fewer distinct states.
 *
 * Keys with appends have their own rule 1 (appendClosure below). Reads whose outcome is unknown
 * have no effect and are left out by the caller.
 */

/** A key's operations as key-history.ts's KeyIndex holds them, in invoke order. */
export interface OpTable {
  readonly kind: Uint8Array;
  readonly argA: Int32Array;
  readonly argB: Int32Array;
  readonly callEvent: Int32Array;
  /** Ops leaving value v: producerOps[producerStart[v] .. producerStart[v + 1]), in invoke order. */
  readonly producerStart: Int32Array;
  readonly producerOps: Int32Array;
  readonly values: ValueTable;
}

/** The value a write, cas or delete leaves, or -1 (reads, and appends whose result depends on the state). */
export function leftValue(kind: number, argA: number, argB: number): number {
  if (kind === OP_WRITE) return argA;
  if (kind === OP_CAS) return argB;
  return kind === OP_DELETE ? ABSENT : -1;
}

export interface Closure {
  /** The info ops kept, unordered. */
  readonly info: number[];
  /** Per value id, 1 when observed by the ok ops or the kept info cas ops. */
  readonly observed: Uint8Array;
}

/**
 * Rule 1 on a key without appends, walking the producer index from the values the ok ops observe:
 * its cost is the number of producers of observed values, not the key's length, which keeps an
 * explanation's probes (a few ops kept, everything else weakened) cheap on long histories.
 * `candidates.isInfo(i)` says whether op i is an info op of the history being compiled.
 * REQUIRES: okOps are ok ops of the compiled history, all invoked before cutEvent.
 */
export function registerClosure(t: OpTable, okOps: readonly number[], candidates: { isInfo(i: number): boolean },
  cutEvent: number): Closure {
  const observed = new Uint8Array(t.values.size);
  const info: number[] = [];
  const work: number[] = [];
  for (const i of okOps) {
    const v = t.argA[i] as number;
    if ((t.kind[i] === OP_READ || t.kind[i] === OP_CAS) && observed[v] === 0) {
      observed[v] = 1;
      work.push(v);
    }
  }
  // Each value is walked once (observed marks it), and each op is listed under the one value it
  // leaves: no op is met twice.
  for (let v = work.pop(); v !== undefined; v = work.pop()) {
    // Values made later by appends have no entry; on a key without appends there are none.
    const indexed = v + 1 < t.producerStart.length;
    const end = indexed ? (t.producerStart[v + 1] as number) : 0;
    for (let j = indexed ? (t.producerStart[v] as number) : 0; j < end; j++) {
      const p = t.producerOps[j] as number;
      if ((t.callEvent[p] as number) >= cutEvent) break; // invoke order: the rest are later still
      if (!candidates.isInfo(p)) continue;
      info.push(p);
      const expected = t.argA[p] as number;
      if (t.kind[p] === OP_CAS && observed[expected] === 0) {
        observed[expected] = 1;
        work.push(expected);
      }
    }
  }
  return { info, observed };
}

/**
 * Rule 2, on compiled copies of the kept ops' arguments: a value left by a write or cas that no
 * kept op observes becomes UNOBSERVED.
 */
export function mergeUnobserved(kind: Uint8Array, argA: Int32Array, argB: Int32Array, observed: Uint8Array): void {
  for (let i = 0; i < kind.length; i++) {
    const a = argA[i] as number;
    const b = argB[i] as number;
    if (kind[i] === OP_WRITE && a !== ABSENT && observed[a] !== 1) argA[i] = UNOBSERVED;
    if (kind[i] === OP_CAS && b !== ABSENT && observed[b] !== 1) argB[i] = UNOBSERVED;
  }
}

/**
 * Facts about who produces and who looks at each value, on a key without appends, that let the
 * search prune dead ends early (search.ts rules 3 and 4).
 */
export interface ProducerFacts {
  /**
   * Per op, 1 when it must be followed at once by an operation that looks at the value it left
   * (a read of it or a cas expecting it):
   * - an info write, cas or delete: if what follows does not look at its value, it is a write, a
   *   delete or nothing, and the info operation can be left out (it need not happen at all);
   * - an ok write or cas that is the only producer of its value v, when an ok read or ok cas looks
   *   at v: that observer is in every linearization, after the producer, and nothing between them
   *   can change the state (no one else produces v), so the operation right after the producer
   *   looks at v.
   */
  readonly lookedAt: Uint8Array;
  /** Per value, 1 when one thing alone can produce it: one op, or for absent the initial state. */
  readonly uniqueProducer: Uint8Array;
  /** Per value, how many ok reads and ok cas ops look at it. */
  readonly okObservers: Int32Array;
  /** On a key with appends, the prefixes of what is observed (search.ts rule 5); else null. */
  readonly observedPrefixes: ObservedPrefixes | null;
}

export function producerFacts(kind: Uint8Array, argA: Int32Array, argB: Int32Array, isOk: Uint8Array,
  valueCount: number): ProducerFacts {
  const n = kind.length;
  // The four arrays in one buffer: the two counts, then the two byte arrays.
  const words = new Int32Array(2 * valueCount + ((valueCount + n + 3) >> 2));
  const producers = words.subarray(0, valueCount);
  const okObservers = words.subarray(valueCount, 2 * valueCount);
  const uniqueProducer = new Uint8Array(words.buffer, 8 * valueCount, valueCount);
  const lookedAt = new Uint8Array(words.buffer, 8 * valueCount + valueCount, n);
  producers[ABSENT] = 1; // the initial state
  for (let i = 0; i < n; i++) {
    const v = leftValue(kind[i] as number, argA[i] as number, argB[i] as number);
    if (v >= 0) producers[v]! += 1;
    if (isOk[i] === 1 && (kind[i] === OP_READ || kind[i] === OP_CAS)) okObservers[argA[i] as number]! += 1;
  }
  for (let v = 0; v < valueCount; v++) uniqueProducer[v] = producers[v] === 1 && v !== UNOBSERVED ? 1 : 0;
  for (let i = 0; i < n; i++) {
    const v = leftValue(kind[i] as number, argA[i] as number, argB[i] as number);
    if (v < 0) continue;
    const uniqueAndSeen = v !== ABSENT && uniqueProducer[v] === 1 && (okObservers[v] as number) > 0;
    lookedAt[i] = isOk[i] === 0 || uniqueAndSeen ? 1 : 0;
  }
  return { lookedAt, uniqueProducer, okObservers, observedPrefixes: null };
}

/**
 * Rule 3 on a key with appends: an info write, cas, delete or append must be followed at once by a
 * read, a cas or an append. Followed by anything else — a write or a delete, which ignore the
 * state, or nothing — it can be left out, as an info op may not happen at all. Rule 4 needs
 * values with one producer, which appends (making values from states) do not give, so it is off.
 * Rule 5 needs what is observed: the values the ok reads return and every cas expects (an info
 * cas that takes effect compares too).
 */
export function appendKeyFacts(kind: Uint8Array, argA: Int32Array, isOk: Uint8Array, values: ValueTable): ProducerFacts {
  const lookedAt = new Uint8Array(kind.length);
  const observed: number[] = [];
  for (let i = 0; i < kind.length; i++) {
    lookedAt[i] = isOk[i] === 0 && kind[i] !== OP_READ ? 1 : 0;
    if ((kind[i] === OP_READ && isOk[i] === 1) || kind[i] === OP_CAS) observed.push(argA[i] as number);
  }
  return { lookedAt, uniqueProducer: new Uint8Array(0), okObservers: new Int32Array(0),
    observedPrefixes: new ObservedPrefixes(values, observed) };
}

/** Work bound for appendClosure: info ops × characters of the texts searched. */
const UNSEEN_WORK_MAX = 2e9;

/**
 * Rule 1 for keys with appends, where a state can be built on rather than just compared: an info
 * op is kept when something could see what it left, again as a least fixpoint (a kept info cas
 * observes its expected value).
 * - An append of suffix s, or a write or cas leaving a string s: until a write, delete or cas
 *   replaces the value, every state contains s (appends only extend). If s occurs in no observed
 *   string, no ok read and no kept cas can come in that stretch — only appends, legal on any
 *   string, then a write or delete, legal anywhere — so leaving the info op out keeps every
 *   operation legal. (A chance match of s inside a longer text only keeps an op.)
 *   One exception: leaving out a write or cas of a string s makes the appends of that stretch
 *   build on the state before it, and if that state can be a value that is not a string, an ok
 *   append there becomes illegal (ok write 5, info write "zz", ok append "a" is linearizable only
 *   through "zz"). So on a key where some write or cas leaves a non-string value and some append
 *   is ok, info writes and cas leaving strings (or absent: writing null) are kept.
 * - A write or cas leaving a value that is not a string: an append after it cannot take effect,
 *   so the same holds when no kept op observes the value.
 * Info deletes are kept: an append after a delete starts from empty, which others may see.
 * `candidates` are the info ops (not reads) of the compiled history; returns the ones kept.
 */
export function appendClosure(t: OpTable, okOps: readonly number[], candidates: readonly number[]): number[] {
  const observedIds = new Set<number>();
  let texts: string[] = [];
  const observe = (id: number): void => {
    if (observedIds.has(id)) return;
    observedIds.add(id);
    const seen = t.values.value(id);
    if (typeof seen === 'string') texts.push(seen);
  };
  let okAppend = false;
  let nonString = false;
  const leavesNonString = (i: number): boolean => {
    const left = leftValue(t.kind[i] as number, t.argA[i] as number, t.argB[i] as number);
    return left > ABSENT && typeof t.values.value(left) !== 'string';
  };
  for (const i of okOps) {
    const k = t.kind[i];
    if (k === OP_READ || k === OP_CAS) observe(t.argA[i] as number);
    if (k === OP_APPEND) okAppend = true;
    if (leavesNonString(i)) nonString = true;
  }
  for (const i of candidates) if (leavesNonString(i)) nonString = true;
  const keepStrings = okAppend && nonString;
  const textLength = (ts: readonly string[]): number => ts.reduce((sum, s) => sum + s.length + 1, 0);
  const kept: number[] = [];
  let left: number[] = [];
  for (const i of candidates) {
    const k = t.kind[i] as number;
    // Absent counts as a string here: an append builds on it.
    const leavesText = k === OP_APPEND || (k !== OP_DELETE && !leavesNonString(i));
    if (k === OP_DELETE || (keepStrings && k !== OP_APPEND && leavesText)) kept.push(i);
    else left.push(i);
  }
  for (const i of kept) if (t.kind[i] === OP_CAS) observe(t.argA[i] as number);
  let work = 0;
  for (let round = true; round && left.length > 0;) {
    // Each round tests the ops still out against the strings observed since the last round only.
    const haystack = texts.join('\u0000');
    work += textLength(texts) * left.length;
    if (work > UNSEEN_WORK_MAX) return kept.concat(left);
    texts = [];
    round = false;
    const out: number[] = [];
    for (const i of left) {
      const k = t.kind[i] as number;
      const id = k === OP_APPEND || k === OP_WRITE ? (t.argA[i] as number) : (t.argB[i] as number);
      const value = t.values.value(id);
      const seen = typeof value === 'string' ? value.includes('\u0000') || haystack.includes(value) : observedIds.has(id);
      if (!seen) {
        out.push(i);
        continue;
      }
      kept.push(i);
      if (k === OP_CAS && !observedIds.has(t.argA[i] as number)) {
        observe(t.argA[i] as number);
        round = true;
      }
    }
    left = out;
  }
  return kept;
}
