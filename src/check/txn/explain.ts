import type { Json, MicroOp } from '../history.js';
import type { TxnOperation } from '../operation.js';
import type { Graph } from './graph.js';
import { show, txnName, valueKey, type Inference, type KeyInfo } from './infer.js';
import { PROCESS, RT, RW, WR, WW } from './models.js';

/**
 * Each edge of a reported cycle in words: which key, which values, and why that orders the two
 * transactions. Recomputed from the inference for the few edges shown, so the graph itself
 * stores only a key index per edge.
 */

export interface CycleStep {
  readonly from: number;
  readonly to: number;
  readonly kind: 'ww' | 'wr' | 'rw' | 'rt' | 'process';
  readonly key: string | null;
  readonly why: string;
}

/** Explanations of one transaction's operations are cut to this many characters. */
export const TXN_TEXT_CHARS_MAX = 300;

export function kindName(kind: number): CycleStep['kind'] {
  switch (kind) {
    case WW: return 'ww';
    case WR: return 'wr';
    case RW: return 'rw';
    case RT: return 'rt';
    default: return 'process';
  }
}

export function explainEdge(inf: Inference, g: Graph, from: number, e: number): CycleStep {
  const to = g.dst[e] as number;
  const kind = g.kind[e] as number;
  const k = g.key[e] as number;
  const info = k >= 0 ? inf.keys[k] as KeyInfo : null;
  const arrow = `${txnName(from)} ${kindName(kind)}→ ${txnName(to)}`;
  const f = inf.txns[from] as TxnOperation;
  const t = inf.txns[to] as TxnOperation;
  let why: string;
  if (kind === RT) {
    why = `${txnName(from)} completed (line ${f.returnLine}) before ${txnName(to)} was invoked (line ${t.callLine}), so ${arrow}`;
  } else if (kind === PROCESS) {
    why = `${txnName(from)} and then ${txnName(to)} ran on process ${f.process} (lines ${f.callLine} and ${t.callLine}), so ${arrow}`;
  } else if (info === null) {
    why = arrow;
  } else if (info.kind === 'list') {
    why = `${listWhy(inf, info, from, to, kind)}, so ${arrow}`;
  } else {
    why = `${registerWhy(inf, info, from, to, kind)}, so ${arrow}`;
  }
  return { from, to, kind: kindName(kind), key: info?.name ?? null, why };
}

function readOf(info: KeyInfo, txn: number): Json | undefined {
  return info.reads.find((r) => r.txn === txn)?.value;
}

function listWhy(inf: Inference, info: KeyInfo, from: number, to: number, kind: number): string {
  const x = info.name;
  const order = info.order;
  if (kind === WW) {
    const i = order.findIndex((w, j) => j > 0 && (order[j - 1] as typeof w).txn === from && w.txn === to);
    const a = order[i - 1];
    const b = order[i];
    const last = order[order.length - 1];
    if ((a === undefined || b === undefined) && last !== undefined) {
      const mine = (inf.txns[to] as TxnOperation).input.filter(([f, k]) => f === 'append' && k === x).map(([, , v]) => show(v));
      return `${txnName(from)} appended ${show(last.value)} to ${x}, the last element anyone saw, and ${txnName(to)}'s append of ${mine.join(', ')}, acknowledged but never seen, came after it`;
    }
    if (a === undefined || b === undefined) return `${txnName(from)} appended to ${x} before ${txnName(to)}`;
    return `${txnName(from)} appended ${show(a.value)} to ${x} and ${txnName(to)} appended ${show(b.value)} right after it (${x}'s order, as the longest read saw it: ${show(order.slice(0, i + 1).map((w) => w.value))})`;
  }
  if (kind === WR) {
    const read = readOf(info, to) as Json[];
    const last = read[read.length - 1] as Json;
    return `${txnName(to)} read ${x}=${show(read)}, whose last element ${show(last)} ${txnName(from)} appended`;
  }
  const read = (readOf(info, from) ?? []) as Json[];
  const next = order[read.length];
  if (next === undefined || next.txn !== to) {
    // An append no read saw: it comes after every version seen.
    const mine = (inf.txns[to] as TxnOperation).input.filter(([f, k]) => f === 'append' && k === x).map(([, , v]) => show(v));
    return `${txnName(from)} read ${x}=${show(read)}, all of ${x} anyone saw, and ${txnName(to)}'s append of ${mine.join(', ')} to ${x}, acknowledged, came after it`;
  }
  const after = read.length === 0 ? 'first' : `after ${show(read[read.length - 1] as Json)}`;
  return `${txnName(from)} read ${x}=${show(read)} and ${txnName(to)} appended ${show(next.value)} to ${x} ${after}, which ${txnName(from)} did not see`;
}

/** The value `txn` wrote last to the key. */
function writeOf(inf: Inference, key: string, txn: number): Json | undefined {
  const ops = (inf.txns[txn] as TxnOperation).input;
  let value: Json | undefined;
  for (const [f, k, v] of ops) if (f === 'w' && k === key) value = v;
  return value;
}

function registerWhy(inf: Inference, info: KeyInfo, from: number, to: number, kind: number): string {
  const x = info.name;
  if (kind === WR) return `${txnName(to)} read ${x}=${show(readOf(info, to) as Json)}, which ${txnName(from)} wrote`;
  if (kind === WW) {
    return `${txnName(to)} read ${x}=${show(readOf(info, to) as Json)} (${txnName(from)}'s write) and then wrote ${x}=${show(writeOf(inf, x, to) as Json)}, so ${txnName(from)}'s version comes first`;
  }
  const seen = readOf(info, from) ?? null;
  const theirs = readOf(info, to);
  const wrote = show(writeOf(inf, x, to) as Json);
  if (theirs !== undefined && valueKey(theirs) === valueKey(seen)) {
    return `${txnName(from)} read ${x}=${show(seen)}, and ${txnName(to)}, which read ${x}=${show(seen)} too, then overwrote it with ${x}=${wrote}`;
  }
  return `${txnName(from)} read ${x} as absent (its initial version) and ${txnName(to)} wrote ${x}=${wrote}, a later version`;
}

/** `T3 = p2, lines 7–9, ok: append x 3; r y [1,2]`, cut to a bounded length. */
export function describeTxn(t: TxnOperation): string {
  const ops = (t.output ?? t.input).map(([f, k, v]: MicroOp) => (f === 'r' && t.status !== 'ok' ? `r ${k}` : `${f} ${k} ${show(v)}`)).join('; ');
  const lines = t.returnLine > 0 ? `lines ${t.callLine}–${t.returnLine}` : `line ${t.callLine}`;
  const status = t.status === 'ok' ? 'ok' : t.status === 'info' ? 'outcome unknown' : 'aborted';
  const text = `${txnName(t.id)} = p${t.process}, ${lines}, ${status}: ${ops}`;
  return text.length <= TXN_TEXT_CHARS_MAX ? text : `${text.slice(0, TXN_TEXT_CHARS_MAX - 1)}…`;
}
