import type { Outcome } from '../src/client/client.js';
import type { Json } from '../src/check/history.js';
import type { Rng } from '../src/env/rng.js';
import type { KvOp } from '../src/node/protocol.js';
import { assert } from '../src/util/assert.js';
import type { WorkloadKind } from './scenario.js';

/**
 * Transactional workloads (issue 21 item 4), after Elle's (Kingsbury & Alvaro, VLDB 2020):
 *
 * - `txn-list-append`: each micro-operation reads a key's list or appends a unique number to it.
 *   A list is stored as a string of space-separated numbers, each appended with APPEND ("17 "),
 *   and turned back into a list when recorded. Every value is unique, so a read names the
 *   appends it saw, in order: what lets a checker infer write-write and write-read dependencies.
 * - `txn-rw-register`: reads and writes of unique values (as strings, which every protocol stores).
 *
 * A transaction runs BEGIN, its micro-operations in order, then COMMIT, over the scenario's
 * protocol. The history gets one operation for it (src/check/HISTORY.md):
 *   invoke {"f": "txn", "value": [["append", "x", 3], ["r", "y", null]]}
 *   ok     the same with every read filled ([] for an absent list, null for an absent register)
 *   fail   certainly not committed: anything that went wrong before COMMIT was sent (nothing
 *          commits without COMMIT), or COMMIT answered a definite error (`ERR aborted …`)
 *   info   COMMIT's outcome is unknown (a timeout, a lost connection)
 */

export type MicroOp = [f: 'r' | 'append' | 'w', key: string, value: Json];

/** What a transaction slot needs to run operations (sim/workload.ts's OpClient). */
export interface TxnClient {
  invoke(op: KvOp, done: (o: Outcome) => void): void;
}

export interface TxnEnd {
  type: 'ok' | 'fail' | 'info';
  value: MicroOp[];
  /** For the history's free-form fields: the node, the error. */
  detail: Record<string, unknown>;
}

export class TxnGenerator {
  private valueNext = 1;
  /** The operations next() made to run outside any transaction (workload.txnPlain). */
  private readonly plain = new WeakSet<MicroOp[]>();
  /** The transactions next() made to begin with a RANGE: their first micro-operations, one per key. */
  private readonly ranged = new WeakSet<MicroOp[]>();

  constructor(
    private readonly kind: Exclude<WorkloadKind, 'kv'>,
    private readonly length: number,
    private readonly keysPerTxn: number,
    private readonly rng: Rng,
    private readonly pickKey: () => string,
    /** The share of operations that are one read or write of one key outside any transaction. */
    private readonly plainShare = 0,
    /** The share of transactions that begin with a RANGE over every key (the workload's keys, listed). */
    private readonly range: { share: number; keys: readonly string[] } = { share: 0, keys: [] },
  ) {
    assert(length >= 1 && keysPerTxn >= 1, 'a transaction has operations and keys');
  }

  /** A new transaction's micro-operations, reads null (or one, to run outside a transaction). */
  next(): MicroOp[] {
    if (this.plainShare > 0 && this.rng.chance(this.plainShare)) {
      const key = this.pickKey();
      const ops: MicroOp[] = [this.rng.chance(0.5) ? ['r', key, null] : [this.kind === 'txn-list-append' ? 'append' : 'w', key, this.valueNext++]];
      this.plain.add(ops);
      return ops;
    }
    const keys: string[] = [];
    // Distinct keys by the scenario's distribution; a few tries, then fewer keys (tiny keyspaces).
    for (let tries = 0; keys.length < this.keysPerTxn && tries < this.keysPerTxn * 4; tries++) {
      const k = this.pickKey();
      if (!keys.includes(k)) keys.push(k);
    }
    const n = 1 + this.rng.int(this.length);
    const ops: MicroOp[] = [];
    if (this.range.share > 0 && this.rng.chance(this.range.share)) {
      // A RANGE over the whole keyspace, recorded as a read of every key (an absent key read as
      // empty): a phantom — a key the range missed that a transaction ordered before it wrote —
      // is then an ordinary read-write dependency the checker sees.
      for (const k of [...this.range.keys].sort()) ops.push(['r', k, null]);
      this.ranged.add(ops);
    }
    for (let i = 0; i < n; i++) {
      const key = this.rng.pick(keys);
      if (this.rng.chance(0.5)) ops.push(['r', key, null]);
      else ops.push([this.kind === 'txn-list-append' ? 'append' : 'w', key, this.valueNext++]);
    }
    return ops;
  }

  /** Runs one transaction through the client; done once, with the history's completion. */
  run(client: TxnClient, ops: MicroOp[], done: (end: TxnEnd) => void): void {
    if (this.plain.has(ops)) return this.runPlain(client, ops[0] as MicroOp, done);
    const filled: MicroOp[] = ops.map((m) => [...m] as MicroOp);
    const failed = (o: Outcome, what: string, txn: string | null): void => {
      // Nothing commits without COMMIT: whatever happened before it, this transaction did not.
      if (txn !== null) client.invoke({ f: 'txn.rollback', txn }, () => {});
      done({ type: 'fail', value: ops, detail: o.type === 'info' ? { error: `${what}: ${o.reason}` } : o.type === 'fail' ? { node: o.node, error: `${what}: ${o.code} ${o.message}` } : { error: `${what}: unexpected` } });
    };
    client.invoke({ f: 'txn.begin' }, (begun) => {
      if (begun.type !== 'ok' || typeof begun.value !== 'string') return failed(begun, 'begin', null);
      const txn = begun.value;
      const step = (i: number): void => {
        if (i === filled.length) return this.commit(client, txn, filled, ops, done);
        if (i === 0 && this.ranged.has(ops)) return this.runRange(client, txn, filled, (o) => (o === null ? step(this.range.keys.length) : failed(o, 'range', txn)));
        const [f, key, value] = filled[i] as MicroOp;
        const op: KvOp = { f: 'txn.op', txn, op: f === 'r' ? { f: 'read', key } : f === 'append' ? { f: 'append', key, value: `${String(value)} ` } : { f: 'write', key, value: String(value) } };
        client.invoke(op, (o) => {
          if (o.type !== 'ok') return failed(o, `${f} ${key}`, txn);
          if (f === 'r') {
            const read = this.decode(o.value);
            if (read === undefined) return failed({ type: 'fail', code: 'internal', message: `unreadable value ${JSON.stringify(o.value)}`, node: o.node }, `r ${key}`, txn);
            (filled[i] as MicroOp)[2] = read;
          }
          step(i + 1);
        });
      };
      step(0);
    });
  }

  /** The RANGE a transaction begins with: fills the first reads (one per key, in order); done(null), or the outcome that failed it. */
  private runRange(client: TxnClient, txn: string, filled: MicroOp[], done: (failed: Outcome | null) => void): void {
    const n = this.range.keys.length;
    client.invoke({ f: 'txn.op', txn, op: { f: 'range', start: '', end: null, limit: n, reverse: false } }, (o) => {
      if (o.type !== 'ok') return done(o);
      const seen = new Map(o.entries ?? []);
      for (let i = 0; i < n; i++) {
        const m = filled[i] as MicroOp;
        const read = this.decode(seen.get(m[1]) ?? null);
        if (read === undefined) return done({ type: 'fail', code: 'internal', message: `unreadable value ${JSON.stringify(seen.get(m[1]))}`, node: o.node });
        m[2] = read;
      }
      done(null);
    });
  }

  /**
   * One read or write outside any transaction (GET, APPEND or PUT): a transaction of one
   * micro-operation in the history. A read that did not answer changed nothing (fail); a write
   * whose answer is unknown may have happened (info).
   */
  private runPlain(client: TxnClient, m: MicroOp, done: (end: TxnEnd) => void): void {
    const [f, key, value] = m;
    const op: KvOp = f === 'r' ? { f: 'read', key } : f === 'append' ? { f: 'append', key, value: `${String(value)} ` } : { f: 'write', key, value: String(value) };
    client.invoke(op, (o) => {
      if (o.type === 'ok') {
        if (f !== 'r') return done({ type: 'ok', value: [m], detail: { node: o.node, plain: true } });
        const read = this.decode(o.value);
        if (read !== undefined) return done({ type: 'ok', value: [[f, key, read]], detail: { node: o.node, plain: true } });
        return done({ type: 'fail', value: [m], detail: { node: o.node, plain: true, error: `unreadable value ${JSON.stringify(o.value)}` } });
      }
      const error = o.type === 'fail' ? `${o.code} ${o.message}` : o.reason;
      done({ type: o.type === 'info' && f !== 'r' ? 'info' : 'fail', value: [m], detail: { ...(o.type === 'fail' ? { node: o.node } : {}), plain: true, error } });
    });
  }

  private commit(client: TxnClient, txn: string, filled: MicroOp[], ops: MicroOp[], done: (end: TxnEnd) => void): void {
    client.invoke({ f: 'txn.commit', txn }, (o) => {
      if (o.type === 'ok') done({ type: 'ok', value: filled, detail: { node: o.node, txn } });
      else if (o.type === 'fail') done({ type: 'fail', value: ops, detail: { node: o.node, txn, error: `${o.code} ${o.message}` } });
      else done({ type: 'info', value: ops, detail: { txn, error: o.reason } });
    });
  }

  /** A read's stored value as the history records it; undefined: not a value this workload writes. */
  decode(v: Json): Json | undefined {
    if (this.kind === 'txn-list-append') {
      if (v === null) return [];
      if (typeof v !== 'string') return undefined;
      const parts = v.split(' ').filter((p) => p !== '');
      if (!parts.every((p) => /^\d+$/.test(p))) return undefined;
      return parts.map(Number);
    }
    if (v === null) return null;
    return typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : undefined;
  }
}
