import type { HistoryEvent } from '../../../src/check/history.js';

/**
 * Plain facts about a list-append transaction history (sim/txn-workload.ts), for tests to assert
 * on until the isolation checker (src/check/txn) is wired into runs. Each is an anomaly no
 * serializable execution can show:
 * - aborted read (G1a): a read holds an element that only a failed transaction appended;
 * - lost update: two committed transactions read the same list of a key and both then appended
 *   to it — whichever serializes second should have seen the other's element;
 * - incompatible reads: two reads of a key neither of which is a prefix of the other;
 * - lost append: a committed append missing from the key's final read.
 */
export interface TxnFacts {
  committed: number;
  failed: number;
  unknown: number;
  abortedReads: string[];
  lostUpdates: string[];
  incompatibleReads: string[];
  lostAppends: string[];
}

type Micro = [string, string, unknown];

interface Done {
  type: string;
  value: Micro[];
  final: boolean;
  process: number;
}

export function txnFacts(history: readonly HistoryEvent[]): TxnFacts {
  const done: Done[] = [];
  for (const e of history) {
    if ((e.f as string) !== 'txn' || e.type === 'invoke') continue;
    done.push({ type: e.type, value: e.value as unknown as Micro[], final: e.final === true, process: e.process });
  }
  const facts: TxnFacts = { committed: 0, failed: 0, unknown: 0, abortedReads: [], lostUpdates: [], incompatibleReads: [], lostAppends: [] };
  const failedAppends = new Map<string, number>(); // `${key}/${element}` → process
  const okAppends: [string, number, number][] = [];
  for (const d of done) {
    if (d.type === 'ok') facts.committed++;
    else if (d.type === 'fail') facts.failed++;
    else facts.unknown++;
    for (const [f, k, v] of d.value) {
      if (f !== 'append') continue;
      if (d.type === 'fail') failedAppends.set(`${k}/${String(v)}`, d.process);
      if (d.type === 'ok') okAppends.push([k, v as number, d.process]);
    }
  }
  const reads = new Map<string, number[][]>();
  const finals = new Map<string, number[]>();
  const readThenAppend = new Map<string, Map<string, number>>(); // key → read list text → process
  for (const d of done) {
    if (d.type !== 'ok') continue;
    const seen = new Map<string, number[]>();
    for (const [f, k, v] of d.value) {
      if (f === 'r') {
        const list = v as number[];
        for (const x of list) {
          const p = failedAppends.get(`${k}/${x}`);
          if (p !== undefined) facts.abortedReads.push(`process ${d.process} read ${k} = ${JSON.stringify(list)}, holding ${x} of failed process ${p}`);
        }
        if (!seen.has(k)) seen.set(k, list);
        (reads.get(k) ?? reads.set(k, []).get(k) ?? []).push(list);
        if (d.final) finals.set(k, list);
      } else if (f === 'append' && seen.has(k)) {
        const text = JSON.stringify(seen.get(k));
        const by = readThenAppend.get(k) ?? readThenAppend.set(k, new Map()).get(k) ?? new Map<string, number>();
        const other = by.get(text);
        if (other !== undefined && other !== d.process) facts.lostUpdates.push(`${k}: processes ${other} and ${d.process} both read ${text} and both appended`);
        by.set(text, d.process);
        seen.delete(k); // one per transaction and key
      }
    }
  }
  const prefix = (a: number[], b: number[]) => a.length <= b.length && a.every((x, i) => b[i] === x);
  for (const [k, lists] of reads) {
    const longest = lists.reduce((a, b) => (b.length > a.length ? b : a), [] as number[]);
    for (const l of lists) if (!prefix(l, longest)) facts.incompatibleReads.push(`${k}: ${JSON.stringify(l)} is not a prefix of ${JSON.stringify(longest)}`);
  }
  for (const [k, x, p] of okAppends) {
    const fin = finals.get(k);
    if (fin !== undefined && !fin.includes(x)) facts.lostAppends.push(`${k}: ${x} of process ${p} is not in the final read ${JSON.stringify(fin)}`);
  }
  return facts;
}

export function anomalies(f: TxnFacts): string[] {
  return [...f.abortedReads, ...f.lostUpdates, ...f.incompatibleReads, ...f.lostAppends];
}
