import { RECORDED_FAIL, RECORDED_INFO, RECORDED_OK, type KeyIndex } from './key-history.js';
import { OP_APPEND, OP_CAS, OP_DELETE, OP_READ, OP_WRITE } from './model.js';
import type { FailingSet } from './refute.js';
import { leftValue } from './reduce.js';
import { ABSENT } from './values.js';

/**
 * A necessary condition per ok read (and per ok cas, which saw its expected value as a read
 * would), checked in near-linear time before any search: when one read
 * fails it, the key is not linearizable and deciding needs no search at all (with firstViolation,
 * no other key is even searched). Proving a violation by search means exhausting every order up
 * to the bad read, which on a key with many concurrent appends is the expensive kind of search.
 *
 * The condition. In any linearization, take the last op Z before an ok read r that replaces the
 * state (a write, a delete, an applied cas), or the initial absent state if there is none. After
 * Z only appends change the state, so r's value v is Z's value L extended by appends. Hence Z
 * must satisfy all of:
 * 1. Z can come before r: Z is invoked before r completes.
 * 2. No ok write, delete or cas Y must come between them (Z completes before Y is invoked, Y
 *    completes before r is invoked): Y would replace the state after Z.
 * 3. v is L extended: v = L, or L is absent or a string and v a string starting with L.
 * 4. Every ok append A that must come between them (Z completes before A is invoked, A completes
 *    before r is invoked) is one of the appends after Z: its suffix occurs in v after L, and
 *    their suffixes' lengths add up to at most |v| - |L| (each takes its own place in v).
 * For the initial state, 1 holds, 2 asks that no ok write, delete or cas completes before r is
 * invoked, and 3 and 4 take L = absent. Failed ops never take effect and are no candidates; an
 * op of unknown outcome (info) is one with no completion, so 2 and 4 never exclude it. When no
 * candidate satisfies all four, r has no place in any linearization. (Only necessary: a read
 * can pass and the key still fail; the search decides those.) On a key without appends, a read
 * refuted so is tested again for a shorter proof (rule 5, consumedOnce).
 *
 * The proof as a failing set (refute.ts: the ops kept as recorded, every other one weakened to
 * info, still fail; explanations start from it): r; for each candidate excluded by 2 or 4, the
 * candidate and the ops that excluded it (Y, or the appends); and every failed op that would be a
 * candidate once weakened.
 * With those kept, every other op weakened only adds candidates that 3 already excludes or that
 * 2 and 4 never concerned, so the same argument refutes r there.
 *
 * Cost: per read, the candidates are looked up by value (the producers of v) on a key without
 * appends or when v is no string, else scanned by invoke order; 4 sums lengths by prefix sums when Z is the initial state
 * and walks the appends after Z otherwise. Every lookup counts against WORK_PER_OP per op of the
 * key, and a key whose reads would cost more is left to the search (it proves nothing then).
 */
const WORK_PER_OP = 32;
const WORK_MIN = 4096;
/** Candidates looked at per read before leaving that read to the search. */
const CANDIDATES_MAX = 64;
/** Pinned appends whose suffix is looked for in v, latest first (the rest count by length only). */
const SUBSTRING_CHECKS_MAX = 4;
const PACK = 2 ** 25;

/** A failing set proving the key not linearizable from one of its reads, or null. */
export function refuteByReads(index: KeyIndex): FailingSet | null {
  // Most keys of a many-key history are a handful of ops: no observer, nothing to set up.
  for (let i = 0; i < index.n; i++) {
    if ((index.kind[i] === OP_READ || index.kind[i] === OP_CAS) && index.recorded[i] === RECORDED_OK) return new ReadRefuter(index).run();
  }
  return null;
}

class ReadRefuter {
  private readonly index: KeyIndex;
  private readonly hasAppends: boolean;
  private work: number;
  /** Ok resets (write, delete, applied cas) by completion, and the latest invoke among the first j of them. */
  private readonly okResetRet: Int32Array;
  private readonly okResetMaxCall: Int32Array;
  private readonly okResetArgMax: Int32Array;
  /** Ok appends by completion: their invoke, suffix length, and prefix sums of the lengths. */
  private readonly appendOps: Int32Array;
  private readonly appendRet: Int32Array;
  private readonly appendLenSum: Float64Array;
  /** Resets of every outcome by invoke (append keys: the candidates in order). */
  private readonly resets: Int32Array;
  /** The ops that prove the current read fails, while it is being refuted. */
  private readonly proof: number[] = [];

  constructor(index: KeyIndex) {
    this.index = index;
    const n = index.n;
    this.work = WORK_MIN + WORK_PER_OP * n;
    // Plain loops and native numeric sorts: this runs once per key, mostly before V8 has
    // optimised anything, where every closure and comparator call is interpreted.
    let okResetCount = 0;
    let appendCount = 0;
    let resetCount = 0;
    let hasAppends = false;
    for (let i = 0; i < n; i++) {
      const k = index.kind[i];
      if (k === OP_APPEND) {
        hasAppends = true;
        if (index.recorded[i] === RECORDED_OK) appendCount++;
      } else if (k !== OP_READ) {
        resetCount++;
        if (index.recorded[i] === RECORDED_OK) okResetCount++;
      }
    }
    this.hasAppends = hasAppends;
    // Two buffers for the lot (ints, and doubles for the packed sorts and the length sums): a
    // thousand small keys made nine buffers each.
    const doubles = new Float64Array(okResetCount + 2 * appendCount + 1);
    const okResets = doubles.subarray(0, okResetCount);
    const appends = doubles.subarray(okResetCount, okResetCount + appendCount);
    this.appendLenSum = doubles.subarray(okResetCount + appendCount);
    const words = new Int32Array(resetCount + 3 * okResetCount + 2 * appendCount);
    let used = 0;
    const take = (length: number): Int32Array => words.subarray(used, (used += length));
    this.resets = take(resetCount); // ops are in invoke order already
    this.okResetRet = take(okResetCount);
    this.okResetMaxCall = take(okResetCount);
    this.okResetArgMax = take(okResetCount);
    this.appendOps = take(appendCount);
    this.appendRet = take(appendCount);
    okResetCount = appendCount = resetCount = 0;
    for (let i = 0; i < n; i++) {
      const k = index.kind[i];
      if (k === OP_READ) continue;
      const ok = index.recorded[i] === RECORDED_OK;
      // (completion, op) packed into one exact double: completions are below 2^26, ops below 2^25.
      const packed = (index.returnEvent[i] as number) * PACK + i;
      if (k === OP_APPEND) {
        if (ok) appends[appendCount++] = packed;
      } else {
        this.resets[resetCount++] = i;
        if (ok) okResets[okResetCount++] = packed;
      }
    }
    okResets.sort();
    appends.sort();
    let max = -1;
    let arg = -1;
    for (let j = 0; j < okResetCount; j++) {
      const i = (okResets[j] as number) % PACK;
      this.okResetRet[j] = index.returnEvent[i] as number;
      if ((index.callEvent[i] as number) > max) {
        max = index.callEvent[i] as number;
        arg = i;
      }
      this.okResetMaxCall[j] = max;
      this.okResetArgMax[j] = arg;
    }
    for (let j = 0; j < appendCount; j++) {
      const i = (appends[j] as number) % PACK;
      this.appendOps[j] = i;
      this.appendRet[j] = index.returnEvent[i] as number;
      this.appendLenSum[j + 1] = (this.appendLenSum[j] as number) + (index.values.value(index.argA[i] as number) as string).length;
    }
  }

  run(): FailingSet | null {
    const index = this.index;
    for (let r = 0; r < index.n; r++) {
      // An ok cas saw its expected value as a read would (the state was that value just before it).
      if ((index.kind[r] !== OP_READ && index.kind[r] !== OP_CAS) || index.recorded[r] !== RECORDED_OK) continue;
      const refuted = this.refutes(r);
      if (refuted === null) return null; // out of work
      if (refuted) {
        const ops = [...new Set([r, ...this.proof])].sort((a, b) => a - b);
        let event = -1;
        for (const i of ops) event = Math.max(event, index.returnEvent[i] as number);
        return { ops, event };
      }
    }
    return null;
  }

  /** Whether no candidate Z fits read r (this.proof then says why); null when the work ran out. */
  private refutes(r: number): boolean | null {
    const index = this.index;
    const v = index.argA[r] as number;
    const rCall = index.callEvent[r] as number;
    const rRet = index.returnEvent[r] as number;
    this.proof.length = 0;
    // Rule 2's bound: the latest invoke among the ok resets completed before r's invoke.
    const dominated = upperBound(this.okResetRet, rCall);
    const maxCall = dominated === 0 ? -1 : (this.okResetMaxCall[dominated - 1] as number);
    if (this.extends(ABSENT, v)) {
      // The initial state: excluded by any ok reset completed before r's invoke (the first will do).
      if (dominated > 0) this.proof.push(this.okResetArgMax[0] as number);
      else if (this.appendsFit(-1, ABSENT, v, rCall)) return this.work >= 0 ? false : null;
    }
    // The candidates invoked before r completes (rule 1): only the producers of v can pass rule 3
    // on a key without appends, or when v is no string; else every reset in turn, latest first.
    let ops = this.resets;
    let from = 0;
    let to = ops.length;
    if (!this.hasAppends || typeof index.values.value(v) !== 'string') {
      ops = index.producerOps;
      from = index.producerStart[v] as number;
      to = index.producerStart[v + 1] as number;
    }
    const first = lowerBoundBy(ops, from, to, index.callEvent, rRet) - 1;
    for (let j = first; j >= from; j--) {
      if (first - j >= CANDIDATES_MAX) return false; // too many to look at: left to the search
      const out = this.excluded(ops[j] as number, v, rCall, maxCall, dominated);
      if (out !== true) return out;
    }
    if (this.work < 0) return null;
    // Refuted: rule 5 may give a shorter proof (a key that checks out never builds the cas index).
    if (!this.hasAppends) this.consumedOnce(r);
    return true;
  }

  /** Whether candidate z is excluded for a read of v (rules 2-4); null when the work ran out. */
  private excluded(z: number, v: number, rCall: number, maxCall: number, dominated: number): boolean | null {
    const index = this.index;
    if (--this.work < 0) return null;
    const left = leftValue(index.kind[z] as number, index.argA[z] as number, index.argB[z] as number);
    if (!this.extends(left, v)) return true;
    const recorded = index.recorded[z];
    if (recorded === RECORDED_FAIL) {
      this.proof.push(z); // kept as failed: weakened, it would be a candidate
      return true;
    }
    if (recorded === RECORDED_INFO) return false;
    const zRet = index.returnEvent[z] as number;
    if (maxCall > zRet) {
      // The first ok reset (by completion, before r's invoke) invoked after z completed.
      this.proof.push(z, this.okResetArgMax[upperBound(this.okResetMaxCall, zRet + 1, dominated)] as number);
      return true;
    }
    if (this.appendsFit(zRet, left, v, rCall)) return this.work >= 0 ? false : null;
    this.proof.push(z);
    return true;
  }

  /**
   * Rule 5 (keys without appends, where only writes and cas ops produce a value): an ok cas C
   * that expects v, leaves another value and completes before r is invoked needs v before it, and
   * r needs v again after it: two ops that produce v (or the initial state for absent), invoked
   * before r completes. With at most one, r fails. The proof is C and r, with the failed
   * producers (weakened, they would be producers). It names the cas that consumed the value a
   * stale read saw: a smaller proof than the write that came after it, and the one people expect.
   */
  private consumedOnce(r: number): boolean {
    // Only when the read is already refuted: the proof it gives replaces this.proof.
    const index = this.index;
    const v = index.argA[r] as number;
    const rCall = index.callEvent[r] as number;
    const rRet = index.returnEvent[r] as number;
    const casStart = index.casStart;
    if (v + 1 >= casStart.length) return false;
    let consumer = -1;
    const casEnd = casStart[v + 1] as number;
    for (let j = casStart[v] as number; j < casEnd && (index.callEvent[index.casOps[j] as number] as number) < rCall; j++) {
      const c = index.casOps[j] as number;
      if (--this.work < 0) return false;
      if (index.recorded[c] === RECORDED_OK && (index.returnEvent[c] as number) < rCall && index.argB[c] !== v) {
        consumer = c;
        break;
      }
    }
    if (consumer < 0) return false;
    let producers = v === ABSENT ? 1 : 0;
    const failed: number[] = [];
    const end = index.producerStart[v + 1] as number;
    for (let j = index.producerStart[v] as number; j < end; j++) {
      const z = index.producerOps[j] as number;
      if ((index.callEvent[z] as number) >= rRet) break;
      if (--this.work < 0) return false;
      if (index.recorded[z] === RECORDED_FAIL) failed.push(z);
      else if (++producers > 1) return false;
    }
    this.proof.length = 0;
    this.proof.push(consumer, ...failed);
    return true;
  }

  /** Rule 3: whether appends alone can take `left` to `v`. */
  private extends(left: number, v: number): boolean {
    if (left === v) return true;
    if (!this.hasAppends) return false;
    const target = this.index.values.value(v);
    if (typeof target !== 'string') return false;
    if (left === ABSENT) return true;
    const from = this.index.values.value(left);
    return typeof from === 'string' && target.startsWith(from);
  }

  /**
   * Rule 4 for a candidate completed at `zRet` (-1: the initial state) leaving `left`: the ok
   * appends invoked after zRet and completed before rCall fit in v after `left`. When they do
   * not, the appends that show it are in this.proof. Running out of work answers true.
   */
  private appendsFit(zRet: number, left: number, v: number, rCall: number): boolean {
    const index = this.index;
    const end = upperBound(this.appendRet, rCall);
    if (end === 0) return true; // no ok append completed before r's invoke: none is pinned
    const target = index.values.value(v);
    const from = left === ABSENT ? '' : index.values.value(left);
    const strings = typeof target === 'string' && typeof from === 'string';
    const room = strings ? target.length - from.length : -1;
    if (zRet < 0) {
      // The initial state: every ok append completed before r's invoke is pinned.
      if (!strings) {
        this.proof.push(this.appendOps[end - 1] as number);
        return false;
      }
      if ((this.appendLenSum[end] as number) > room) {
        for (let j = 0; j < end; j++) this.proof.push(this.appendOps[j] as number);
        return false;
      }
      for (let j = end - 1; j >= 0 && j >= end - SUBSTRING_CHECKS_MAX; j--) {
        if (!this.occurs(this.appendOps[j] as number, target as string, (from as string).length)) return false;
      }
      return true;
    }
    // The appends completed after z and before r's invoke, latest first: those also invoked after z
    // completed are pinned. Their lengths come from the prefix sums, their count is kept, and
    // the proof (rare) walks them again: this loop runs over every append between a candidate
    // and its read, and a call or two per append there was most of the read test's cold cost.
    const appendRet = this.appendRet;
    const appendOps = this.appendOps;
    const lenSum = this.appendLenSum;
    const callEvent = index.callEvent;
    const offset = strings ? (from as string).length : 0;
    let pinned = 0;
    let length = 0;
    for (let j = end - 1; j >= 0 && (appendRet[j] as number) > zRet; j--) {
      const a = appendOps[j] as number;
      if ((callEvent[a] as number) <= zRet) continue;
      if (--this.work < 0) return true;
      if (!strings) {
        this.proof.push(a);
        return false;
      }
      if (pinned < SUBSTRING_CHECKS_MAX && !this.occurs(a, target as string, offset)) return false;
      pinned++;
      length += (lenSum[j + 1] as number) - (lenSum[j] as number);
      if (length > room) {
        for (let i = end - 1; i >= j; i--) if ((callEvent[appendOps[i] as number] as number) > zRet) this.proof.push(appendOps[i] as number);
        return false;
      }
    }
    return true;
  }

  // Methods rather than closures made per call: appendsFit runs once per candidate of every read,
  // and a closure per call was a tenth of the read test's time (more under tsx, which names each).
  private suffixOf(a: number): string {
    return this.index.values.value(this.index.argA[a] as number) as string;
  }

  /** Whether the suffix of pinned append a occurs in `target` from `offset` (the proof is a when not). */
  private occurs(a: number, target: string, offset: number): boolean {
    this.work -= (target.length >> 5) + 1;
    // Searched from the end: the appends pinned are the latest before the read, whose suffixes sit
    // near the end of what it read, where indexOf from `offset` scanned the whole text first (a
    // tenth of a cold verdict on the 6.824 shape). Same answer: an occurrence at or after
    // `offset` exists iff the last one is there.
    if (target.lastIndexOf(this.suffixOf(a)) >= offset) return true;
    this.proof.push(a);
    return false;
  }
}

/** The number of entries of the ascending `a[0, end)` that are below `x`. */
function upperBound(a: Int32Array, x: number, end = a.length): number {
  let lo = 0;
  let hi = end;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((a[mid] as number) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The first j in [from, to) with key[ops[j]] >= x (ops ascending by key there), or `to`. */
function lowerBoundBy(ops: Int32Array, from: number, to: number, key: Int32Array, x: number): number {
  let lo = from;
  let hi = to;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((key[ops[mid] as number] as number) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
