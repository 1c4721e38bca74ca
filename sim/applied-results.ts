import type { HistoryEvent, Json } from '../src/check/history.js';
import { executeWrite, executeWriteOnce, type KvView } from '../src/node/kv-state.js';
import { decodeLogEntry, type LogRecord } from '../src/node/log-records.js';
import { executeTxnApply, isTxnApply } from '../src/node/txn-apply.js';
import type { Result } from '../src/node/protocol.js';
import { compareKeys } from '../src/storage/keys.js';
import { assert } from '../src/util/assert.js';

/**
 * The applied-results check: every acknowledged write was answered with the result of the log
 * entry that carried it. A reference state machine applies the committed entries once, in log
 * order, as the replicas do (the same executeWrite); every write it applies is filed under its
 * operation, which the workload's unique values name (`write k3 w17;`). Then each completed
 * write, cas and append of the history is compared with it:
 * - an `ok` must have been applied, and applied successfully (a cas whose expected value held);
 * - a `fail` that says the state machine refused it (cas_mismatch) must not have applied.
 * A node that answers a client with the result of another entry — a deposed leader whose index
 * was overwritten by a newer leader's entry, answering from the entry now there — fails this
 * check even when no read ever looks at the key (the linearizability checker needs a read).
 */

const utf8 = new TextDecoder();

/** Enough of a KvView over a Map for executeWrite: point reads, and the rare session scan. */
class MapView implements KvView {
  private readonly map = new Map<string, string>();
  private sorted: string[] | null = null;

  get(key: string): string | undefined {
    return this.map.get(key);
  }

  scan(start: string, end: string | null, limit: number, reverse: boolean): [string, string][] {
    this.sorted ??= [...this.map.keys()].sort(compareKeys);
    const keys = this.sorted.filter((k) => compareKeys(k, start) >= 0 && (end === null || compareKeys(k, end) < 0));
    if (reverse) keys.reverse();
    return keys.slice(0, limit).map((k) => [k, this.map.get(k) as string]);
  }

  write(writes: [string, string | null][]): void {
    for (const [k, v] of writes) {
      if (v === null) {
        if (this.map.delete(k)) this.sorted = null;
      } else {
        if (!this.map.has(k)) this.sorted = null;
        this.map.set(k, v);
      }
    }
  }
}

interface Applied {
  index: number;
  ok: boolean;
  code?: string;
}

/** An operation as the history names it: function, key and its unique value as JSON. */
function opKey(f: string, key: string, valueJson: string): string {
  return `${f}\u0000${key}\u0000${valueJson}`;
}

export class AppliedResults {
  private readonly view = new MapView();
  private appliedIndex = 0;
  /** The first index the reference could not apply in order (every replica skipped it), if any. */
  gapAt: number | null = null;
  private readonly byOp = new Map<string, Applied>();
  entries = 0;

  /** What went wrong in the reference itself (an entry it could not decode), if anything. */
  broken: string | null = null;

  /**
   * Called with every entry a node applies (data null: a configuration entry); only the first
   * application of each index counts. Never throws: it runs inside a node's apply.
   */
  observe(index: number, data: Uint8Array | null, term = 0): void {
    if (this.gapAt !== null || this.broken !== null || index <= this.appliedIndex) return;
    if (index !== this.appliedIndex + 1) {
      this.gapAt = this.appliedIndex + 1;
      return;
    }
    this.appliedIndex = index;
    this.entries++;
    if (data === null || data.length === 0) return;
    try {
      for (const rec of decodeLogEntry(utf8.decode(data))) this.apply(index, rec, term);
    } catch (err) {
      this.broken = `entry ${index}: ${(err as Error).message}`;
    }
  }

  private apply(index: number, rec: LogRecord, term: number): void {
    if (rec.kind === 'write-once') {
      const { result, writes } = executeWriteOnce(this.view, rec.db, rec.key, rec.valueJson, false);
      this.view.write(writes);
      this.file(opKey('write', rec.key, rec.valueJson), index, result);
      return;
    }
    if (isTxnApply(rec.req.op)) {
      // A transaction's commit entry: its writes are checked by the isolation checker, not here.
      this.view.write(executeTxnApply(this.view, rec.req.db, rec.req.op, term).writes);
      return;
    }
    const { result, writes } = executeWrite(this.view, rec.req);
    this.view.write(writes);
    const op = rec.req.op;
    if (op.f === 'write' || op.f === 'cas' || op.f === 'append') this.file(opKey(op.f, op.key, JSON.stringify(op.value)), index, result);
  }

  private file(k: string, index: number, result: Result): void {
    // A retry applied again answers from the session table: the first application is the one.
    if (this.byOp.has(k)) return;
    this.byOp.set(k, { index, ok: result.ok, ...(result.ok ? {} : { code: result.code }) });
  }

  /** Compares the history's answers with what was applied; returns the mismatches found. */
  compare(history: readonly HistoryEvent[]): { checked: number; mismatches: string[] } {
    const mismatches: string[] = [];
    let checked = 0;
    for (const ev of history) {
      if ((ev.type !== 'ok' && ev.type !== 'fail') || (ev.f !== 'write' && ev.f !== 'cas' && ev.f !== 'append')) continue;
      const newValue: Json = ev.f === 'cas' ? ((ev.value as Json[])[1] as Json) : ev.value;
      assert(newValue !== undefined, 'a write in the history carries its value');
      const applied = this.byOp.get(opKey(ev.f, String(ev.key), JSON.stringify(newValue)));
      const what = `${ev.f} ${String(ev.key)} ${JSON.stringify(ev.value)} (process ${String(ev.process)})`;
      if (ev.type === 'ok') {
        // Past a gap the reference knows nothing: what it lacks may be in the entries it skipped.
        if (applied === undefined && this.gapAt !== null) continue;
        checked++;
        if (applied === undefined) mismatches.push(`${what} was answered ok, but no applied entry carries it`);
        else if (!applied.ok) mismatches.push(`${what} was answered ok, but the entry at index ${applied.index} that carries it failed with ${applied.code}`);
      } else if (applied !== undefined) {
        // A definite failure is a promise that the write took no effect: the state machine's own
        // refusals (cas_mismatch, type_error) are entries that failed, and every other failure
        // (unavailable, not_leader, disk_full) must have no entry at all that succeeded.
        checked++;
        if (applied.ok) mismatches.push(`${what} was answered ${String(ev.error)} (a definite failure), but the entry at index ${applied.index} that carries it took effect`);
      }
    }
    return { checked, mismatches };
  }
}
