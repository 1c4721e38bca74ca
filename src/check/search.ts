import { assert } from '../util/assert.js';
import { DEADLINE_POLL_STEPS, type Budget } from './budget.js';
import type { KeyHistory } from './key-history.js';
import { ConfigMemo, ROOT, zobristKeys } from './memo.js';
import { ILLEGAL, OP_APPEND, OP_CAS, OP_DELETE, OP_READ, OP_WRITE } from './model.js';
import { ResetDeadline } from './reset-deadline.js';
import { ABSENT, UNOBSERVED } from './values.js';

/**
 * The Wing–Gong linearizability search (J. M. Wing and C. Gong, 1993) in the form Lowe gave it
 * and Porcupine uses: the call and return entries sit in a doubly linked list in real-time order;
 * the candidates are the calls before the first return entry left in the list; the search tries
 * to linearize a candidate (the model accepts it and the resulting configuration is new), lifting
 * its entries out of the list, and starts again from the head; when every candidate fails, the
 * operation of the first return entry had to be linearized already, so the search backtracks to
 * the last choice and tries the next candidate there. Dancing links make lift and unlift O(1);
 * memo.ts remembers the configurations already explored. Candidates are tried earliest deadline
 * first rather than in list order (see the candidate frames below).
 *
 * Info operations have a call entry and no return entry: the search may linearize them anywhere
 * after their call, and it is done as soon as every ok operation is linearized — so they never
 * need to be.
 *
 * Seven rules cut the branching that high concurrency causes. Each keeps the answer exact: a
 * linearization exists iff one exists that obeys it. A *candidate* is a call entry before the
 * first return entry left in the list; moving a candidate earlier never breaks real-time order.
 * 1. An enabled read is a forced move. Reads do not change the state, and a read legal now is
 *    legal wherever the state is the same, so any linearization can move it to the front.
 * 2. When the state is UNOBSERVED (reduce.ts merges such values only on keys without appends), a
 *    write of an unobserved value is a forced move: it leaves the state as it is, and wherever it stood before it was
 *    followed by a write or delete (nothing can follow an unobserved value otherwise), so taking
 *    it out there changes nothing either.
 * 3. Some operations must be followed at once by an operation that depends on the state they
 *    leave — a read, a cas, or (on keys with appends) an append, which builds on it (reduce.ts
 *    ProducerFacts.lookedAt says which and why: info writes, and writes whose value is read and
 *    produced by them alone). On a key without appends there are no appends to follow, so one
 *    test serves both. Whether a configuration is under this rule is part of its identity in the
 *    memo.
 * 4. When only one thing can produce the current value v (reduce.ts producerFacts), v never comes
 *    back once the state moves on, so every ok read or cas that looks at v must be linearized
 *    before the state changes. A move that changes the state with such observers left is a dead
 *    end now rather than at the observer's return entry, possibly much later. This depends only
 *    on the configuration, so the memo stays sound.
 * 5. On a key with appends, an info append whose result is a prefix of no string an ok read
 *    returned or a cas expects (reduce.ts appendKeyFacts, observed-prefixes.ts) is never
 *    linearized. Until a write, delete or cas replaces it, the state only grows, so no read or cas
 *    can come in that stretch (what it saw would extend the result, making the result a prefix of
 *    it): only appends, legal on any string, then a write or delete, legal anywhere, or nothing.
 *    Taking the info append out of any linearization leaves every op legal — the appends after
 *    it build on the state before it, a string or absent since it was legal there — and every
 *    read and cas seeing what it saw. So a linearization with the fewest info ops taking effect
 *    never takes such an append, which rules 1–4 do not change (they move reads, and take info
 *    ops out). Without it a read of a long text, with the appends that built it weakened to info,
 *    is a search through the orders of every subset of them; with it, the read spells out the
 *    only order worth trying.
 * 6. By the same token, a move leaving a string outside those prefixes (an append, or a write or
 *    cas of such a string) is a dead end unless some write or delete could come before the next
 *    ok read or cas must return, and some write, delete or cas could leave what that read or cas
 *    sees (reset-deadline.ts): nothing else brings the state back to what it looks at. (It
 *    depends on the set linearized and the state alone, so the memo stays sound.) Before, any
 *    write left anywhere in the history kept such moves alive, and with 50 clients appending, a
 *    put a hundred events later let the search try every order of the appends in between.
 * 7. On a key with appends, all string states outside those prefixes are one state, UNOBSERVED:
 *    from any of them only appends (leaving another) and writes or deletes are legal — reads and
 *    cas ops compare with observed values — so they behave alike in every future, as rule 2's
 *    merged values do on keys without appends. The orders of the appends that built them stop
 *    being different configurations.
 * When a forced move's configuration fails (or was already known to), its parent fails too: the
 * search backtracks past it without trying the alternatives.
 *
 * Two things serve explanations and long histories (SearchOptions): a seed, a known partial order
 * to start from when only a linearization is wanted, and a stall hook that tries a cheap proof of
 * violation when the search stops making headway.
 */
export type SearchVerdict = 'ok' | 'violation' | 'unknown';

export interface SearchOptions {
  /** Memoised configurations at most (default memo.ts's CONFIGS_MAX_DEFAULT). */
  readonly configsMax?: number;
  /**
   * A partial linearization to start from (local op indices, in order), replayed as far as it
   * stays legal. Only a search for a linearization should use one: backtracking into the seed
   * gives up with verdict `unknown`, since orders that do not start with it were not tried.
   */
  readonly seed?: readonly number[];
  readonly stall?: StallHook;
}

/**
 * Proving a violation by exhausting every order is the expensive kind of search, and it is often
 * needless: the search gets stuck somewhere and then grinds through every way of arriving there.
 * When the frontier (the latest completion the search got stuck at) has not moved for `stepsFirst`
 * steps, the search asks `refute` to prove cheaply, from a few operations near that point, that
 * the history fails there (linearizability.ts; refute.ts). Each refusal doubles the wait, so the
 * attempts cost at most about as much as the search itself.
 */
export interface StallHook {
  readonly stepsFirst: number;
  /** True when the history is proven not linearizable; `stepsMax` bounds the attempt's own work. */
  refute(frontierEvent: number, stepsMax: number): boolean;
}

export interface SearchOutcome {
  readonly verdict: SearchVerdict;
  readonly steps: number;
  readonly configs: number;
  /**
   * ok: a linearization (local op indices; info ops appear where they took effect, if they did).
   * violation or unknown: the longest partial linearization found.
   */
  readonly order: readonly number[];
  /** The state after `order`. */
  readonly state: number;
  /** For a violation: the op that had to be linearized next after `order` and could not; else -1. */
  readonly stuckOp: number;
  /**
   * The latest completion event (history position) at which some branch of the search got stuck,
   * -1 if none: for a violation, a good guess at where the shortest failing prefix ends.
   */
  readonly frontierEvent: number;
  /** For a violation: whether the stall hook proved it rather than the search. */
  readonly refuted: boolean;
  /** How many ops of the seed were replayed. */
  readonly seeded: number;
}

const HEAD = 0;

/**
 * Each op's rank in the order candidates are tried (see the candidate frames in
 * searchSteps): ok ops by their completion, info ops by their invoke. Both are event positions,
 * below 2^26 (HISTORY_OPS_MAX events), so (position, op) packs into one exact double and a
 * numeric sort does it.
 */
function deadlineRanks(h: KeyHistory, rank: Int32Array, opOfRank: Int32Array): void {
  const n = h.ops.length;
  const scale = 2 ** 25;
  assert(n < scale, `a key with ${n} operations is over the limit of ${scale}`);
  const packed = new Float64Array(n);
  for (let i = 0; i < n; i++) packed[i] = ((h.isOk[i] === 1 ? h.returnEvent[i] : h.callEvent[i]) as number) * scale + i;
  packed.sort();
  for (let r = 0; r < n; r++) {
    const i = (packed[r] as number) % scale;
    rank[i] = r;
    opOfRank[r] = i;
  }
}

/** Sorts a[from, to) ascending: insertion sort for the short frames that are the rule, native past that. */
function sortRanks(a: Int32Array, from: number, to: number): void {
  if (to - from > 24) {
    a.subarray(from, to).sort();
    return;
  }
  for (let i = from + 1; i < to; i++) {
    const x = a[i] as number;
    let j = i - 1;
    for (; j >= from && (a[j] as number) > x; j--) a[j + 1] = a[j] as number;
    a[j + 1] = x;
  }
}

/** The memo's state field packs the model state with the rule-3 flag: state << 1 | needsLook. */
const packState = (state: number, needsLook: number): number => (state << 1) | needsLook;

/** The search run to its end: a verdict, or `unknown` when the budget runs out. */
export function searchLinearization(h: KeyHistory, budget: Budget, options: SearchOptions = {}): SearchOutcome {
  const run = searchSteps(h, budget, options);
  for (;;) {
    const next = run.next();
    if (next.done === true) return next.value;
  }
}

/**
 * The search as a resumable computation: with `sliceSteps`, it pauses (yields) after every that
 * many steps, so that a caller can interleave the searches of many keys and stop at the first
 * violation (linearizability.ts), deterministically: where it pauses depends on steps only.
 */
export function* searchSteps(h: KeyHistory, budget: Budget, options: SearchOptions & { readonly sliceSteps?: number } = {}):
  Generator<void, SearchOutcome, void> {
  const sliceSteps = options.sliceSteps ?? 0;
  assert(sliceSteps % DEADLINE_POLL_STEPS === 0, () => `sliceSteps ${sliceSteps} is not a multiple of ${DEADLINE_POLL_STEPS}`);
  const n = h.ops.length;
  const entryCount = h.entries.length;
  const tail = entryCount + 1;
  // The per-op and per-entry arrays of the search in one buffer: on a thousand small keys, a
  // buffer each was a good part of the search's cost (each one a backing store to track).
  const okObservers = h.facts?.okObservers ?? null;
  const framesFirst = n + 64;
  const words = new Int32Array(2 * (entryCount + 2) + 4 * n + 3 * (n + 2) + (okObservers?.length ?? 0) + framesFirst);
  let used = 0;
  const take = (length: number): Int32Array => words.subarray(used, (used += length));
  // List nodes: 0 = head, 1..entryCount = entries in order, tail = entryCount + 1.
  const next = take(entryCount + 2);
  const prev = take(entryCount + 2);
  const callNode = take(n);
  const returnNode = take(n);
  for (let node = 0; node <= tail; node++) {
    next[node] = node + 1;
    prev[node] = node - 1;
  }
  for (let e = 0; e < entryCount; e++) {
    const code = h.entries[e] as number;
    if (code >= 0) callNode[code] = e + 1;
    else returnNode[~code] = e + 1;
  }
  const { a: hashA, b: hashB } = zobristKeys(n);
  const memo = new ConfigMemo(n, packState(ABSENT, 0), options.configsMax);
  const { kind, argA, argB, isOk, entries, cell } = h;
  const lookedAt = h.facts?.lookedAt ?? new Uint8Array(n);
  const uniqueProducer = h.facts?.uniqueProducer ?? new Uint8Array(0);
  // Ok observers not yet linearized, per value (rule 4).
  const observersLeft = take(okObservers?.length ?? 0);
  if (okObservers !== null) observersLeft.set(okObservers);
  const observedPrefixes = h.facts?.observedPrefixes ?? null;
  // Rule 6: the earliest deadline of the ok reads and cas ops left, and the writes and deletes left.
  const deadline = observedPrefixes === null ? null : new ResetDeadline(kind, argA, argB, isOk, callNode, returnNode, cell.values);
  /** Rules 5 and 6: whether linearizing op x, leaving a state no one can see, is a move no one needs. */
  let deadEndOf = -1;
  let deadEndKnown = false;
  const unseen = (x: number): boolean => {
    if (kind[x] === OP_APPEND && isOk[x] === 0) return true;
    if (deadline === null) return false;
    if (kind[x] === OP_APPEND) {
      // An append is neither a read, a cas nor a reset: taking it moves none of the deadline's
      // cursors, so the answer is the configuration's, the same for every append tried from it.
      if (deadEndOf !== config) {
        deadEndOf = config;
        deadEndKnown = deadline.deadEnd();
      }
      return deadEndKnown;
    }
    // The test is about what is left once x is linearized (x may be a cas, an observer itself).
    deadline.take(x);
    const dead = deadline.deadEnd();
    deadline.restore(x);
    return dead;
  };
  /** Rule 7: a move from UNOBSERVED on a key with appends. */
  const stepUnseen = (x: number): number => {
    const k = kind[x];
    if (k === OP_APPEND) return UNOBSERVED;
    if (k === OP_WRITE) return argA[x] as number;
    return k === OP_DELETE ? ABSENT : ILLEGAL;
  };

  const unlink = (node: number): void => {
    next[prev[node] as number] = next[node] as number;
    prev[next[node] as number] = prev[node] as number;
  };
  const relink = (node: number): void => {
    next[prev[node] as number] = node;
    prev[next[node] as number] = node;
  };

  let config = ROOT;
  let okLeft = h.okCount;
  let steps = 0;
  let best = ROOT;
  let bestDepth = -1;
  let stuckOp = -1;
  let frontierEvent = -1;
  const stall = options.stall;
  let stallSteps = stall?.stepsFirst ?? 0;
  let frontierStep = 0;

  /** Tries to linearize op x now: 1 done, 0 not possible or already explored, -1 memo full. */
  const tryPush = (x: number, forced: boolean): number => {
    const packed = memo.state[config] as number;
    if ((packed & 1) === 1 && kind[x] !== OP_READ && kind[x] !== OP_CAS && kind[x] !== OP_APPEND) return 0;
    const from = packed >> 1;
    let state = observedPrefixes !== null && from === UNOBSERVED ? stepUnseen(x)
      : cell.step(from, kind[x] as number, argA[x] as number, argB[x] as number);
    if (state === ILLEGAL) return 0;
    if (observedPrefixes !== null && (state === UNOBSERVED || !observedPrefixes.mayBeSeen(state))) {
      if (unseen(x)) return 0;
      state = UNOBSERVED;
    }
    const looks = isOk[x] === 1 && (kind[x] === OP_READ || kind[x] === OP_CAS) && observersLeft.length > 0;
    if (state !== from && uniqueProducer[from] === 1 && (observersLeft[from] as number) > (looks ? 1 : 0)) return 0;
    const needsLook = lookedAt[x] as number;
    const id = memo.insert(config, x, packState(state, needsLook),
      (memo.hashA[config] as number) ^ (hashA[x] as number), (memo.hashB[config] as number) ^ (hashB[x] as number));
    if (id < 0) return id === -2 ? -1 : forced ? 2 : 0;
    memo.forced[id] = forced ? 1 : 0;
    config = id;
    if (looks) observersLeft[argA[x] as number]! -= 1;
    deadline?.take(x);
    unlink(callNode[x] as number);
    if (isOk[x] === 1) {
      unlink(returnNode[x] as number);
      okLeft--;
    }
    return 1;
  };

  // Candidate frames: the candidates of the configuration at each depth of the current path, in
  // the order they are tried. Lowe's walk tries them in invoke order, and an op with a long window
  // (a reply that came at the end of the run) is then tried first at every level: a wrong early
  // place for it is often refuted only much later, after a whole subtree. Here an ok op is tried
  // by its deadline (its completion: the op that must come soonest first) and an info op, which
  // has none, by its invoke. Any order is exact, as every candidate is still tried; measured on
  // bench:check's shapes this one takes 1.2–4× fewer steps than invoke order (1.5–2× on the
  // 100k-op single-key registers), and trying info ops last instead loses on registers, where a
  // read is often waiting for an info write's value. Both keys are event positions, so ranks are
  // distinct.
  const rank = take(n);
  const opOfRank = take(n);
  deadlineRanks(h, rank, opOfRank);
  // Per depth: where its frame starts in `frames`, the next candidate to try, and the op whose
  // return entry is first in the list (the one stuck if every candidate fails).
  const frameStart = take(n + 2);
  const frameCursor = take(n + 2);
  const frameStuck = take(n + 2);
  let frames = take(framesFirst);
  assert(used === words.length, 'the search\'s buffer is laid out exactly');

  /**
   * Lays out the candidate frame of the current configuration, and returns an op among the
   * candidates that may be linearized now without a choice (rules 1 and 2), or -1.
   */
  const layFrame = (depth: number): number => {
    const state = (memo.state[config] as number) >> 1;
    let top = frameStart[depth] as number;
    let forced = -1;
    let stuck = -1;
    for (let e = next[HEAD] as number; e !== tail; e = next[e] as number) {
      const x = entries[e - 1] as number;
      if (x < 0) {
        stuck = ~x;
        break;
      }
      if (forced < 0 && ((kind[x] === OP_READ && argA[x] === state) ||
        (state === UNOBSERVED && kind[x] === OP_WRITE && argA[x] === UNOBSERVED))) forced = x;
      // A read or cas that looks for another value than the state is illegal here (the state is
      // the configuration's, fixed for the frame; merged and unobserved values are never looked
      // for): trying it would only spend a step. A third of the steps on 6.824's append keys.
      if ((kind[x] === OP_READ || kind[x] === OP_CAS) && argA[x] !== state) continue;
      if (top === frames.length) {
        const bigger = new Int32Array(frames.length * 2);
        bigger.set(frames);
        frames = bigger;
      }
      frames[top++] = rank[x] as number;
    }
    sortRanks(frames, frameStart[depth] as number, top);
    frameCursor[depth] = frameStart[depth] as number;
    frameStart[depth + 1] = top;
    frameStuck[depth] = stuck;
    return forced;
  };

  /** Whether op x's call entry is a candidate: no return entry left before it. */
  const isCandidate = (x: number): boolean => {
    for (let e = next[HEAD] as number; e !== tail; e = next[e] as number) {
      if (e === callNode[x]) return true;
      if ((entries[e - 1] as number) < 0) return false;
    }
    return false;
  };

  // The seed, replayed as forced moves while each op is a candidate and legal under every rule.
  let seeded = 0;
  for (const x of options.seed ?? []) {
    if (x < 0 || x >= n || !isCandidate(x) || tryPush(x, true) !== 1) break;
    seeded++;
  }
  const floor = config;

  /**
   * The current configuration failed: pop it, and its parents while they were forced moves. The
   * configuration left on top then goes on with the next candidate of its frame.
   */
  const backtrack = (): boolean => {
    for (;;) {
      if (config === floor) return false;
      const x = memo.op[config] as number;
      const forced = memo.forced[config] === 1;
      config = memo.parent[config] as number;
      if (isOk[x] === 1) {
        relink(returnNode[x] as number);
        okLeft++;
        if ((kind[x] === OP_READ || kind[x] === OP_CAS) && observersLeft.length > 0) observersLeft[argA[x] as number]! += 1;
      }
      deadline?.restore(x);
      relink(callNode[x] as number);
      if (!forced) return true;
    }
  };

  let arrived = true;
  while (okLeft > 0) {
    steps++;
    if (--budget.stepsLeft < 0) {
      budget.exhausted = 'steps';
      return finish('unknown');
    }
    if (steps % DEADLINE_POLL_STEPS === 0) {
      if (budget.deadline?.() === true) {
        budget.exhausted = 'deadline';
        return finish('unknown');
      }
      if (sliceSteps > 0 && steps % sliceSteps === 0) yield;
    }
    if (stall !== undefined && steps - frontierStep >= stallSteps) {
      if (stall.refute(frontierEvent, stallSteps)) return finish('violation', true);
      if (budget.exhausted !== null) return finish('unknown');
      frontierStep = steps;
      stallSteps *= 2;
    }
    const depth = memo.depth[config] as number;
    if (arrived) {
      arrived = false;
      const x = layFrame(depth);
      if (x >= 0) {
        const pushed = tryPush(x, true);
        if (pushed === -1) return memoFull();
        if (pushed === 1) arrived = true;
        else if (pushed === 2 && !backtrack()) return finish(floor === ROOT ? 'violation' : 'unknown');
        continue;
      }
    }
    const cursor = frameCursor[depth] as number;
    if (cursor < (frameStart[depth + 1] as number)) {
      frameCursor[depth] = cursor + 1;
      const pushed = tryPush(opOfRank[frames[cursor] as number] as number, false);
      if (pushed === -1) return memoFull();
      if (pushed === 1) arrived = true;
      continue;
    }
    // Every candidate failed: the op of the first return entry had to be linearized by now.
    // Remember the deepest dead end.
    const stuck = frameStuck[depth] as number;
    assert(stuck >= 0, 'search ran out of candidates with no return entry left');
    const returnEvent = h.returnEvent[stuck] as number;
    if (returnEvent > frontierEvent) {
      frontierEvent = returnEvent;
      frontierStep = steps;
    }
    if (depth > bestDepth) {
      best = config;
      bestDepth = depth;
      stuckOp = stuck;
    }
    if (!backtrack()) return finish(floor === ROOT ? 'violation' : 'unknown');
  }
  return finish('ok');

  function memoFull(): SearchOutcome {
    budget.exhausted = 'memory';
    return finish('unknown');
  }

  function finish(verdict: SearchVerdict, refuted = false): SearchOutcome {
    const end = verdict === 'ok' || bestDepth < 0 ? config : best;
    return {
      verdict,
      steps,
      configs: memo.size,
      order: memo.path(end),
      state: (memo.state[end] as number) >> 1,
      stuckOp: verdict === 'violation' ? stuckOp : -1,
      frontierEvent,
      refuted,
      seeded,
    };
  }
}
