import type { HistoryEvent, Json } from './history.js';

/**
 * The lost-write check: an acknowledged mutation must be visible to every later read, unless some
 * other mutation could legitimately have replaced it in between.
 *
 * A mutation w (ok) of key k is reported lost at a read r of k (ok, invoked after w completed)
 * when r does not show w and no other mutation of k could be ordered between them: every other
 * write, cas or delete either failed, or completed before w was invoked, or began after r ended.
 * No order consistent with real time explains r then, so a report is never a false alarm. The
 * check is weaker than linearizability, but it says in plain words which acknowledged write
 * vanished and which read noticed — the first thing to know after a crash.
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
        completeIndex: Infinity, invokeTime: ev.time ?? null, completeTime: null,
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
    const reads = ops.filter((o) => o.f === 'read' && o.type === 'ok').sort((a, b) => a.completeIndex - b.completeIndex);
    // Ops are in invoke order already (pair() walks the history in order).
    const mutations = ops.filter((o) => o.f !== 'read' && o.type !== 'fail');
    if (reads.length === 0) {
      if (mutations.some((o) => o.type === 'ok')) keysUnread.push(key);
      continue;
    }
    keysChecked++;
    readsChecked += reads.length;
    const reported = new Set<PairedOp>();
    const report = (w: PairedOp, r: PairedOp) => {
      if (reported.has(w)) return;
      reported.add(w);
      lost.push({ key, f: w.f, value: w.value, process: w.process, invokeTime: w.invokeTime, completeTime: w.completeTime, readProcess: r.process, readValue: r.value, readTime: r.invokeTime });
    };
    const separator = mutations.find((o) => o.f === 'append' && typeof o.value === 'string' && o.value.length > 0)?.value as string | undefined;
    const erasers = mutations.filter((o) => o.f !== 'append');
    const appends = mutations.filter((o) => o.f === 'append' && o.type === 'ok');
    // prefixMaxComplete[i]: the latest completion among mutations[0..i-1].
    const prefixMaxComplete = new Float64Array(mutations.length + 1).fill(-1);
    mutations.forEach((m, i) => (prefixMaxComplete[i + 1] = Math.max(prefixMaxComplete[i] as number, m.completeIndex)));
    let m = 0;
    let e = 0;
    let erasersMaxComplete = -1;
    for (const r of reads) {
      while (m < mutations.length && (mutations[m] as PairedOp).invokeIndex < r.completeIndex) m++;
      while (e < erasers.length && (erasers[e] as PairedOp).invokeIndex < r.completeIndex) {
        erasersMaxComplete = Math.max(erasersMaxComplete, (erasers[e] as PairedOp).completeIndex);
        e++;
      }
      const tokens = separator === undefined ? null : tokensOf(r.value, separator.slice(-1));
      // The only mutation that can be "the last one" for sure: the latest invoked before r ended,
      // if every other one had completed before it began.
      const w = m > 0 ? (mutations[m - 1] as PairedOp) : undefined;
      if (w !== undefined && w.f !== 'append' && w.type === 'ok' && w.completeIndex < r.invokeIndex && (prefixMaxComplete[m - 1] as number) < w.invokeIndex && !shows(w, r.value, tokens)) {
        report(w, r);
      }
      // Appends after the last possible eraser must all be in the value read.
      for (const a of appends) {
        if (a.invokeIndex <= erasersMaxComplete || a.completeIndex >= r.invokeIndex) continue;
        if (!shows(a, r.value, tokens)) report(a, r);
      }
    }
  }
  return { lost, keysChecked, readsChecked, keysUnread };
}
