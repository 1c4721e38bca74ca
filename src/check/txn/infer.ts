import type { Json, MicroOp } from '../history.js';
import { canonicalJson, showValue } from '../json.js';
import type { History, TxnOperation } from '../operation.js';
import { HistoryError } from '../parse.js';
import { EdgeBuilder, type Graph } from './graph.js';
import { PROCESS, RT, RW, WR, WW, type AnomalyClass } from './models.js';

/**
 * From what transactions read to the dependency graph (Adya's direct serialization graph, as
 * Elle infers it). A key is a list-append key when it is appended to, a register key when it is
 * written; its kind is fixed by the history (appending to a written key is bad input).
 *
 * List-append keys (Elle, section 4): every version of a key is a prefix of later ones, so the
 * longest list read is the version order as far as anything saw it, and each read names exactly
 * which version it saw. With each appended value unique per key, every element names its writer:
 * - ww: the writers of consecutive elements of the longest read;
 * - wr: the writer of a read's last element → the reader;
 * - rw: the reader → the writer of the element after the read's last one.
 * A read that is not a prefix of the longest is an incompatible order; it gives no edges.
 *
 * Register keys with unique written values: a read names its writer (wr). The version order is
 * known only where every model we check forces it: the initial (absent) version precedes every
 * write, and a transaction that read v and then wrote the key installed its version after v
 * (otherwise the read and the write would close a G1c cycle, forbidden by every model here).
 * Those pairs give ww (v's writer → the transaction) and rw (v's other readers → the
 * transaction); a reader of the absent version → each writer with no known predecessor. An rw
 * edge to a later version than the next stands for an rw edge followed by ww edges, with the
 * same number of anti-dependencies, so no cycle changes class through it.
 *
 * Real time: T1 → T2 when T1 completed (ok) before T2 was invoked, transitively reduced (each
 * invoke links only the latest completions not already ordered); process order links each
 * process's consecutive transactions.
 */

/** How many read anomalies of one class keep their details; the rest are only counted. */
export const DETAILS_PER_CLASS_MAX = 8;
/** Edges from readers of the initial version to writers, at most (a blind-write workload makes their product). */
export const INITIAL_READ_EDGES_MAX = 2_000_000;
/** Unobserved acknowledged appends of one key given edges at most (they are the few last ones in practice). */
export const UNOBSERVED_APPENDS_MAX = 1_000;

function isPrefix(writers: readonly Writer[], of: readonly Writer[]): boolean {
  if (writers.length > of.length) return false;
  for (let i = 0; i < writers.length; i++) if (writers[i] !== of[i]) return false;
  return true;
}

export interface Writer {
  readonly txn: number;
  /** The micro-operation's index in its transaction. */
  readonly op: number;
  readonly value: Json;
  /** The transaction's last write of this key (its other writes are intermediate versions). */
  final: boolean;
  /** Scratch for finding duplicates in one read (Inferrer.resolve). */
  stamp: number;
}

export interface ExternalRead {
  readonly txn: number;
  readonly op: number;
  readonly value: Json;
  /** Whether the transaction writes (or appends to) the key after this read. */
  readonly writesAfter: boolean;
}

export interface KeyInfo {
  readonly name: string;
  kind: 'list' | 'register' | 'unwritten';
  /** Line of the first write or append, for the mixed-kind error. */
  kindLine: number;
  readonly writers: Map<string, Writer>;
  /**
   * What ok transactions saw of the key from others: per transaction its first read, less its
   * own appends when it had already appended (list keys), or before its own writes (registers).
   */
  readonly reads: ExternalRead[];
  /** List keys: every list read, own appends included: each is a version, so each must fit the order. */
  readonly observations: ExternalRead[];
  /** List keys: the version order, as its elements' writers (the longest compatible read). */
  order: Writer[];
}

export interface ReadAnomalyDetail {
  readonly class: AnomalyClass;
  readonly txns: readonly number[];
  readonly key: string;
  readonly text: string;
}

export interface Inference {
  readonly txns: readonly TxnOperation[];
  readonly keys: readonly KeyInfo[];
  readonly graph: Graph;
  readonly counts: Map<AnomalyClass, number>;
  readonly details: ReadAnomalyDetail[];
  readonly notes: string[];
}

/** How a value is compared: by content (HISTORY.md: objects compare by content). */
export function valueKey(v: Json): string {
  return typeof v === 'number' ? String(v) : typeof v === 'string' ? JSON.stringify(v) : canonicalJson(v);
}

export function txnName(t: number): string {
  return `T${t}`;
}

/** Values in explanations are cut short; a list keeps its end, where list-append anomalies are. */
export function show(v: Json): string {
  const charsMax = 60;
  if (!Array.isArray(v)) return showValue(v, charsMax);
  const whole = canonicalJson(v);
  if (whole.length <= charsMax) return whole;
  const tail: string[] = [];
  let chars = 0;
  for (let i = v.length - 1; i >= 0 && tail.length < v.length - 1; i--) {
    const text = showValue(v[i] as Json, 20);
    if (chars + text.length > charsMax - 16 && tail.length > 0) break;
    tail.unshift(text);
    chars += text.length + 1;
  }
  return `[…${v.length - tail.length} more, ${tail.join(',')}]`;
}

/** What one transaction has done to one key so far (Inferrer.readOwnTransaction). */
interface OwnState {
  /** Its latest read of the key (undefined: none yet). */
  lastRead: Json | undefined;
  /** List keys: its appends since that read. */
  since: Json[];
  /** Register keys: its latest write since that read. */
  written: Json | undefined;
  wrote: boolean;
  read: boolean;
}

class Inferrer {
  readonly keyIndex = new Map<string, number>();
  readonly keys: KeyInfo[] = [];
  readonly counts = new Map<AnomalyClass, number>();
  readonly details: ReadAnomalyDetail[] = [];
  readonly notes: string[] = [];
  readonly edges = new EdgeBuilder();

  constructor(readonly history: History, readonly txns: readonly TxnOperation[]) {}

  report(cls: AnomalyClass, txns: readonly number[], key: string, text: () => string): void {
    const n = (this.counts.get(cls) ?? 0) + 1;
    this.counts.set(cls, n);
    if (n <= DETAILS_PER_CLASS_MAX) this.details.push({ class: cls, txns, key, text: text() });
  }

  keyOf(name: string): KeyInfo {
    let k = this.keyIndex.get(name);
    if (k === undefined) {
      k = this.keys.length;
      this.keyIndex.set(name, k);
      this.keys.push({ name, kind: 'unwritten', kindLine: 0, writers: new Map(), reads: [], observations: [], order: [] });
    }
    return this.keys[k] as KeyInfo;
  }

  /** Every write and append, by key and value; a key's kind; duplicates are bad input. */
  collectWriters(): void {
    for (const t of this.txns) {
      const last = new Map<string, Writer>();
      t.input.forEach(([f, key, value], op) => {
        if (f === 'r') return;
        const info = this.keyOf(key);
        const kind = f === 'append' ? 'list' : 'register';
        if (info.kind === 'unwritten') {
          info.kind = kind;
          info.kindLine = t.callLine;
        } else if (info.kind !== kind) {
          throw new HistoryError(this.history.source, t.callLine, `key ${JSON.stringify(key)} is ${f === 'w' ? 'written' : 'appended to'} here but ${info.kind === 'list' ? 'appended to' : 'written'} at line ${info.kindLine}; a key is either a list-append key or a register`);
        }
        const vk = valueKey(value);
        const other = info.writers.get(vk);
        if (other !== undefined) {
          const where = (this.txns[other.txn] as TxnOperation).callLine;
          throw new HistoryError(this.history.source, t.callLine, `${f === 'w' ? 'writes' : 'appends'} ${show(value)} to key ${JSON.stringify(key)} again (also at line ${where}); the checker needs each value written to a key once, to know which write a read saw`);
        }
        const w: Writer = { txn: t.id, op, value, final: true, stamp: 0 };
        const before = last.get(key);
        if (before !== undefined && kind === 'register') before.final = false;
        if (before !== undefined && kind === 'list') before.final = false;
        last.set(key, w);
        info.writers.set(vk, w);
      });
    }
  }

  /**
   * One ok transaction's reads against its own earlier reads and writes of each key, and its
   * external reads (its first read of a key, less its own appends when it had appended) for the
   * inference. A read that misses the transaction's own writes is `internal` under every model;
   * two reads that differ by more than its own writes are a fuzzy read (Adya's P2), which read
   * committed allows and snapshot isolation does not.
   */
  readOwnTransaction(t: TxnOperation): void {
    const ops = t.output as readonly MicroOp[];
    // Maps, not scans: a transaction may hold thousands of micro-operations.
    const lastWrite = new Map<string, number>();
    ops.forEach(([f, key], op) => {
      if (f !== 'r') lastWrite.set(key, op);
    });
    const own = new Map<string, OwnState>();
    ops.forEach(([f, key, value], op) => {
      const info = this.keyOf(key);
      let s = own.get(key);
      if (s === undefined) {
        s = { lastRead: undefined, since: [], written: undefined, wrote: false, read: false };
        own.set(key, s);
      }
      if (f !== 'r') {
        if (f === 'append') s.since.push(value);
        else s.written = value;
        s.wrote = true;
        return;
      }
      if (!this.readShapeOk(t, info, value)) return;
      const list = info.kind === 'list';
      const seen = list ? (value ?? []) as Json[] : value;
      const consistent = this.ownReadConsistent(t, key, list, seen, s);
      const writesAfter = (lastWrite.get(key) ?? -1) > op;
      if (list) info.observations.push({ txn: t.id, op, value: seen, writesAfter });
      const first = !s.read;
      const mine = s.since;
      s.read = true;
      s.lastRead = seen;
      s.since = [];
      s.written = undefined;
      if (!first) return;
      if (!s.wrote) info.reads.push({ txn: t.id, op, value: seen, writesAfter });
      else if (list && consistent && mine.length > 0) {
        // Read after its own appends: what others had appended is the list less its own tail.
        const all = seen as Json[];
        info.reads.push({ txn: t.id, op, value: all.slice(0, all.length - mine.length), writesAfter });
      }
    });
  }

  /** Whether a read shows the transaction's own writes since its last read (reports internal and fuzzy reads). */
  private ownReadConsistent(t: TxnOperation, key: string, list: boolean, seen: Json, s: OwnState): boolean {
    const at = `${txnName(t.id)} (line ${t.returnLine})`;
    if (list) {
      const mine = s.since;
      if (mine.length > 0 && valueKey((seen as Json[]).slice(-mine.length)) !== valueKey(mine)) {
        this.report('internal', [t.id], key, () => `${at} appended ${mine.map(show).join(', ')} to ${key} and then read ${key}=${show(seen)}, which does not end with its own appends`);
        return false;
      }
      const before = s.lastRead;
      if (before !== undefined && valueKey([...(before as Json[]), ...mine]) !== valueKey(seen)) {
        this.report('fuzzy-read', [t.id], key, () => `${at} read ${key}=${show(before)} and later ${key}=${show(seen)}${mine.length > 0 ? `, having appended only ${mine.map(show).join(', ')} itself` : ''}: someone else's appends showed up between its reads`);
      }
      return true;
    }
    if (s.written !== undefined) {
      const written = s.written;
      if (valueKey(written) !== valueKey(seen)) {
        this.report('internal', [t.id], key, () => `${at} wrote ${key}=${show(written)} and then read ${key}=${show(seen)}`);
        return false;
      }
      return true;
    }
    const before = s.lastRead;
    if (before !== undefined && valueKey(before) !== valueKey(seen)) {
      this.report('fuzzy-read', [t.id], key, () => `${at} read ${key}=${show(before)} and later ${key}=${show(seen)}, without writing it between`);
    }
    return true;
  }

  /** A list key reads as a list (or null: absent); a key nobody wrote reads as absent. */
  private readShapeOk(t: TxnOperation, info: KeyInfo, value: Json): boolean {
    if (info.kind === 'list' && value !== null && !Array.isArray(value)) {
      this.report('garbage-read', [t.id], info.name, () => `${txnName(t.id)} (line ${t.returnLine}) read ${info.name}=${show(value)}, but ${info.name} is a list-append key: a read of it is a list`);
      return false;
    }
    if (info.kind === 'unwritten' && value !== null && !(Array.isArray(value) && value.length === 0)) {
      this.report('garbage-read', [t.id], info.name, () => `${txnName(t.id)} (line ${t.returnLine}) read ${info.name}=${show(value)}, but no transaction ever wrote ${info.name}`);
      return false;
    }
    return true;
  }

  /** The version order of a list key, and its ww, wr and rw edges. */
  inferList(k: number): void {
    const info = this.keys[k] as KeyInfo;
    const usable: { read: ExternalRead; writers: Writer[] }[] = [];
    for (const read of info.observations) {
      const writers = this.elementWriters(info, read, true);
      if (writers !== null) usable.push({ read, writers });
    }
    let longest: Writer[] = [];
    let longestRead: ExternalRead | null = null;
    for (const u of usable) {
      if (u.writers.length > longest.length) {
        longest = u.writers;
        longestRead = u.read;
      }
    }
    info.order = longest;
    for (let i = 1; i < longest.length; i++) this.dependency((longest[i - 1] as Writer).txn, (longest[i] as Writer).txn, WW, k);
    const reported = new Set<number>();
    for (const { read, writers } of usable) {
      if (isPrefix(writers, longest) || reported.has(read.txn)) continue;
      reported.add(read.txn);
      const other = longestRead as ExternalRead;
      let at = 0;
      while (writers[at] === longest[at]) at++;
      const mine = read.value as Json[];
      const theirs = other.value as Json[];
      this.report('incompatible-order', [read.txn, other.txn], info.name, () => `${txnName(read.txn)} read ${info.name}=${show(mine)} and ${txnName(other.txn)} read ${info.name}=${show(theirs)}: they part at element ${at + 1}, ${show(mine[at] as Json)} in one and ${show(theirs[at] as Json)} in the other (after ${show(mine.slice(Math.max(0, at - 3), at))}), so no one order of appends explains both`);
    }
    const unobserved = this.unobservedAppends(info, k);
    for (const read of info.reads) {
      const writers = this.elementWriters(info, read, false);
      if (writers === null || !isPrefix(writers, longest)) continue;
      if (writers.some((w) => w.txn === read.txn)) {
        this.futureRead(info, read);
        continue;
      }
      this.readEdges(k, read, writers.length === 0 ? null : writers[writers.length - 1] as Writer, longest[writers.length] ?? null);
      // A read of the whole observed order precedes every acknowledged append nobody saw.
      if (writers.length === longest.length) for (const u of unobserved) this.dependency(read.txn, u, RW, k);
    }
    this.lostAppends(info);
    this.writersOf.clear(); // only this key's lists are looked up twice
  }

  /**
   * Acknowledged appends that no read saw: each was installed after the last observed version
   * (every position up to the longest read's length is taken), so that version's writer → each
   * (ww), and the readers of it → each (rw, in inferList). At most UNOBSERVED_APPENDS_MAX.
   */
  private unobservedAppends(info: KeyInfo, k: number): number[] {
    const inOrder = new Set(info.order.map((w) => w.txn));
    const out = new Set<number>();
    for (const w of info.writers.values()) {
      if (out.size >= UNOBSERVED_APPENDS_MAX) break;
      if (!inOrder.has(w.txn) && this.happened(w.txn)) out.add(w.txn);
    }
    const last = info.order[info.order.length - 1];
    if (last !== undefined) for (const u of out) this.dependency(last.txn, u, WW, k);
    return [...out];
  }

  /** The writers of a list read's elements, or null when the read is garbage or has duplicates (reported). */
  private elementWriters(info: KeyInfo, read: ExternalRead, reportIt: boolean): Writer[] | null {
    const elements = read.value as Json[];
    // A transaction's first read is both an observation and its external read: one list, resolved once.
    const cached = this.writersOf.get(elements);
    if (cached !== undefined) return cached;
    const writers = this.resolve(info, read, elements, reportIt);
    this.writersOf.set(elements, writers);
    return writers;
  }

  /** Lists resolved to writers, by identity (see elementWriters). */
  private readonly writersOf = new Map<readonly Json[], Writer[] | null>();
  /** Marks a writer as seen in the list being resolved, without a set per list. */
  private stamp = 0;

  private resolve(info: KeyInfo, read: ExternalRead, elements: readonly Json[], reportIt: boolean): Writer[] | null {
    const writers: Writer[] = [];
    const stamp = ++this.stamp;
    for (const element of elements) {
      const w = info.writers.get(valueKey(element));
      if (w === undefined) {
        if (!reportIt) return null;
        this.report('garbage-read', [read.txn], info.name, () => `${txnName(read.txn)} read ${info.name}=${show(read.value)}, but no transaction appended ${show(element)} to ${info.name}`);
        return null;
      }
      if (w.stamp === stamp) {
        if (!reportIt) return null;
        this.report('duplicate-append', [read.txn, w.txn], info.name, () => `${txnName(read.txn)} read ${info.name}=${show(read.value)}, in which ${show(element)} (appended once, by ${txnName(w.txn)}) appears twice`);
        return null;
      }
      w.stamp = stamp;
      writers.push(w);
    }
    return writers;
  }

  /** G1a, G1b, and the wr and rw edges of one external read that saw `last` and was followed by `next`. */
  private readEdges(k: number, read: ExternalRead, last: Writer | null, next: Writer | null): void {
    const info = this.keys[k] as KeyInfo;
    if (last !== null && last.txn !== read.txn) {
      const writer = this.txns[last.txn] as TxnOperation;
      if (writer.status === 'fail') {
        this.report('G1a', [read.txn, last.txn], info.name, () => `${txnName(read.txn)} read ${info.name}=${show(read.value)}, which has ${show(last.value)} from ${txnName(last.txn)}, and ${txnName(last.txn)} aborted (fail at line ${writer.returnLine})`);
      } else {
        if (!last.final) {
          this.report('G1b', [read.txn, last.txn], info.name, () => `${txnName(read.txn)} read ${info.name}=${show(read.value)}, an intermediate version: ${txnName(last.txn)} wrote ${show(last.value)} and then wrote ${info.name} again in the same transaction`);
        }
        this.dependency(last.txn, read.txn, WR, k);
      }
    }
    if (info.kind === 'list') {
      // G1a for any aborted element, not only the last.
      for (const element of read.value as Json[]) {
        const w = info.writers.get(valueKey(element)) as Writer;
        if (w !== last && (this.txns[w.txn] as TxnOperation).status === 'fail') {
          this.report('G1a', [read.txn, w.txn], info.name, () => `${txnName(read.txn)} read ${info.name}=${show(read.value)}, which has ${show(w.value)} from ${txnName(w.txn)}, and ${txnName(w.txn)} aborted`);
        }
      }
    }
    if (next !== null && (this.txns[next.txn] as TxnOperation).status !== 'fail') this.dependency(read.txn, next.txn, RW, k);
  }

  /**
   * Lost updates (Elle's lost-update; Adya's P4): two committed transactions that read the same
   * version of a key and both wrote it. Whatever the order of their writes, the later one
   * overwrote a version it never saw.
   */
  lostUpdates(info: KeyInfo): void {
    const byVersion = new Map<string, { read: ExternalRead; txns: number[] }>();
    for (const read of info.reads) {
      if (!read.writesAfter) continue;
      const vk = valueKey(read.value ?? (info.kind === 'list' ? [] : null));
      const same = byVersion.get(vk);
      if (same === undefined) byVersion.set(vk, { read, txns: [read.txn] });
      else same.txns.push(read.txn);
    }
    for (const { read, txns } of byVersion.values()) {
      if (txns.length < 2) continue;
      const who = txns.length === 2 ? `${txnName(txns[0] as number)} and ${txnName(txns[1] as number)} both` : `${txns.map(txnName).join(', ')} all`;
      this.report('lost-update', txns, info.name, () => `${who} read ${info.name}=${show(read.value)} and then wrote ${info.name}: each later write overwrote a version its transaction never saw`);
    }
  }

  /** A read, before the transaction's own writes of the key, that already has one of them. */
  private futureRead(info: KeyInfo, read: ExternalRead): void {
    const t = this.txns[read.txn] as TxnOperation;
    this.report('internal', [read.txn], info.name, () => `${txnName(read.txn)} (line ${t.returnLine}) read ${info.name}=${show(read.value)}, which has a value ${txnName(read.txn)} itself writes only after that read`);
  }

  /** Acknowledged appends that a read begun after their transaction completed does not have. */
  private lostAppends(info: KeyInfo): void {
    let latest: ExternalRead | null = null;
    for (const r of info.reads) {
      if (latest === null || (this.txns[r.txn] as TxnOperation).callEvent > (this.txns[latest.txn] as TxnOperation).callEvent) latest = r;
    }
    if (latest === null) return;
    const reader = this.txns[latest.txn] as TxnOperation;
    const inRead = new Set((latest.value as Json[]).map(valueKey));
    for (const [vk, w] of info.writers) {
      const writer = this.txns[w.txn] as TxnOperation;
      if (writer.status !== 'ok' || inRead.has(vk) || writer.returnEvent > reader.callEvent || w.txn === latest.txn) continue;
      const l = latest;
      this.report('lost-append', [w.txn, l.txn], info.name, () => `${txnName(w.txn)} appended ${show(w.value)} to ${info.name} and completed (line ${writer.returnLine}) before ${txnName(l.txn)} began (line ${reader.callLine}), yet ${txnName(l.txn)} read ${info.name}=${show(l.value)} without it`);
    }
  }

  /** A register key: wr from each read; ww and rw where the version order is forced. */
  inferRegister(k: number): void {
    const info = this.keys[k] as KeyInfo;
    const readersOf = new Map<string, number[]>();
    for (const read of info.reads) {
      const vk = valueKey(read.value);
      const readers = readersOf.get(vk);
      if (readers === undefined) readersOf.set(vk, [read.txn]);
      else readers.push(read.txn);
      if (read.value === null) continue;
      const w = info.writers.get(vk);
      if (w === undefined) {
        this.report('garbage-read', [read.txn], info.name, () => `${txnName(read.txn)} read ${info.name}=${show(read.value)}, but no transaction wrote ${show(read.value)} to ${info.name}`);
        continue;
      }
      if (w.txn === read.txn) this.futureRead(info, read);
      else this.readEdges(k, read, w, null);
    }
    // Which transactions overwrote which version: an ok transaction's read, then its write.
    const hasPredecessor = new Set<number>();
    for (const read of info.reads) {
      if (!read.writesAfter || read.value === null) continue;
      hasPredecessor.add(read.txn);
      const w = info.writers.get(valueKey(read.value));
      if (w === undefined) continue;
      if ((this.txns[w.txn] as TxnOperation).status !== 'fail') this.dependency(w.txn, read.txn, WW, k);
      for (const other of readersOf.get(valueKey(read.value)) ?? []) this.dependency(other, read.txn, RW, k);
    }
    const initialReaders = readersOf.get('null') ?? [];
    if (initialReaders.length === 0) return;
    let budget = INITIAL_READ_EDGES_MAX;
    const roots = new Set<number>();
    for (const [vk, w] of info.writers) {
      const t = this.txns[w.txn] as TxnOperation;
      // An unacknowledged write counts only if someone saw it; an aborted one never.
      if (this.happened(t.id) && w.final && !hasPredecessor.has(w.txn)) roots.add(w.txn);
    }
    for (const reader of initialReaders) {
      for (const root of roots) {
        if (budget-- <= 0) {
          this.notes.push(`key ${JSON.stringify(info.name)}: only the first ${INITIAL_READ_EDGES_MAX} read-write edges from reads of its initial version were kept`);
          return;
        }
        this.dependency(reader, root, RW, k);
      }
    }
  }

  /** Transactions of unknown outcome that some read saw a write of: they took effect, all of them. */
  readonly seenInfo = new Set<number>();

  /** Marks the info transactions whose writes some read saw (before any key's edges, since a transaction's writes take effect together). */
  markSeen(): void {
    const infoTxns = new Set(this.txns.filter((t) => t.status === 'info').map((t) => t.id));
    if (infoTxns.size === 0) return;
    for (const info of this.keys) {
      let any = false;
      for (const w of info.writers.values()) if (infoTxns.has(w.txn)) any = true;
      if (!any) continue;
      for (const r of info.kind === 'list' ? info.observations : info.reads) {
        for (const v of info.kind === 'list' ? (Array.isArray(r.value) ? r.value : []) : [r.value]) {
          const w = info.writers.get(valueKey(v));
          if (w !== undefined && (this.txns[w.txn] as TxnOperation).status === 'info') this.seenInfo.add(w.txn);
        }
      }
    }
  }

  /** Whether a transaction certainly took effect: acknowledged, or seen. */
  happened(t: number): boolean {
    const status = (this.txns[t] as TxnOperation).status;
    return status === 'ok' || (status === 'info' && this.seenInfo.has(t));
  }

  dependency(from: number, to: number, kind: number, key: number): void {
    if (from === to) return;
    if ((this.txns[from] as TxnOperation).status === 'fail' || (this.txns[to] as TxnOperation).status === 'fail') return;
    this.edges.add(from, to, kind, key);
  }

  /** Real-time edges, transitively reduced, and process order. */
  realTime(): void {
    const at = new Int32Array(this.history.eventCount).fill(-1);
    for (const t of this.txns) {
      if (t.status === 'fail') continue;
      at[t.callEvent] = 2 * t.id;
      if (t.status === 'ok') at[t.returnEvent] = 2 * t.id + 1;
    }
    // The latest completions: those no other completed transaction follows in real time.
    const frontier = new Set<number>();
    const before = new Map<number, number[]>();
    for (let e = 0; e < at.length; e++) {
      const code = at[e] as number;
      if (code < 0) continue;
      const t = code >> 1;
      if ((code & 1) === 0) {
        const preds = [...frontier];
        for (const p of preds) this.edges.add(p, t, RT, -1);
        if ((this.txns[t] as TxnOperation).status === 'ok') before.set(t, preds);
      } else {
        for (const p of before.get(t) ?? []) frontier.delete(p);
        before.delete(t);
        frontier.add(t);
      }
    }
    const lastOf = new Map<number, number>();
    for (const t of this.txns) {
      if (t.status === 'fail') continue;
      const prev = lastOf.get(t.process);
      if (prev !== undefined) this.edges.add(prev, t.id, PROCESS, -1);
      lastOf.set(t.process, t.id);
    }
  }
}

export function inferDependencies(history: History): Inference {
  const txns = history.txns ?? [];
  const inf = new Inferrer(history, txns);
  inf.collectWriters();
  for (const t of txns) if (t.status === 'ok') inf.readOwnTransaction(t);
  inf.markSeen();
  for (let k = 0; k < inf.keys.length; k++) {
    const info = inf.keys[k] as KeyInfo;
    if (info.kind === 'list') inf.inferList(k);
    else if (info.kind === 'register') inf.inferRegister(k);
    if (info.kind !== 'unwritten') inf.lostUpdates(info);
  }
  inf.realTime();
  return { txns, keys: inf.keys, graph: inf.edges.build(txns.length), counts: inf.counts, details: inf.details, notes: inf.notes };
}
