import type { HistoryEvent, Json } from './history.js';

/**
 * The lost-write check: after the faults have healed, the final state must still show every
 * acknowledged mutation, unless some other mutation could legitimately have replaced it.
 *
 * The final state is what the final reads see: the reads a run makes of every key once the
 * cluster has healed (history events marked `final: true`). A mutation w (ok) of key k is reported
 * lost when the final read of k does not show it and no other mutation of k could be ordered
 * after it: every other write, cas or delete either failed, or completed before w was invoked, or
 * began after the final read ended. No order consistent with real time explains the final state
 * then, so a report is never a false alarm. Reads during the run are the linearizability
 * checker's business: a stale read from a lagging replica is an anomaly, but not a lost write.
 *
 * "Shows" means: the value read equals a write's or cas's value; contains an append's token (other
 * appends add tokens, they cannot erase one); is absent after a delete.
 */

export interface LostWrite {
  key: string;
  f: string;
  value: Json;
  process: number;
  invokeTime: number | null;
  completeTime: number | null;
  /** The read that did not see it: its process, what it found, when it began. */
  readProcess: number;
  readValue: Json;
  readTime: number | null;
}

export interface LostWritesResult {
  lost: LostWrite[];
  keysChecked: number;
  readsChecked: number;
  /** Keys with acknowledged mutations but no successful final read: nothing to compare against. */
  keysUnread: string[];
}

interface PairedOp {
  process: number;
  f: string;
  key: string;
  value: Json;
  type: 'ok' | 'fail' | 'info';
  invokeIndex: number;
  /** Index of the completion in the history; Infinity for an operation still open (info). */
  completeIndex: number;
  /** One of the reads made after the faults healed. */
  final: boolean;
  invokeTime: number | null;
  completeTime: number | null;
}

/** Pairs each invoke with its completion; an operation open at the end counts as info. */
function pair(history: readonly HistoryEvent[]): PairedOp[] {
  const open = new Map<number, PairedOp>();
  const ops: PairedOp[] = [];
  history.forEach((ev, i) => {
    if (ev.type === 'invoke') {
      const op: PairedOp = {
        process: ev.process, f: ev.f, key: ev.key, value: ev.value, type: 'info', invokeIndex: i,
        completeIndex: Infinity, invokeTime: ev.time ?? null, completeTime: null, final: ev.final === true,
      };
      open.set(ev.process, op);
      ops.push(op);
      return;
    }
    const op = open.get(ev.process);
    if (op === undefined) return;
    open.delete(ev.process);
    op.type = ev.type;
    if (ev.type !== 'info') op.completeIndex = i;
    op.completeTime = ev.time ?? null;
    if (ev.type === 'ok' && ev.f === 'read') op.value = ev.value;
  });
  return ops;
}

function shows(op: PairedOp, value: Json, tokens: ReadonlySet<string> | null): boolean {
  switch (op.f) {
    case 'write':
      return jsonSame(value, op.value);
    case 'cas':
      return jsonSame(value, (op.value as Json[])[1] as Json);
    case 'append':
      return tokens !== null && typeof op.value === 'string' && tokens.has(op.value);
    case 'delete':
      return value === null;
    default:
      return true;
  }
}

/**
 * The appended tokens a string is made of. Appended values end with a separator character that
 * does not occur inside them (the simulator's are `a17;`), so a string splits back into them.
 */
function tokensOf(value: Json, separator: string): Set<string> | null {
  if (typeof value !== 'string') return null;
  const out = new Set<string>();
  let start = 0;
  for (let i = value.indexOf(separator); i >= 0; i = value.indexOf(separator, i + 1)) {
    out.add(value.slice(start, i + 1));
    start = i + 1;
  }
  if (start < value.length) out.add(value.slice(start));
  return out;
}

function jsonSame(a: Json, b: Json): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Whether o, ordered last, could leave the key holding `value`. */
function couldProduce(o: PairedOp, value: Json): boolean {
  switch (o.f) {
    case 'write':
      return jsonSame(o.value, value);
    case 'cas':
      return jsonSame((o.value as Json[])[1] as Json, value);
    case 'delete':
      return value === null;
    case 'append':
      return typeof value === 'string';
    default:
      return false;
  }
}

/** The latest completion among ops, leaving out `except`. */
function latestCompletion(ops: readonly PairedOp[]): { first: number; firstOp: PairedOp | null; second: number } {
  let first = -1;
  let firstOp: PairedOp | null = null;
  let second = -1;
  for (const o of ops) {
    if (o.completeIndex > first) {
      second = first;
      first = o.completeIndex;
      firstOp = o;
    } else if (o.completeIndex > second) second = o.completeIndex;
  }
  return { first, firstOp, second };
}

export function checkLostWrites(history: readonly HistoryEvent[]): LostWritesResult {
  const byKey = new Map<string, PairedOp[]>();
  for (const op of pair(history)) {
    let list = byKey.get(op.key);
    if (list === undefined) byKey.set(op.key, (list = []));
    list.push(op);
  }
  const lost: LostWrite[] = [];
  const keysUnread: string[] = [];
  let keysChecked = 0;
  let readsChecked = 0;
  for (const [key, ops] of [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const finals = ops.filter((o) => o.f === 'read' && o.type === 'ok' && o.final);
    const mutations = ops.filter((o) => o.f !== 'read' && o.type !== 'fail');
    const r = finals.reduce<PairedOp | undefined>((a, b) => (a === undefined || b.completeIndex > a.completeIndex ? b : a), undefined);
    if (r === undefined) {
      if (mutations.some((o) => o.type === 'ok')) keysUnread.push(key);
      continue;
    }
    keysChecked++;
    readsChecked += finals.length;
    const candidates = mutations.filter((o) => o.invokeIndex < r.completeIndex);
    // Who could have written what the final read saw, and who could have erased appended tokens.
    const producers = latestCompletion(candidates.filter((o) => couldProduce(o, r.value)));
    const erasers = latestCompletion(candidates.filter((o) => o.f !== 'append'));
    const separator = (mutations.find((o) => o.f === 'append' && typeof o.value === 'string' && o.value.length > 0)?.value as string | undefined)?.slice(-1);
    const tokens = separator === undefined ? null : tokensOf(r.value, separator);
    for (const w of mutations) {
      if (w.type !== 'ok' || w.completeIndex >= r.invokeIndex || shows(w, r.value, tokens)) continue;
      const others = w.f === 'append' ? erasers : producers;
      const latest = others.firstOp === w ? others.second : others.first;
      if (latest > w.invokeIndex) continue; // something could have come after w and left this value
      lost.push({ key, f: w.f, value: w.value, process: w.process, invokeTime: w.invokeTime, completeTime: w.completeTime, readProcess: r.process, readValue: r.value, readTime: r.invokeTime });
    }
  }
  return { lost, keysChecked, readsChecked, keysUnread };
}
