import type { History, TxnOperation } from '../operation.js';
import { historyFromEvents } from '../parse.js';
import { findCycles } from './cycles.js';
import { describeTxn, explainEdge, type CycleStep } from './explain.js';
import { inferDependencies } from './infer.js';
import { ANOMALY_CLASSES, edgeMaskOf, FORBIDDEN, type AnomalyClass, type Consistency } from './models.js';

/**
 * The isolation checker's public face (an Elle-style checker: Kingsbury & Alvaro, "Elle:
 * Inferring Isolation Anomalies from Experimental Observations", VLDB 2020). The simulator's
 * runner calls `checkTransactions(events, { consistency })` on a run's in-memory history; the
 * CLI (`kv-lab check --model txn`) on a parsed file.
 */

export type { AnomalyClass, Consistency, CycleAnomaly, ReadAnomaly } from './models.js';
export { ANOMALY_CLASSES, CONSISTENCY_MODELS, FORBIDDEN } from './models.js';
export type { CycleStep } from './explain.js';

export interface TxnCheckOptions {
  /** The model the history must satisfy; strict serializable by default. */
  readonly consistency?: Consistency;
  /** Cycles of one class explained at most (the rest are counted). */
  readonly cyclesPerClassMax?: number;
  /** Edges the cycle searches may look at, in all; past it, classes not yet found are unknown. */
  readonly searchStepsMax?: number;
  /** A label for an in-memory history's errors. */
  readonly source?: string;
}

export const CYCLES_PER_CLASS_MAX = 8;
export const SEARCH_STEPS_MAX = 50_000_000;
/** Edges of one cycle explained at most: a cycle through thousands of transactions is summarised. */
export const CYCLE_STEPS_EXPLAINED_MAX = 32;

export interface TxnAnomaly {
  readonly class: AnomalyClass;
  /** Whether the model checked forbids it (lost appends are reported under every model, forbidden by strict serializability only). */
  readonly forbidden: boolean;
  /** The transactions involved (ids: their invoke order, from 0, as `T<id>` in texts). */
  readonly txns: readonly number[];
  /** In words: one sentence for a read anomaly; the cycle's edges, each with why it exists, for a cycle. */
  readonly text: string;
  /** A cycle's edges in order (the last one returns to the first transaction); at most CYCLE_STEPS_EXPLAINED_MAX. */
  readonly cycle?: readonly CycleStep[];
  /** The cycle's length in edges (more than `cycle` holds when it was cut). */
  readonly cycleLength?: number;
  /** Each transaction involved: process, lines, outcome and operations. */
  readonly transactions: readonly string[];
}

export interface TxnCheckResult {
  readonly source: string;
  readonly consistency: Consistency;
  /** true: no forbidden anomaly; false: one at least; 'unknown': the search budget ran out first. */
  readonly valid: boolean | 'unknown';
  readonly verdict: 'ok' | 'violation' | 'unknown';
  readonly txnCount: number;
  readonly okCount: number;
  readonly failCount: number;
  readonly infoCount: number;
  readonly keyCount: number;
  readonly edgeCount: number;
  /** Anomalies found, by class (cycles: components holding one), in ANOMALY_CLASSES order. */
  readonly counts: Readonly<Partial<Record<AnomalyClass, number>>>;
  /** The classes found that the model forbids. */
  readonly forbiddenFound: readonly AnomalyClass[];
  /** Explained anomalies: at most cyclesPerClassMax cycles and a few reads per class. */
  readonly anomalies: readonly TxnAnomaly[];
  /** What the check could not do in full (caps reached, classes left unknown). */
  readonly notes: readonly string[];
}

/**
 * Checks the transactions of a history (a parsed History, or the in-memory events, validated
 * first: malformed events throw HistoryError). Single-key operations in it are not looked at.
 */
export function checkTransactions(history: History | readonly unknown[], options: TxnCheckOptions = {}): TxnCheckResult {
  const h = Array.isArray(history) ? historyFromEvents(history, options.source ?? 'history') : history as History;
  const consistency = options.consistency ?? 'strict-serializable';
  const forbidden = FORBIDDEN[consistency];
  const cyclesMax = options.cyclesPerClassMax ?? CYCLES_PER_CLASS_MAX;
  const inf = inferDependencies(h);
  const g = inf.graph;
  const search = findCycles(g, edgeMaskOf(consistency), forbidden, options.searchStepsMax ?? SEARCH_STEPS_MAX, cyclesMax);
  const found = new Map<AnomalyClass, number>([...inf.counts, ...search.counts]);
  const anomalies: TxnAnomaly[] = [];
  for (const d of inf.details) {
    anomalies.push({ class: d.class, forbidden: forbidden.has(d.class), txns: d.txns, text: d.text,
      transactions: [...new Set(d.txns)].map((t) => describeTxn(inf.txns[t] as TxnOperation)) });
  }
  for (const c of search.cycles) {
    const cycle: CycleStep[] = [];
    let from = g.dst[c.edges[c.edges.length - 1] as number] as number;
    for (const e of c.edges.slice(0, CYCLE_STEPS_EXPLAINED_MAX)) {
      cycle.push(explainEdge(inf, g, from, e));
      from = g.dst[e] as number;
    }
    const txns = cycle.map((s) => s.from);
    const more = c.edges.length - cycle.length;
    const text = cycle.map((s) => s.why).join('; ') + (more > 0 ? `; … and ${more} more edges back to ${cycle[0]?.from === undefined ? '' : `T${cycle[0].from}`}` : '');
    anomalies.push({ class: c.class, forbidden: true, txns, cycle, cycleLength: c.edges.length, text,
      transactions: txns.map((t) => describeTxn(inf.txns[t] as TxnOperation)) });
  }
  anomalies.sort((a, b) => ANOMALY_CLASSES.indexOf(a.class) - ANOMALY_CLASSES.indexOf(b.class));
  const counts: Partial<Record<AnomalyClass, number>> = {};
  for (const cls of ANOMALY_CLASSES) if (found.has(cls)) counts[cls] = found.get(cls) as number;
  const forbiddenFound = ANOMALY_CLASSES.filter((cls) => found.has(cls) && forbidden.has(cls));
  const notes = [...inf.notes];
  const unknown = [...search.incomplete].filter((cls) => !found.has(cls));
  if (unknown.length > 0) notes.push(`the cycle search stopped after ${search.steps} steps: ${unknown.join(', ')} not ruled out`);
  const verdict = forbiddenFound.length > 0 ? 'violation' : unknown.length > 0 ? 'unknown' : 'ok';
  const txns = inf.txns;
  return {
    source: h.source,
    consistency,
    valid: verdict === 'ok' ? true : verdict === 'violation' ? false : 'unknown',
    verdict,
    txnCount: txns.length,
    okCount: txns.filter((t) => t.status === 'ok').length,
    failCount: txns.filter((t) => t.status === 'fail').length,
    infoCount: txns.filter((t) => t.status === 'info').length,
    keyCount: inf.keys.length,
    edgeCount: g.dst.length,
    counts,
    forbiddenFound,
    anomalies,
    notes,
  };
}
