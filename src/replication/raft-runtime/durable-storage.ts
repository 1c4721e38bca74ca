import type { EngineDeps } from '../../storage/engine.js';
import { FSYNC_ALWAYS, FSYNC_NEVER } from '../../storage/fsync-policy.js';
import { Wal, WAL_DEFAULTS } from '../../storage/wal/wal.js';
import type { WalRecoveryReport } from '../../storage/wal/recovery.js';
import { assert } from '../../util/assert.js';
import { failpoint } from '../../util/failpoints.js';
import { decodeEntries, decodeJson, encodeEntries, encodeJson, entriesFromWire, entriesToWire } from './codec.js';
import { bootstrapState, MemoryRaftStorage } from '../raft/memory-storage.js';
import type { Ready } from '../raft/ready.js';
import type { RaftStorage } from '../raft/storage.js';
import type { Entry, HardState, Index, Membership, Snapshot, SnapshotMeta, Term } from '../raft/types.js';
import { loadSnapshotFile, removeOtherSnapshots, removeTemporaries, saveSnapshotFile } from './snapshot-file.js';

/**
 * The Raft log on disk: RaftStorage for the core, kept in memory (MemoryRaftStorage) and made
 * durable through the write-ahead log plus snapshot files.
 *
 * WAL records (JSON, entry data as base64, codec.ts; ENTRIES_BIN binary):
 *   HARD        {term, vote, commit}
 *   ENTRIES_BIN encodeEntries(entries): replace the log from entries[0].index on (a Ready's entries)
 *   ENTRIES     {entries}: the same in JSON, as logs written before ENTRIES_BIN have it
 *   SNAPSHOT    {file, meta}: the log is now that snapshot (installed from the leader)
 *   CHECKPOINT  {file, meta, boundary, entries, hard}: the whole storage after a compaction
 * Recovery replays them in order; a CHECKPOINT resets everything, so the segments before it can be
 * dropped once it is durable (Wal.truncatePrefix).
 *
 * Layout under dir: wal/ (segments) and snap/ (snapshot files).
 */

const HARD = 1;
const ENTRIES = 2;
const SNAPSHOT = 3;
const CHECKPOINT = 4;
const ENTRIES_BIN = 5;

export interface DurableStorageOptions {
  dir: string;
  /**
   * Known-bug switch (`skip-log-fsync`): the log is never fsynced, so a Ready's promises (votes,
   * acknowledged entries) leave the node before they are durable.
   */
  skipFsync: boolean;
  /** Segment and block sizes of the log (WAL_DEFAULTS' where absent). */
  wal?: { segmentBytesMax?: number; blockBytes?: number };
}

export interface OpenReport {
  wal: WalRecoveryReport;
  /** The storage was new and got the bootstrap membership. */
  bootstrapped: boolean;
}

export class DurableRaftStorage implements RaftStorage {
  private checkpointing = false;

  private constructor(
    private readonly deps: EngineDeps,
    private readonly options: DurableStorageOptions,
    private mem: MemoryRaftStorage,
    private readonly wal: Wal,
  ) {}

  /**
   * Recovers the log in options.dir. A brand-new log of an original member (bootstrap non-null)
   * starts with the bootstrap entry, as every original member must; a node joining later passes
   * null and starts empty, to receive the log from the leader.
   */
  static open(
    deps: EngineDeps,
    options: DurableStorageOptions,
    bootstrap: Membership | null,
    done: (err: Error | null, storage?: DurableRaftStorage, report?: OpenReport) => void,
  ): void {
    const snapDir = `${options.dir}/snap`;
    try {
      deps.disk.mkdir(snapDir);
      removeTemporaries(deps.disk, snapDir);
    } catch (err) {
      return done(err as Error);
    }
    // Records are gathered first and replayed from the last snapshot-bearing one: segments are
    // dropped whole, so records before a checkpoint can survive it, and the snapshot files they
    // name may already be gone.
    const gathered: { type: number; lsn: number; body: Record<string, unknown> }[] = [];
    const onRecord = (r: { type: number; data: Uint8Array; lsn: number }) => {
      if (r.type < HARD || r.type > ENTRIES_BIN) throw new Error(`raft log: unknown record type ${r.type} at LSN ${r.lsn}`);
      if (r.type !== ENTRIES_BIN) {
        gathered.push({ type: r.type, lsn: r.lsn, body: decodeJson(r.data) as Record<string, unknown> });
        return;
      }
      let entries: Entry[];
      try {
        entries = decodeEntries(r.data);
      } catch (err) {
        throw new Error(`raft log: record at LSN ${r.lsn}: ${(err as Error).message}`);
      }
      gathered.push({ type: ENTRIES_BIN, lsn: r.lsn, body: { entries } });
    };
    const replay = (): MemoryRaftStorage => {
      let from = 0;
      let hardBefore: HardState | null = null;
      gathered.forEach((g, i) => {
        if (g.type === SNAPSHOT || g.type === CHECKPOINT) from = i;
      });
      for (let i = 0; i < from; i++) if ((gathered[i] as (typeof gathered)[number]).type === HARD) hardBefore = (gathered[i] as (typeof gathered)[number]).body as unknown as HardState;
      let mem = new MemoryRaftStorage();
      if (hardBefore !== null) mem.setHardState(hardBefore);
      for (const g of gathered.slice(from)) {
        const body = g.body;
        switch (g.type) {
          case HARD:
            mem.setHardState(body as unknown as HardState);
            break;
          case ENTRIES:
            mem.append(entriesFromWire(body.entries));
            break;
          case ENTRIES_BIN:
            mem.append(body.entries as Entry[]);
            break;
          case SNAPSHOT:
            mem.applySnapshot(loadSnapshotFile(deps.disk, snapDir, body.file as string));
            break;
          case CHECKPOINT: {
            const boundary = body.boundary as { index: Index; term: Term };
            mem = MemoryRaftStorage.restore({
              snapshot: loadSnapshotFile(deps.disk, snapDir, body.file as string),
              offsetIndex: boundary.index,
              offsetTerm: boundary.term,
              entries: entriesFromWire(body.entries),
              hardState: body.hard as HardState,
            });
            break;
          }
        }
      }
      return mem;
    };
    Wal.open(
      deps,
      { dir: `${options.dir}/wal`, fsync: options.skipFsync ? FSYNC_NEVER : FSYNC_ALWAYS, fromLsn: null, ...WAL_DEFAULTS, ...options.wal },
      onRecord,
      (err, wal, report) => {
        if (err !== null || wal === undefined || report === undefined) return done(err ?? new Error('raft log did not open'));
        let mem: MemoryRaftStorage;
        try {
          mem = replay();
        } catch (e) {
          return done(e as Error);
        }
        const storage = new DurableRaftStorage(deps, options, mem, wal);
        if (gathered.length > 0 || bootstrap === null) return done(null, storage, { wal: report, bootstrapped: false });
        const [entry, hard] = bootstrapState(bootstrap);
        mem.append([entry]);
        mem.setHardState(hard);
        wal.append(ENTRIES_BIN, encodeEntries([entry]));
        wal.append(HARD, encodeJson(hard), (e) => done(e, storage, { wal: report, bootstrapped: true }));
      },
    );
  }

  // ---- RaftStorage, for the core ----

  hardState(): HardState {
    return this.mem.hardState();
  }
  snapshot(): Snapshot {
    return this.mem.snapshot();
  }
  firstIndex(): Index {
    return this.mem.firstIndex();
  }
  lastIndex(): Index {
    return this.mem.lastIndex();
  }
  term(index: Index): Term {
    return this.mem.term(index);
  }
  entries(lo: Index, hi: Index, maxBytes: number): readonly Entry[] {
    return this.mem.entries(lo, hi, maxBytes);
  }

  // ---- the runtime's side ----

  /**
   * Step 1 of the Ready contract: makes the Ready's snapshot, entries and hard state durable, in
   * that order, then calls done. The in-memory log changes at once (the core reads unstable entries
   * from its own log until advance(), so nothing it reads changes under it).
   */
  persist(rd: Ready, done: (err: Error | null) => void): void {
    // A Ready that changes only the commit index needs no fsync (etcd's MustSync): a restarted
    // node re-learns its commit index from the leader, and every entry it applied was committed.
    // On a busy cluster most Readys of a follower, and every other one of the leader, are of
    // this kind; each fsync skipped is a trip through the thread pool and the device.
    const sync = { sync: rd.mustSync };
    const writeRest = () => {
      let last = false;
      if (rd.entries.length > 0) {
        this.mem.append(rd.entries);
        last = true;
        if (rd.hardState === null) {
          this.wal.append(ENTRIES_BIN, encodeEntries(rd.entries), (err) => done(err), sync);
          return;
        }
        // The hard state's record follows at once and its round makes this one durable too (the
        // log keeps a prefix of its records): one fsync per Ready, not one per record. A record
        // appended with a callback of its own would start a round of its own, and the hard state
        // would wait for a second fsync behind it.
        this.wal.append(ENTRIES_BIN, encodeEntries(rd.entries), undefined, { sync: false });
        failpoint('raft.entriesWrittenBeforeHardState');
      }
      if (rd.hardState !== null) {
        this.mem.setHardState(rd.hardState);
        this.wal.append(HARD, encodeJson(rd.hardState), (err) => done(err), sync);
        failpoint('raft.hardStateWritten');
        return;
      }
      if (!last) done(null);
    };
    if (rd.snapshot === null) return writeRest();
    const snapshot = rd.snapshot;
    saveSnapshotFile(this.deps.disk, `${this.options.dir}/snap`, snapshot, (err, name) => {
      if (err !== null) return done(err);
      failpoint('raft.snapshotSaved');
      this.mem.applySnapshot(snapshot);
      this.wal.append(SNAPSHOT, encodeJson({ file: name, meta: snapshot.meta }));
      writeRest();
    });
  }

  /** Whether a compaction is under way (one at a time). */
  get compacting(): boolean {
    return this.checkpointing;
  }

  /**
   * Records a snapshot of the state machine at meta.index and compacts the log, keeping up to
   * keep.entries entries (and keep.bytes of them) below the snapshot for followers that are a
   * little behind. Once the
   * checkpoint record is durable, older WAL segments and snapshot files go.
   */
  compact(meta: SnapshotMeta, data: Uint8Array, keep: { entries: number; bytes: number }, done: (err: Error | null) => void): void {
    assert(!this.checkpointing, 'one compaction at a time');
    this.checkpointing = true;
    const snapDir = `${this.options.dir}/snap`;
    saveSnapshotFile(this.deps.disk, snapDir, { meta, data }, (err, name) => {
      if (err !== null || name === undefined) {
        this.checkpointing = false;
        return done(err);
      }
      // A snapshot installed from the leader meanwhile may already be newer: then this one is moot.
      if (meta.index <= this.mem.snapshot().meta.index) {
        this.checkpointing = false;
        return done(null);
      }
      this.mem.createSnapshot(meta, data);
      this.mem.compact(Math.max(this.mem.boundary().index, this.keepBoundary(meta.index, keep)));
      const lsn = this.wal.append(
        CHECKPOINT,
        encodeJson({ file: name, meta, boundary: this.mem.boundary(), entries: entriesToWire(this.mem.allEntries()), hard: this.mem.hardState() }),
        (e) => {
          if (e !== null) {
            this.checkpointing = false;
            return done(e);
          }
          failpoint('raft.checkpointBeforeTruncate');
          this.wal.truncatePrefix(lsn - 1, (e2) => {
            this.checkpointing = false;
            if (e2 === null) removeOtherSnapshots(this.deps.disk, snapDir, name);
            done(e2);
          });
        },
      );
    });
  }

  /**
   * Where compaction at `index` may cut: below it stay at most keep.entries entries and at most
   * keep.bytes of their data. Entries batch many requests, so a count alone kept up to tens of MB
   * in memory and in every checkpoint record.
   */
  private keepBoundary(index: Index, keep: { entries: number; bytes: number }): Index {
    const lo = Math.max(this.mem.firstIndex(), index - keep.entries + 1);
    if (lo > index) return index;
    const tail = this.mem.entries(lo, index + 1, Infinity);
    let bytes = 0;
    for (let i = tail.length - 1; i >= 0; i--) {
      bytes += (tail[i] as Entry).data.length;
      if (bytes > keep.bytes) return lo + i;
    }
    return lo - 1;
  }

  walStats(): { segments: number; diskBytes: number; fsyncs: number } {
    const s = this.wal.stats();
    return { segments: s.segments, diskBytes: s.diskBytes, fsyncs: s.fsyncs };
  }

  close(done: (err: Error | null) => void): void {
    this.wal.close(done);
  }
}
