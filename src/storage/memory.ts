import { checkBatch, type WriteOp } from './batch.js';
import {
  checkAppliedIndex,
  checkScanArgs,
  emptyStats,
  LOGGED_BY_CALLER,
  LOGGED_BY_ENGINE,
  type Engine,
  type EngineStats,
  type LogMode,
  type Snapshot,
  type WriteCallback,
} from './engine.js';
import { EngineClosedError, InvalidWriteError } from './errors.js';
import { compareKeys } from './keys.js';
import { scanTree } from './scan.js';
import { BTree, type BTreeView } from './util/btree.js';

/** Estimated bytes of one entry beyond its characters: the tree's slots and the string headers. */
const ENTRY_OVERHEAD_BYTES = 48;

/**
 * The memory engine: an ordered map and nothing else, for tests and the quickstart. It keeps the
 * Engine contract except durability: a crash or a restart loses everything, whatever the fsync
 * policy (there is nothing to sync). Writes are acknowledged at once; snapshots are copy-on-write
 * views of the tree. In log mode `applied-index` its durable applied index stays 0: a restart
 * leaves it empty, which is the state at index 0.
 */
export class MemoryEngine implements Engine {
  readonly kind = 'memory' as const;
  private readonly tree = new BTree<string, string>(compareKeys);
  private readonly counters = emptyStats('memory');
  private memoryBytes = 0;
  private closed = false;
  private applied = 0;

  constructor(readonly logMode: LogMode = 'wal') {}

  write(ops: readonly WriteOp[], done: WriteCallback): void {
    if (this.logMode !== 'wal') return done(new InvalidWriteError(LOGGED_BY_CALLER));
    this.apply(ops, done);
  }

  writeApplied(index: number, ops: readonly WriteOp[], done: WriteCallback): void {
    if (this.logMode !== 'applied-index') return done(new InvalidWriteError(LOGGED_BY_ENGINE));
    if (this.closed) return done(new EngineClosedError('write'));
    const bad = checkAppliedIndex(index, this.applied);
    if (bad !== null) return done(new InvalidWriteError(bad));
    this.apply(ops, (err) => {
      if (err === null) this.applied = index;
      done(err);
    });
  }

  appliedIndex(): number {
    return this.applied;
  }

  durableAppliedIndex(): number {
    return 0;
  }

  private apply(ops: readonly WriteOp[], done: WriteCallback): void {
    if (this.closed) return done(new EngineClosedError('write'));
    const checked = checkBatch(ops);
    if (typeof checked === 'string') return done(new InvalidWriteError(checked));
    for (const [key, value] of ops) {
      if (value === null) {
        const prev = this.tree.delete(key);
        if (prev !== undefined) this.memoryBytes -= key.length + prev.length + ENTRY_OVERHEAD_BYTES;
      } else {
        const prev = this.tree.set(key, value);
        this.memoryBytes += value.length - (prev === undefined ? -key.length - ENTRY_OVERHEAD_BYTES : prev.length);
      }
    }
    this.counters.writes++;
    this.counters.userBytesWritten += checked;
    done(null);
  }

  put(key: string, value: string, done: WriteCallback): void {
    this.write([[key, value]], done);
  }

  delete(key: string, done: WriteCallback): void {
    this.write([[key, null]], done);
  }

  get(key: string): string | undefined {
    this.checkOpen('get');
    return this.tree.get(key);
  }

  scan(start: string, end: string | null, limit: number, reverse: boolean): [string, string][] {
    this.checkOpen('scan');
    checkScanArgs(start, end, limit);
    return scanTree(this.tree, start, end, limit, reverse, (_k, v) => v);
  }

  snapshot(): Snapshot {
    this.checkOpen('take a snapshot');
    return new MemorySnapshot(this.tree.freeze());
  }

  flush(done: WriteCallback): void {
    done(this.closed ? new EngineClosedError('flush') : null);
  }

  close(done: WriteCallback): void {
    this.closed = true;
    done(null);
  }

  stats(): EngineStats {
    return { ...this.counters, memoryBytes: this.memoryBytes, levels: [] };
  }

  private checkOpen(what: string): void {
    if (this.closed) throw new EngineClosedError(what);
  }
}

class MemorySnapshot implements Snapshot {
  private released = false;

  constructor(private readonly view: BTreeView<string, string>) {}

  get(key: string): string | undefined {
    this.checkLive();
    return this.view.get(key);
  }

  scan(start: string, end: string | null, limit: number, reverse: boolean): [string, string][] {
    this.checkLive();
    checkScanArgs(start, end, limit);
    return scanTree(this.view, start, end, limit, reverse, (_k, v) => v);
  }

  release(): void {
    this.released = true;
  }

  private checkLive(): void {
    if (this.released) throw new RangeError('snapshot used after release()');
  }
}
