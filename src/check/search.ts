import { assert } from '../util/assert.js';
import { DEADLINE_POLL_STEPS, type Budget } from './budget.js';
import type { KeyHistory } from './key-history.js';
import { ConfigMemo, ROOT, mix } from './memo.js';
import { ILLEGAL } from './model.js';
import { ABSENT } from './values.js';

/**
 * The Wing–Gong linearizability search (J. M. Wing and C. Gong, 1993) in the form Lowe gave it
 * and Porcupine uses: the call and return entries sit in a doubly linked list in real-time order;
 * the search walks it from the head, and on a call it tries to linearize that operation (the model
 * accepts it and the resulting configuration is new), lifting its entries out of the list and
 * starting again from the head; on reaching a return entry, that operation had to be linearized
 * already, so the search backtracks to the last choice and tries the next call after it.
 *
 * Info operations have a call entry and no return entry: the search may linearize them anywhere
 * after their call, and it is done as soon as every ok operation is linearized — so they never
 * need to be. Dancing links make lift and unlift O(1).
 */
export type SearchVerdict = 'ok' | 'violation' | 'unknown';

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
}

const HEAD = 0;

export function searchLinearization(h: KeyHistory, budget: Budget, configsMax?: number): SearchOutcome {
  const n = h.ops.length;
  const entryCount = h.entries.length;
  const tail = entryCount + 1;
  // List nodes: 0 = head, 1..entryCount = entries in order, tail = entryCount + 1.
  const next = new Int32Array(entryCount + 2);
  const prev = new Int32Array(entryCount + 2);
  const callNode = new Int32Array(n);
  const returnNode = new Int32Array(n);
  for (let node = 0; node <= tail; node++) {
    next[node] = node + 1;
    prev[node] = node - 1;
  }
  for (let e = 0; e < entryCount; e++) {
    const code = h.entries[e] as number;
    if (code >= 0) callNode[code] = e + 1;
    else returnNode[~code] = e + 1;
  }
  const hashA = new Int32Array(n);
  const hashB = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    hashA[i] = mix(i * 2 + 1) || 1;
    hashB[i] = mix(~i * 0x2545f491) || 1;
  }
  const memo = new ConfigMemo(n, ABSENT, configsMax);
  const { kind, argA, argB, isOk, entries, cell } = h;

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
  let entry = next[HEAD] as number;
  while (okLeft > 0) {
    steps++;
    if (--budget.stepsLeft < 0) {
      budget.exhausted = 'steps';
      return finish('unknown');
    }
    if (steps % DEADLINE_POLL_STEPS === 0 && budget.deadline?.()) {
      budget.exhausted = 'deadline';
      return finish('unknown');
    }
    assert(entry !== tail, 'search ran off the entry list with ok operations left');
    const code = entries[entry - 1] as number;
    if (code >= 0) {
      const state = cell.step(memo.state[config] as number, kind[code] as number, argA[code] as number, argB[code] as number);
      if (state !== ILLEGAL) {
        const id = memo.insert(config, code, state, (memo.hashA[config] as number) ^ (hashA[code] as number),
          (memo.hashB[config] as number) ^ (hashB[code] as number));
        if (id === -2) {
          budget.exhausted = 'memory';
          return finish('unknown');
        }
        if (id >= 0) {
          config = id;
          unlink(callNode[code] as number);
          if (isOk[code] === 1) {
            unlink(returnNode[code] as number);
            okLeft--;
          }
          entry = next[HEAD] as number;
          continue;
        }
      }
      entry = next[entry] as number;
      continue;
    }
    // A return entry: the op ~code had to be linearized by now. Remember the deepest dead end.
    if ((memo.depth[config] as number) > bestDepth) {
      best = config;
      bestDepth = memo.depth[config] as number;
      stuckOp = ~code;
    }
    if (config === ROOT) return finish('violation');
    const op = memo.op[config] as number;
    config = memo.parent[config] as number;
    if (isOk[op] === 1) {
      relink(returnNode[op] as number);
      okLeft++;
    }
    relink(callNode[op] as number);
    entry = next[callNode[op] as number] as number;
  }
  return finish('ok');

  function finish(verdict: SearchVerdict): SearchOutcome {
    const end = verdict === 'ok' || bestDepth < 0 ? config : best;
    return {
      verdict,
      steps,
      configs: memo.size,
      order: memo.path(end),
      state: memo.state[end] as number,
      stuckOp: verdict === 'violation' ? stuckOp : -1,
    };
  }
}
