import type { EngineDeps } from '../../storage/engine.js';
import { FSYNC_ALWAYS, FSYNC_NEVER } from '../../storage/fsync-policy.js';
import { Wal, WAL_DEFAULTS } from '../../storage/wal/wal.js';
import { tailMayBeRot, type DroppedTail, type WalRecoveryReport } from '../../storage/wal/recovery.js';
import { isDiskError } from '../../env/disk.js';
import { filesUnder, quarantine } from '../../storage/quarantine.js';
import { HARD_STATE_FILES, newestHardState, readHardStateCopies, writeHardStateCopies, type HardStateCopy } from './hard-state-file.js';
import { StorageCorruptionError } from '../../storage/errors.js';
import { assert } from '../../util/assert.js';
import { failpoint } from '../../util/failpoints.js';
import { decodeEntries, decodeJson, encodeEntries, encodeEntriesTransient, encodeJson, entriesFromWire, entriesToWire } from './codec.js';
import { bootstrapState, MemoryRaftStorage } from '../raft/memory-storage.js';
import type { Ready } from '../raft/ready.js';
import type { RaftStorage } from '../raft/storage.js';
import type { Entry, HardState, Index, Membership, Snapshot, SnapshotMeta, Term } from '../raft/types.js';
import type { GroupLog } from './shared-log.js';
import { decodeSnapshotRef, encodeSnapshotRef, isSnapshotFileName, loadSnapshotRef, removeOtherSnapshots, removeTemporaries, snapshotFileName, type SnapshotRef } from './snapshot-file.js';
import { writeWholeFile } from '../../storage/whole-file.js';

/** Bytes of entries per record that follows a checkpoint. */
const CHECKPOINT_RECORD_BYTES = 8 * 1024 * 1024;

/** Entries in runs of about `bytes` each (an entry larger than that alone). */
function chunkEntries(entries: readonly Entry[], bytes: number): Entry[][] {
  const out: Entry[][] = [];
  let run: Entry[] = [];
  let size = 0;
  for (const e of entries) {
    if (run.length > 0 && size + e.data.length > bytes) {
      out.push(run);
      run = [];
      size = 0;
    }
    run.push(e);
    size += e.data.length + 21;
  }
  if (run.length > 0) out.push(run);
  return out;
}

/** The snapshot a SNAPSHOT or CHECKPOINT record names, its file checked against the record's meta. */
function loadRecorded(deps: EngineDeps, snapDir: string, body: Record<string, unknown>, lsn: number): Snapshot {
  const file = body.file;
  if (typeof file !== 'string' || !isSnapshotFileName(file)) throw new Error(`raft log: record at LSN ${lsn} names no snapshot file`);
  const snapshot = loadSnapshotRef(deps.disk, snapDir, file);
  const meta = body.meta as SnapshotMeta | undefined;
  if (meta?.index !== snapshot.meta.index || meta.term !== snapshot.meta.term) {
    // A file under another snapshot's name (a misdirected write): as untrustworthy as a rotten one.
    throw new StorageCorruptionError(`${snapDir}/${file}`, 0, `raft log record at LSN ${lsn} names ${file}, which holds index ${snapshot.meta.index} term ${snapshot.meta.term}, not ${meta?.index} ${meta?.term}`);
  }
  return snapshot;
}

/**
 * The Raft log on disk: RaftStorage for the core, kept in memory (MemoryRaftStorage) and made
 * durable through the write-ahead log plus snapshot files.
 *
 * WAL records (JSON, entry data as base64, codec.ts; ENTRIES_BIN binary):
 *   HARD        {term, vote, commit}
 *   ENTRIES_BIN encodeEntries(entries): replace the log from entries[0].index on (a Ready's entries)
 *   ENTRIES     {entries}: the same in JSON, as logs written before ENTRIES_BIN have it
 *   SNAPSHOT    {file, meta}: the log is now that snapshot (installed from the leader)
 *   CHECKPOINT  {file, meta, boundary, hard, entryRecords: k}: the whole storage after a
 *               compaction; its entries are in the k ENTRIES_BIN records right after it (a
 *               checkpoint written before that holds them inline, as `entries`, in JSON)
 *   COMPACT     {meta, boundary, hard, fromLsn}: the log compacted to meta.index against the state
 *               machine's own durable state (no snapshot file: a durable engine holds the state
 *               at meta.index, and a snapshot for a follower is built when one is needed). Its
 *               entries above boundary are in the ENTRIES records from LSN fromLsn on, which the
 *               compaction keeps: nothing is rewritten (etcd compacts its log the same way once
 *               its backend holds the consistent index; the WAL drops only older segments).
 * A snapshot's state is in its file (snapshot-file.ts); the core's Snapshot.data is a
 * SnapshotRef naming it, so the state machine's state is never held in memory here.
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
const COMPACT = 6;

/** A snapshot whose state only the state machine holds (a COMPACT's): data is empty, no file. */
export function isStateMachineSnapshot(s: Snapshot): boolean {
  return s.data.length === 0 && s.meta.index > 0;
}

export interface DurableStorageOptions {
  dir: string;
  /**
   * Known-bug switch (`skip-log-fsync`): the log is never fsynced, so a Ready's promises (votes,
   * acknowledged entries) leave the node before they are durable.
   */
  skipFsync: boolean;
  /** Segment and block sizes of the log (WAL_DEFAULTS' where absent). */
  wal?: { segmentBytesMax?: number; blockBytes?: number };
  /** Keep the term and vote in two copies beside the log too (hard-state-file.ts); default true. */
  hardStateCopies?: boolean;
}

/**
 * Protocol-aware recovery of the log (README.md): what a start found lost. Each is also a durable
 * marker under the storage's dir (LOG_LOST_MARKER, HARD_STATE_LOST_MARKER), written before the log
 * is cut, so that a crash during or after the repair does not forget it.
 */
export interface LogLoss {
  /** Where the log was cut: the records from there on failed their checks or followed one that did. */
  at: string;
  reason: string;
  /**
   * Votes are held while the log's last term is at most this term: the lost records may hold
   * entries this member acknowledged in a term up to it (Raft.setRecoveryHolds).
   */
  votesThroughTerm: Term;
}

/** Corruptions one start cuts away before it gives up (each cut only moves the log's end back). */
export const LOG_CUTS_MAX = 4;

/** The marker of a log cut at a corruption (LogLoss, as JSON). */
export const LOG_LOST_MARKER = 'log-lost';
/** The marker of a hard state with no intact copy: the member takes no part in the protocol. */
export const HARD_STATE_LOST_MARKER = 'hardstate-lost';

export interface OpenReport {
  wal: WalRecoveryReport;
  /** The log lost records to corruption (now or at an earlier start whose repair is not done). */
  logLoss: LogLoss | null;
  /** No intact copy of the term and vote: this member must never vote nor acknowledge again. */
  hardStateLost: string | null;
  /** The storage was new and got the bootstrap membership. */
  bootstrapped: boolean;
  /**
   * Snapshot files (in snapshotDir) the log names that failed their checks: the log now holds
   * their positions with no file (isStateMachineSnapshot), and the files wait to be quarantined.
   */
  lostSnapshots: string[];
}

/**
 * The log the records go to: a Wal of the storage's own, or its group's part of the node's shared
 * log (shared-log.ts), which takes the same calls.
 */
interface RecordLog {
  /** Copies `data` before it returns (persist passes bytes it reuses: encodeEntriesTransient). */
  append(type: number, data: Uint8Array, done?: (err: Error | null, lsn: number) => void, opts?: { sync: boolean }): number;
  truncatePrefix(upToLsn: number, done: (err: Error | null) => void): void;
  nextLsn(): number;
  stats(): { segments: number; diskBytes: number; fsyncs: number };
  close(done: (err: Error | null) => void): void;
}

/** An ENTRIES record of the live log: its LSN and the last index it holds. */
interface EntryRecord {
  lsn: number;
  last: Index;
}

/** What open() gathers from the records and how it replays them into a log. */
interface Recoverer {
  onRecord(r: { type: number; data: Uint8Array; lsn: number }): void;
  replay(): MemoryRaftStorage;
  gathered: readonly unknown[];
  entryRecords: EntryRecord[];
  appended(lsn: number, entries: readonly Entry[]): void;
  /** Snapshot files the log names that failed their checks (still on disk, to be quarantined). */
  lost: ReadonlySet<string>;
}

/**
 * The snapshot a record names, or — when its file fails its checks or is gone — a snapshot at the
 * same position with no file (the state machine's, like a COMPACT's), its file's name added to
 * `lost`. A rotten snapshot file loses nothing the group does not hold: the runtime quarantines
 * it, and repairs the state machine from the leader if it was behind (protocol-aware recovery).
 */
function loadOrLose(deps: EngineDeps, snapDir: string, body: Record<string, unknown>, lsn: number, lost: Set<string>): Snapshot {
  try {
    return loadRecorded(deps, snapDir, body, lsn);
  } catch (err) {
    const file = body.file;
    const gone = err instanceof StorageCorruptionError || isDiskError(err, 'ENOENT');
    if (!gone || typeof file !== 'string' || !isSnapshotFileName(file)) throw err;
    const meta = body.meta as SnapshotMeta | undefined;
    if (meta === undefined || !Number.isSafeInteger(meta.index) || meta.index <= 0) throw err;
    deps.log.log('error', 'raft.snapshot_lost', { file, lsn, error: (err as Error).message });
    if (deps.disk.exists(`${snapDir}/${file}`)) lost.add(file);
    return { meta, data: new Uint8Array(0) };
  }
}

function recoverer(deps: EngineDeps, snapDir: string): Recoverer {
  const lost = new Set<string>();
  // Records are gathered first and replayed from the last snapshot-bearing one: segments are
  // dropped whole, so records before a checkpoint can survive it, and the snapshot files they
  // name may already be gone.
  const gathered: { type: number; lsn: number; body: Record<string, unknown> }[] = [];
  const onRecord = (r: { type: number; data: Uint8Array; lsn: number }) => {
    if (r.type < HARD || r.type > COMPACT) throw new Error(`raft log: unknown record type ${r.type} at LSN ${r.lsn}`);
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
  /**
   * How many of the records after gathered[i] are a checkpoint's own entries (0 for any other
   * record), or -1 for a checkpoint whose entry records did not all reach the disk: a crash cut
   * it, so it is as if it had never been written (the segments before it are still there:
   * they are dropped only once the whole checkpoint is durable).
   */
  const checkpointEntries = (i: number): number => {
    const g = gathered[i] as (typeof gathered)[number];
    if (g.type !== CHECKPOINT || g.body.entryRecords === undefined) return 0;
    const k = g.body.entryRecords as number;
    if (!Number.isSafeInteger(k) || k < 0) throw new Error(`raft log: checkpoint at LSN ${g.lsn} has entryRecords ${String(k)}`);
    const next = gathered.slice(i + 1, i + 1 + k);
    return next.length === k && next.every((r) => r.type === ENTRIES_BIN) ? k : -1;
  };
  const entryRecords: EntryRecord[] = [];
  const appended = (lsn: number, entries: readonly Entry[]) => {
    const last = entries[entries.length - 1];
    if (last !== undefined) entryRecords.push({ lsn, last: last.index });
  };
  const replay = (): MemoryRaftStorage => {
    let from = 0;
    let hardBefore: HardState | null = null;
    gathered.forEach((g, i) => {
      if ((g.type === SNAPSHOT || g.type === CHECKPOINT || g.type === COMPACT) && checkpointEntries(i) >= 0) from = i;
    });
    for (let i = 0; i < from; i++) if ((gathered[i] as (typeof gathered)[number]).type === HARD) hardBefore = (gathered[i] as (typeof gathered)[number]).body as unknown as HardState;
    let mem = new MemoryRaftStorage();
    if (hardBefore !== null) mem.setHardState(hardBefore);
    const base = gathered[from];
    if (base !== undefined && base.type === COMPACT) {
      // The log as the compaction left it: its state at meta.index is the state machine's, its
      // entries above the boundary are in the records from fromLsn up to it (older HARD and
      // COMPACT records there are superseded by this one).
      const b = base.body as { meta: SnapshotMeta; boundary: { index: Index; term: Term }; hard: HardState; fromLsn: number };
      // The entries are gathered on a log that starts at the boundary, then restored under the snapshot.
      const kept = MemoryRaftStorage.restore({ snapshot: { meta: { ...b.meta, index: b.boundary.index, term: b.boundary.term }, data: new Uint8Array(0) }, offsetIndex: b.boundary.index, offsetTerm: b.boundary.term, entries: [], hardState: b.hard });
      for (const g of gathered) {
        if (g.lsn < b.fromLsn || g.lsn >= base.lsn) continue;
        if (g.type === SNAPSHOT || g.type === CHECKPOINT) throw new Error(`raft log: a snapshot record at LSN ${g.lsn} lies within the entries the compaction at LSN ${base.lsn} keeps`);
        const entries = g.type === ENTRIES_BIN ? (g.body.entries as Entry[]) : g.type === ENTRIES ? entriesFromWire(g.body.entries) : null;
        if (entries === null) continue;
        kept.append(entries);
        appended(g.lsn, entries);
      }
      if (kept.lastIndex() < b.meta.index) throw new Error(`raft log: the compaction at LSN ${base.lsn} to ${b.meta.index} keeps entries only up to ${kept.lastIndex()}`);
      mem = MemoryRaftStorage.restore({ snapshot: { meta: b.meta, data: new Uint8Array(0) }, offsetIndex: b.boundary.index, offsetTerm: b.boundary.term, entries: kept.allEntries(), hardState: b.hard });
      from++;
    }
    for (let i = from; i < gathered.length; i++) {
      const g = gathered[i] as (typeof gathered)[number];
      const body = g.body;
      if (g.type === CHECKPOINT && checkpointEntries(i) < 0) continue; // an incomplete checkpoint: its entries are already in the log
      switch (g.type) {
        case HARD:
          mem.setHardState(body as unknown as HardState);
          break;
        case ENTRIES: {
          const entries = entriesFromWire(body.entries);
          mem.append(entries);
          appended(g.lsn, entries);
          break;
        }
        case ENTRIES_BIN:
          mem.append(body.entries as Entry[]);
          appended(g.lsn, body.entries as Entry[]);
          break;
        case SNAPSHOT:
          mem.applySnapshot(loadOrLose(deps, snapDir, body, g.lsn, lost));
          entryRecords.length = 0;
          break;
        case COMPACT:
          throw new Error(`raft log: a compaction record at LSN ${g.lsn} after the last base record`);
        case CHECKPOINT: {
          const boundary = body.boundary as { index: Index; term: Term };
          // Its entries follow it in ENTRIES_BIN records (older checkpoints held them inline).
          const k = checkpointEntries(i);
          const entries = body.entries !== undefined ? entriesFromWire(body.entries) : gathered.slice(i + 1, i + 1 + k).flatMap((r) => r.body.entries as Entry[]);
          entryRecords.length = 0;
          for (const r of gathered.slice(i + 1, i + 1 + k)) appended(r.lsn, r.body.entries as Entry[]);
          i += k;
          mem = MemoryRaftStorage.restore({
            // file null: a rewrite (rewrite()) of a log whose snapshot only the state machine holds, or none yet.
            snapshot: body.file === null ? { meta: body.meta as SnapshotMeta, data: new Uint8Array(0) } : loadOrLose(deps, snapDir, body, g.lsn, lost),
            offsetIndex: boundary.index,
            offsetTerm: boundary.term,
            entries,
            hardState: body.hard as HardState,
          });
          break;
        }
      }
    }
    return mem;
  };
  return { onRecord, replay, gathered, entryRecords, appended, lost };
}

export class DurableRaftStorage implements RaftStorage {
  private checkpointing = false;
  /** A rewrite (for the shared log) is under way. */
  private rewriting = false;

  private constructor(
    private readonly deps: EngineDeps,
    private readonly options: DurableStorageOptions,
    private mem: MemoryRaftStorage,
    private readonly wal: RecordLog,
    /**
     * The ENTRIES records since the log's last base (a snapshot, a checkpoint, or the first record
     * a COMPACT keeps), in LSN order: a COMPACT keeps those holding entries above its boundary.
     */
    private entryRecords: EntryRecord[],
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
    const walDir = `${options.dir}/wal`;
    // cuts: how many more corruptions may be cut away (each cut moves the log's end back; a disk
    // rotting faster than that is not one to recover on). emptied: the cut prefix could not be
    // replayed and the whole log went to quarantine.
    const openWal = (cuts: number, emptied: boolean) => {
      const r = recoverer(deps, snapDir);
      // A last record that was written whole and fails its checks is rot, not a torn write
      // (tailMayBeRot): it may hold entries this member acknowledged. Marked before the Wal cuts it.
      const beforeTailCut = (t: DroppedTail, d: (e: Error | null) => void) =>
        tailMayBeRot(t) && options.hardStateCopies !== false ? markRottenTail(deps, t, (at, reason, d2) => markLogLoss(deps, options.dir, at, reason, d2), d) : d(null);
      Wal.open(
        deps,
        { dir: walDir, fsync: options.skipFsync ? FSYNC_NEVER : FSYNC_ALWAYS, fromLsn: null, ...WAL_DEFAULTS, ...options.wal, beforeTailCut },
        r.onRecord,
        (err, wal, report) => {
          // A record that fails its checks in the middle of the log (or in a sealed segment):
          // not a torn tail, so possibly something this member promised. The log is cut there,
          // after the loss is marked durably (cutLogAt), and recovered again from its intact prefix.
          if (cuts > 0 && err instanceof StorageCorruptionError && err.path.startsWith(`${walDir}/`)) {
            const mark = (at: string, reason: string, d: (e: Error | null) => void) => markLogLoss(deps, options.dir, at, reason, d);
            return cutLogAt(deps, walDir, err, mark, (e) => (e !== null ? done(e) : openWal(cuts - 1, emptied)));
          }
          if (err !== null || wal === undefined || report === undefined) return done(err ?? new Error('raft log did not open'));
          DurableRaftStorage.finishOpen(deps, options, bootstrap, r, wal, report, (e, storage, rep) => {
            // A prefix cut inside a compaction's window (its entries without the record that says
            // where they start, say) cannot be replayed: the member keeps no log at all (its votes
            // are held all the same) and receives it from the leader.
            // The same for a log whose records verify but do not replay (a rotten tail that the
            // Wal took for a torn write, say): it is lost as a whole, marked first like a cut.
            if (e instanceof LogReplayError && !emptied && options.hardStateCopies !== false) {
              const marked = readLossMarkers(deps, options.dir).logLoss !== null;
              deps.log.log('error', 'raft.log_prefix_unusable', { error: e.message, afterCut: marked });
              // Newest first, one by one, as a cut does (cutLogAt): a crash part way leaves a
              // contiguous log that fails to replay again.
              const drop = () => wal.close(() => quarantine(deps.disk, 'log', filesUnder(deps.disk, walDir).reverse(), (e2) => (e2 !== null ? done(e2) : openWal(0, true)), true));
              // Marked again even after a cut this start marked: a marker left by an earlier start
              // (its removal is not waited for) may hold votes through an older term only; the
              // copies' term only grows, so marking again is always safe.
              return markLogLoss(deps, options.dir, walDir, e.message, (e3) => (e3 !== null ? done(e3) : drop()));
            }
            done(e, storage, rep);
          });
        },
      );
    };
    openWal(LOG_CUTS_MAX, false);
  }

  /**
   * Recovers a group's log from its part of the node's shared log (shared-log.ts): the same
   * records, replayed the same way; snapshot files stay in options.dir/snap. When the shared log
   * asks, the storage rewrites its live log at the head (rewrite()).
   */
  static openShared(
    deps: EngineDeps,
    options: DurableStorageOptions,
    bootstrap: Membership | null,
    log: GroupLog,
    done: (err: Error | null, storage?: DurableRaftStorage, report?: OpenReport) => void,
  ): void {
    const snapDir = `${options.dir}/snap`;
    // emptied: the group's records did not replay and were dropped (below); it starts with none.
    const attempt = (emptied: boolean) => {
      const r = recoverer(deps, snapDir);
      try {
        deps.disk.mkdir(snapDir);
        removeTemporaries(deps.disk, snapDir);
        for (const rec of log.recovered()) {
          try {
            r.onRecord(rec);
          } catch (err) {
            throw new Error(`shared raft log: ${rec.segment} at offset ${rec.offset}, group ${log.group}: ${(err as Error).message}`);
          }
        }
      } catch (err) {
        return done(err as Error);
      }
      // The term and vote are in the shared log and in the copies beside the group's own log
      // directory (hard-state-file.ts), as for a single group: a cut of the shared log at a
      // corruption (shared-log.ts) then knows, per group, through which term to hold its votes.
      DurableRaftStorage.finishOpen(deps, options, bootstrap, r, log, log.report, (err, storage, report) => {
        // The group's records verify but do not replay: a prefix cut inside a compaction's window
        // or a rewrite, or a rotten tail the log took for a torn write. The group loses them as a
        // whole, marked first (the shared log's cut marked every group already), and receives its
        // log from the leader. Dropped by a record of the shared log, since its segments are shared.
        if (err instanceof LogReplayError && !emptied && options.hardStateCopies !== false) {
          const marked = readLossMarkers(deps, options.dir).logLoss !== null;
          deps.log.log('error', 'raft.log_prefix_unusable', { error: err.message, afterCut: marked, group: log.group });
          const drop = () => log.discard((e2) => (e2 !== null ? done(e2) : attempt(true)));
          // Marked again whatever marker is there (see open): an old one may hold too little.
          return markLogLoss(deps, options.dir, `group ${log.group} of the shared raft log`, err.message, (e3) => (e3 !== null ? done(e3) : drop()));
        }
        if (storage !== undefined) log.onRewrite((d) => storage.rewrite(d));
        done(err, storage, report);
      });
    };
    attempt(false);
  }

  private static finishOpen(
    deps: EngineDeps,
    options: DurableStorageOptions,
    bootstrap: Membership | null,
    r: Recoverer,
    wal: RecordLog,
    report: WalRecoveryReport,
    done: (err: Error | null, storage?: DurableRaftStorage, report?: OpenReport) => void,
  ): void {
    let mem: MemoryRaftStorage;
    let loss: { logLoss: LogLoss | null; hardStateLost: string | null };
    try {
      mem = r.replay();
    } catch (e) {
      return done(new LogReplayError(e as Error));
    }
    try {
      loss = readLossMarkers(deps, options.dir);
    } catch (e) {
      return done(e as Error);
    }
    // The term and vote: the newest of the log's HARD record and the two copies beside it
    // (hard-state-file.ts); rotten copies are quarantined and both written again.
    const copies = options.hardStateCopies === false ? [] : readHardStateCopies(deps.disk, options.dir);
    const valid = copies.flatMap((c) => (c.state !== null ? [c.state] : []));
    const newest = newestHardState([mem.hardState(), ...valid]) as HardState;
    // A log cut at a corruption may end before the commit index a copy recorded: the commit index
    // is re-learnt from the leader (it only ever vouches for entries this log holds).
    const commit = loss.logLoss !== null ? Math.min(newest.commit, mem.lastIndex()) : newest.commit;
    mem.setHardState({ ...newest, commit });
    const storage = new DurableRaftStorage(deps, options, mem, wal, r.entryRecords);
    const base = { wal: report, lostSnapshots: [...r.lost].sort(), logLoss: loss.logLoss, hardStateLost: loss.hardStateLost };
    const finish = (bootstrapped: boolean) => (e: Error | null) => {
      if (e !== null) return done(e);
      storage.repairCopies(copies, (e2) => done(e2, storage, { ...base, bootstrapped }));
    };
    // After a cut the log never bootstraps again, even if nothing is left of it: this member
    // was in the group, and receives the log from the leader.
    if (r.gathered.length > 0 || bootstrap === null || loss.logLoss !== null) return finish(false)(null);
    const [entry, hard] = bootstrapState(bootstrap);
    mem.append([entry]);
    mem.setHardState(hard);
    r.appended(wal.append(ENTRIES_BIN, encodeEntries([entry])), [entry]);
    wal.append(HARD, encodeJson(hard), finish(true));
  }

  /**
   * The term and vote the copies beside the log hold (hard-state-file.ts), set at open once they
   * hold the state the storage starts with (repairCopies); null: none (copies off).
   */
  private fileHard: HardState | null = null;

  /**
   * At open: rotten copies of the hard state are quarantined, and every copy that does not hold
   * the state the storage now holds is written with it, one after the other (a crash in between
   * leaves one whole), so that the next fault finds three intact copies again. The state may have
   * come from the log's record alone: a crash stopped the copies' writes beside it, before the
   * promise; the member may repeat that promise now. Copies that hold it are left alone, so a
   * clean restart writes nothing and the member is back in an election as fast as before the
   * copies. A brand-new log gets copies of its first state too (term 0, no vote): a member's
   * copies are then absent only where they were lost or predate them, and a cut of a shared log
   * (markLogLoss) mutes only such a member, not every replica a move has just created.
   */
  private repairCopies(copies: readonly HardStateCopy[], done: (err: Error | null) => void): void {
    if (this.options.hardStateCopies === false) return done(null);
    const hs = this.mem.hardState();
    this.fileHard = hs;
    const rotten = copies.filter((c) => c.state === null && c.problem !== 'absent');
    const write = copies.flatMap((c, i) => (c.state !== null && c.state.term === hs.term && c.state.vote === hs.vote ? [] : [i]));
    if (write.length === 0) return done(null);
    const writeThem = () => writeHardStateCopies(this.deps.disk, this.options.dir, hs, done, write);
    if (rotten.length === 0) return writeThem();
    for (const c of rotten) this.deps.log.log('error', 'raft.hard_state_copy_rotten', { file: c.file, problem: c.state === null ? c.problem : '' });
    quarantine(this.deps.disk, 'hardstate', rotten.map((c) => c.file), (err) => (err !== null ? done(err) : writeThem()));
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
  persist(rd: Ready, persisted: (err: Error | null) => void, options: { diskLow?: boolean } = {}): void {
    // A new term or vote also goes to both copies beside the log (hard-state-file.ts), each
    // file written and fsynced in parallel with the log's record: the Ready is persisted once all
    // three are durable. So a vote costs one round of fsyncs, as before the copies (elections wait
    // for the slowest of three instead of one), and the promise it makes survives any two of its
    // three copies rotting.
    const hs = rd.hardState;
    let done = persisted;
    if (hs !== null && this.options.hardStateCopies !== false && (this.fileHard === null || hs.term !== this.fileHard.term || hs.vote !== this.fileHard.vote) && (hs.term > 0 || hs.vote !== null)) {
      this.fileHard = hs;
      let waiting = 1 + HARD_STATE_FILES.length;
      let first: Error | null = null;
      done = (err) => {
        first ??= err;
        if (--waiting === 0) persisted(first);
      };
      for (let i = 0; i < HARD_STATE_FILES.length; i++) writeHardStateCopies(this.deps.disk, this.options.dir, hs, done, [i]);
    }
    // A Ready that changes only the commit index needs no fsync (etcd's MustSync): a restarted
    // node re-learns its commit index from the leader, and every entry it applied was committed.
    // On a busy cluster most Readys of a follower, and every other one of the leader, are of
    // this kind; each fsync skipped is a trip through the thread pool and the device.
    const sync = { sync: rd.mustSync };
    if (options.diskLow === true && !rd.mustSync && rd.entries.length === 0 && rd.snapshot === null) {
      // Short of space, such a Ready is not written at all, for the same reason: losing it costs
      // nothing, and a member whose disk is full keeps following its leader's commits instead of
      // failing the log's next write (issue 16, item 11).
      if (rd.hardState !== null) this.mem.setHardState(rd.hardState);
      return done(null);
    }
    const writeRest = () => {
      let last = false;
      if (rd.entries.length > 0) {
        this.mem.append(rd.entries);
        last = true;
        const lastEntry = (rd.entries[rd.entries.length - 1] as Entry).index;
        if (rd.hardState === null) {
          this.entryRecords.push({ lsn: this.wal.append(ENTRIES_BIN, encodeEntriesTransient(rd.entries), (err) => done(err), sync), last: lastEntry });
          return;
        }
        // The hard state's record follows at once and its round makes this one durable too (the
        // log keeps a prefix of its records): one fsync per Ready, not one per record. A record
        // appended with a callback of its own would start a round of its own, and the hard state
        // would wait for a second fsync behind it.
        this.entryRecords.push({ lsn: this.wal.append(ENTRIES_BIN, encodeEntriesTransient(rd.entries), undefined, { sync: false }), last: lastEntry });
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
    // The snapshot's file is already durable under its final name (the runtime received it and
    // renamed it into place before the core saw it): the log only has to say it is now the log.
    const snapshot = rd.snapshot;
    const ref = decodeSnapshotRef(snapshot.data);
    assert(ref !== null && this.deps.disk.exists(`${this.options.dir}/snap/${ref.file}`), () => `installing snapshot ${snapshot.meta.index} whose file is missing`);
    failpoint('raft.snapshotSaved');
    this.mem.applySnapshot(snapshot);
    this.entryRecords = [];
    const record = encodeJson({ file: ref.file, meta: snapshot.meta });
    if (rd.entries.length === 0 && rd.hardState === null) {
      this.wal.append(SNAPSHOT, record, (err) => done(err), { sync: true });
      return;
    }
    this.wal.append(SNAPSHOT, record, undefined, { sync: false });
    writeRest();
  }

  /**
   * The log's snapshot keeps its position but no longer names a file (its file was found rotten
   * while being installed): in memory only — the record naming the file stays, and the next
   * recovery, finding the file gone or rotten, does the same (loadOrLose).
   */
  forgetSnapshotFile(): void {
    const snap = this.mem.snapshot();
    this.mem.replaceSnapshotData(new Uint8Array(0));
    assert(isStateMachineSnapshot(this.mem.snapshot()) && this.mem.snapshot().meta.index === snap.meta.index, 'a forgotten snapshot file keeps its position');
  }

  /** Snapshot files being sent to followers: compaction leaves them alone (by name, counted). */
  private readonly pinned = new Map<string, number>();

  pinSnapshot(file: string): void {
    this.pinned.set(file, (this.pinned.get(file) ?? 0) + 1);
  }

  unpinSnapshot(file: string): void {
    const n = this.pinned.get(file) ?? 0;
    assert(n > 0, () => `unpinning snapshot ${file}, which is not pinned`);
    if (n === 1) this.pinned.delete(file);
    else this.pinned.set(file, n - 1);
  }

  /** The directory snapshot files live in, relative to the disk's root. */
  get snapshotDir(): string {
    return `${this.options.dir}/snap`;
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
  compact(meta: SnapshotMeta, ref: SnapshotRef, keep: { entries: number; bytes: number }, done: (err: Error | null) => void): void {
    assert(!this.checkpointing, 'one compaction at a time');
    assert(isSnapshotFileName(ref.file), () => `compacting to ${ref.file}, not a snapshot file`);
    const snapDir = this.snapshotDir;
    // A snapshot installed from the leader meanwhile may already be newer: then this one is moot.
    if (meta.index <= this.mem.snapshot().meta.index) {
      if (decodeSnapshotRef(this.mem.snapshot().data)?.file !== ref.file && !this.pinned.has(ref.file)) this.deps.disk.remove(`${snapDir}/${ref.file}`);
      return done(null);
    }
    this.checkpointing = true;
    this.mem.createSnapshot(meta, encodeSnapshotRef(ref));
    this.mem.compact(Math.max(this.mem.boundary().index, this.keepBoundary(meta.index, keep)));
    // The entries the log keeps follow the checkpoint in binary records of at most
    // CHECKPOINT_RECORD_BYTES: inside one JSON record they made it 107 MB — past the WAL's
    // record limit — when a snapshot took minutes to build under a load of 1 MiB writes.
    const chunks = chunkEntries(this.mem.allEntries(), CHECKPOINT_RECORD_BYTES);
    const finished = (e: Error | null) => {
      if (e !== null) {
        this.checkpointing = false;
        return done(e);
      }
      failpoint('raft.checkpointBeforeTruncate');
      this.wal.truncatePrefix(lsn - 1, (e2) => {
        this.checkpointing = false;
        if (e2 === null) removeOtherSnapshots(this.deps.disk, snapDir, ref.file, new Set(this.pinned.keys()));
        done(e2);
      });
    };
    const header = encodeJson({ file: ref.file, meta, boundary: this.mem.boundary(), hard: this.mem.hardState(), entryRecords: chunks.length });
    const lsn = chunks.length === 0 ? this.wal.append(CHECKPOINT, header, finished) : this.wal.append(CHECKPOINT, header, undefined, { sync: false });
    this.entryRecords = [];
    chunks.forEach((c, i) => {
      const last = i === chunks.length - 1;
      this.entryRecords.push({ lsn: this.wal.append(ENTRIES_BIN, encodeEntries(c), last ? finished : undefined, { sync: last }), last: (c[c.length - 1] as Entry).index });
    });
  }

  /**
   * Compacts the log to meta.index against the state machine's own durable state: the caller
   * vouches that a restart finds the state machine at meta.index or later (a durable engine's
   * applied index), so the log needs no snapshot file. Entries below meta.index stay as compact()
   * keeps them; nothing is rewritten: a COMPACT record names the first record still needed, and
   * once it is durable the segments before that go, with every snapshot file no transfer pins.
   */
  compactApplied(meta: SnapshotMeta, keep: { entries: number; bytes: number }, done: (err: Error | null) => void): void {
    assert(!this.checkpointing, 'one compaction at a time');
    if (meta.index <= this.mem.snapshot().meta.index) return done(null);
    this.checkpointing = true;
    this.mem.createSnapshot(meta, new Uint8Array(0));
    this.mem.compact(Math.max(this.mem.boundary().index, this.keepBoundary(meta.index, keep)));
    const boundary = this.mem.boundary();
    const firstKept = this.entryRecords.findIndex((r) => r.last > boundary.index);
    this.entryRecords = firstKept < 0 ? [] : this.entryRecords.slice(firstKept);
    // With no entry above the boundary the compaction record itself is where its log starts.
    const fromLsn = firstKept < 0 ? this.wal.nextLsn() : (this.entryRecords[0] as EntryRecord).lsn;
    const lsn = this.wal.append(
      COMPACT,
      encodeJson({ meta, boundary, hard: this.mem.hardState(), fromLsn }),
      (err) => {
        if (err !== null) {
          this.checkpointing = false;
          return done(err);
        }
        failpoint('raft.checkpointBeforeTruncate');
        this.wal.truncatePrefix(Math.min(fromLsn, lsn) - 1, (e2) => {
          this.checkpointing = false;
          if (e2 === null) removeOtherSnapshots(this.deps.disk, this.snapshotDir, snapshotFileName(meta.index, meta.term), new Set(this.pinned.keys()));
          done(e2);
        });
      },
      { sync: true },
    );
    assert(fromLsn <= lsn, () => `compaction record at LSN ${lsn} keeps entries from LSN ${fromLsn}`);
  }

  /**
   * Writes the whole log again at the head of the log — a CHECKPOINT of the current snapshot (its
   * file, or none when only the state machine or nobody holds it), boundary and hard state, its
   * entries in the records after it — and, once that is durable, drops the need for everything
   * before. For the node's shared log (shared-log.ts): a group that writes rarely would otherwise
   * keep every segment after its oldest record. Nothing changes in memory. Skipped (done(null))
   * while a compaction is under way: that moves the group's records on anyway.
   */
  rewrite(done: (err: Error | null) => void): void {
    // Its own flag, not `checkpointing`: a compaction may start while a rewrite is under way (the
    // runtime checks `compacting` before it builds a snapshot file, and compacts once it is built),
    // and that is safe — the compaction's records follow the rewrite's and supersede them, and each
    // truncation only ever raises the group's low water.
    if (this.checkpointing || this.rewriting) return done(null);
    this.rewriting = true;
    const snap = this.mem.snapshot();
    const ref = snap.data.length === 0 ? null : decodeSnapshotRef(snap.data);
    assert(snap.data.length === 0 || ref !== null, 'rewriting a log whose snapshot names no file');
    const chunks = chunkEntries(this.mem.allEntries(), CHECKPOINT_RECORD_BYTES);
    const finished = (e: Error | null) => {
      if (e !== null) {
        this.rewriting = false;
        return done(e);
      }
      this.wal.truncatePrefix(lsn - 1, (e2) => {
        this.rewriting = false;
        done(e2);
      });
    };
    const header = encodeJson({ file: ref?.file ?? null, meta: snap.meta, boundary: this.mem.boundary(), hard: this.mem.hardState(), entryRecords: chunks.length });
    const lsn = chunks.length === 0 ? this.wal.append(CHECKPOINT, header, finished) : this.wal.append(CHECKPOINT, header, undefined, { sync: false });
    this.entryRecords = [];
    chunks.forEach((c, i) => {
      const last = i === chunks.length - 1;
      this.entryRecords.push({ lsn: this.wal.append(ENTRIES_BIN, encodeEntries(c), last ? finished : undefined, { sync: last }), last: (c[c.length - 1] as Entry).index });
    });
  }

  /** Whether a transfer holds the snapshot file `file`. */
  isPinned(file: string): boolean {
    return this.pinned.has(file);
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

/** The loss markers a start finds under dir (written by cutLogAt). */
function readLossMarkers(deps: EngineDeps, dir: string): { logLoss: LogLoss | null; hardStateLost: string | null } {
  const read = (name: string): string | null => (deps.disk.exists(`${dir}/${name}`) ? new TextDecoder().decode(deps.disk.readFile(`${dir}/${name}`)) : null);
  const log = read(LOG_LOST_MARKER);
  const hard = read(HARD_STATE_LOST_MARKER);
  let logLoss: LogLoss | null = null;
  if (log !== null) {
    // A marker that does not parse is itself rotten: hold votes for ever rather than guess.
    try {
      const v = JSON.parse(log) as LogLoss;
      if (!Number.isSafeInteger(v.votesThroughTerm)) throw new Error('no term');
      logLoss = v;
    } catch {
      logLoss = { at: `${dir}/${LOG_LOST_MARKER}`, reason: 'the marker itself does not parse', votesThroughTerm: Number.MAX_SAFE_INTEGER };
    }
  }
  return { logLoss, hardStateLost: hard === null ? null : hard.trim() || 'no intact copy of the term and vote' };
}

/** Writes a file whole and durably (its name and its contents). */
function writeMarker(deps: EngineDeps, path: string, content: string | Uint8Array, done: (err: Error | null) => void): void {
  writeWholeFile(deps.disk, path, typeof content === 'string' ? new TextEncoder().encode(content) : content, 'always', done);
}

/**
 * Cuts the log at a corruption (protocol-aware recovery, README.md): first marks the loss durably
 * (`mark`: markLogLoss for the one group the log belongs to, or for every group of a node's shared
 * log), then moves the segment holding the bad record and every later one to quarantine and puts
 * back the bad segment's bytes before the record, so that the log recovers as its intact prefix
 * (the partial record left at its end is a torn tail to the Wal).
 */
export function cutLogAt(deps: EngineDeps, walDir: string, err: StorageCorruptionError, mark: (at: string, reason: string, done: (err: Error | null) => void) => void, done: (err: Error | null) => void): void {
  const disk = deps.disk;
  const bad = err.path.slice(walDir.length + 1);
  let segments: string[];
  let prefix: Uint8Array;
  try {
    segments = disk.list(walDir).filter((n) => n.endsWith('.wal') && n >= bad);
    assert(segments[0] === bad, () => `cutting the log at ${err.path}, which is not among its segments`);
    prefix = disk.readFile(err.path).slice(0, Math.max(0, err.offset));
  } catch (e) {
    return done(e as Error);
  }
  deps.log.log('error', 'raft.log_corrupt', { at: err.path, offset: err.offset, reason: err.reason, cut: segments });
  mark(`${err.path} at offset ${err.offset}`, err.reason, (e) => {
    if (e !== null) return done(e);
    // Newest first, each move durable before the next: a crash part way leaves the log contiguous
    // up to a segment at or after the rotten one, which the next start cuts again. Moved together,
    // a crash could keep the rotten segment's move and lose a later one's: the Wal then took the
    // segments after the gap for the log and deleted the intact ones before it as stale.
    const newestFirst = [...segments].reverse().map((n) => `${walDir}/${n}`);
    quarantine(disk, 'log', newestFirst, (e2) => {
      if (e2 !== null) return done(e2);
      writeMarker(deps, err.path, prefix, done);
    }, true);
  });
}

/**
 * A rotten last record of a Raft log (tailMayBeRot): logged, and marked as a loss (`mark`) before
 * the Wal drops it, as a cut is (the records it held may be entries the member acknowledged).
 */
export function markRottenTail(deps: EngineDeps, t: DroppedTail, mark: (at: string, reason: string, done: (err: Error | null) => void) => void, done: (err: Error | null) => void): void {
  deps.log.log('error', 'raft.log_tail_rotten', { segment: t.segment, offset: t.offset, bytes: t.bytes, kind: t.kind, detail: t.detail });
  mark(`${t.segment} at offset ${t.offset}`, `the log's last record was written whole and fails its checks (${t.detail}): rot, not a torn write`, done);
}

/**
 * Marks durably that the log lost records (LOG_LOST_MARKER, with the term through which votes are
 * held: that of the newest intact copy of the hard state beside the log), or, with no intact copy,
 * that the hard state is lost too (HARD_STATE_LOST_MARKER, first). Done before anything is cut.
 */
export function markLogLoss(deps: EngineDeps, dir: string, at: string, reason: string, done: (err: Error | null) => void): void {
  const copies = readHardStateCopies(deps.disk, dir);
  const newest = newestHardState(copies.flatMap((c) => (c.state !== null ? [c.state] : [])));
  const loss: LogLoss = { at, reason, votesThroughTerm: newest?.term ?? Number.MAX_SAFE_INTEGER };
  const mark = () => writeMarker(deps, `${dir}/${LOG_LOST_MARKER}`, `${JSON.stringify(loss)}\n`, done);
  if (newest !== null) return mark();
  // No intact copy of the term and vote, and the log's record of them is lost: this member
  // cannot know which vote it gave last. Marked first, durably: it stays mute for ever.
  const why = `no intact copy of the term and vote: ${copies.map((c) => `${c.file}: ${c.state === null ? c.problem : 'ok'}`).join('; ')}; the log lost records at ${at}`;
  writeMarker(deps, `${dir}/${HARD_STATE_LOST_MARKER}`, `${why}\n`, (e) => (e !== null ? done(e) : mark()));
}

/** The log's records verify but do not replay into a log (recoverer.replay threw). */
class LogReplayError extends Error {
  constructor(override readonly cause: Error) {
    super(cause.message);
    this.name = 'LogReplayError';
  }
}
