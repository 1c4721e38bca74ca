import type { EngineDeps } from '../../storage/engine.js';
import { FSYNC_ALWAYS, FSYNC_NEVER } from '../../storage/fsync-policy.js';
import { Wal, WAL_DEFAULTS } from '../../storage/wal/wal.js';
import { tailMayBeRot, type DroppedTail, type WalRecoveryReport } from '../../storage/wal/recovery.js';
import { assert } from '../../util/assert.js';
import { StorageCorruptionError } from '../../storage/errors.js';
import { cutLogAt, LOG_CUTS_MAX, markRottenTail } from './durable-storage.js';

/**
 * One Raft log per node, shared by every Raft group the node hosts (README.md in this folder says
 * why and what it measured). The idea is TiKV's raft-engine: each record is one group's, tagged
 * with the group's id, in one append-only Wal; a group's Ready appends its records and waits for
 * the Wal's group commit, so one fsync covers the entries and hard states every group appended
 * since the last one — where a log per group paid one fsync per group.
 *
 * A group sees its part of the log through a GroupLog, which DurableRaftStorage uses exactly as
 * it uses a Wal of its own: its records keep their (node-wide) LSNs, its truncatePrefix says
 * which of its records it still needs (its "low water"), and recovery hands it its own records
 * in order, from which it rebuilds its log as from its own Wal.
 *
 * Record: Wal type GROUP_RECORD, data = u32 group id (big-endian), u8 the group's record type,
 * then the group's record. Type GROUP_DROPPED (no body) says that everything of the group before
 * it is garbage: a replica removed from the group and created again later (a move) starts empty.
 *
 * Segments: the Wal drops a segment once every open group's low water is past it. Records of
 * groups that are not open (removed replicas, never started) pin nothing. A group that writes
 * rarely compacts rarely, and its oldest needed record would keep every segment after it: once
 * the log holds more than gcSegments segments and more than twice the bytes the open groups
 * still need (their records at or past their low water), each open group whose low water lies
 * in the oldest segment is asked to rewrite its live log (snapshot reference, hard state,
 * entries) at the head of the log (DurableRaftStorage.rewrite), which moves its low water there.
 * The "twice" bounds the copying: without it, groups whose live logs together outgrow gcSegments
 * would rewrite each other's way forever (each rewrite pushing the log past the threshold again).
 */

const GROUP_RECORD = 1;
export const GROUP_DROPPED = 0;
const HEADER_BYTES = 5;
/** Group ids are shard numbers: bounded so that a corrupt id is caught. */
export const GROUP_ID_MAX = 0xffff_fffe;

export interface SharedLogOptions {
  dir: string;
  /** Known-bug switch (`skip-log-fsync`): the log is never fsynced. */
  skipFsync: boolean;
  wal?: { segmentBytesMax?: number; blockBytes?: number };
  /** Segments beyond which groups pinning the oldest are asked to rewrite their live log. Default 8. */
  gcSegments?: number;
  /**
   * Marks, durably, that every group whose records the log may have held lost some (markLogLoss in
   * each group's directory), before a corruption is cut away (open). Without it a corruption fails
   * the open, naming the segment file and the offset.
   */
  markLoss?: (at: string, reason: string, done: (err: Error | null) => void) => void;
}

/** One of a group's records as recovery found it. */
export interface GroupRecord {
  lsn: number;
  type: number;
  data: Uint8Array;
  /** Where it lies (for errors). */
  segment: string;
  offset: number;
}

interface OpenGroup {
  /** The first LSN the group still needs. */
  lowWater: number;
  /** The group's records at or past lowWater as [LSN, bytes] pairs from `head` on, and their bytes. */
  records: number[];
  head: number;
  liveBytes: number;
  /** Asks the group's storage to rewrite its live log at the head; null until it registers. */
  rewrite: ((done: (err: Error | null) => void) => void) | null;
  rewriting: boolean;
}

export interface SharedLogStats {
  segments: number;
  diskBytes: number;
  fsyncs: number;
  /** Rewrites asked of groups pinning the oldest segment, since open. */
  rewrites: number;
  /** Groups open now. */
  groups: number;
}

export class SharedRaftLog {
  private readonly open_ = new Map<number, OpenGroup>();
  private rewrites = 0;
  /** The recovered groups that will open (expect()); null: not said yet, so every one of them. */
  private awaited: Set<number> | null = null;
  private checkQueued = false;
  private segmentsSeen: number;
  private closed = false;

  private constructor(
    private readonly deps: EngineDeps,
    private readonly wal: Wal,
    /** Each group's records from recovery (after its last GROUP_DROPPED), until it opens. */
    private readonly recovered: Map<number, GroupRecord[]>,
    readonly report: WalRecoveryReport,
    private readonly gcSegments: number,
    private readonly segmentBytes: number,
  ) {
    this.segmentsSeen = wal.segmentFirstLsns().length;
  }

  /**
   * Recovers the log in options.dir: a torn tail is cut off (the Wal's recovery). A record that
   * fails its checks in the middle of the log or in a sealed segment is corruption: with
   * options.markLoss the loss is marked in every group first, then the log is cut there and
   * recovered as its intact prefix (cutLogAt, as a single group's log is: README.md, "The log");
   * without it the open fails with an error naming the segment file and the offset. Records are
   * sorted by group here; each group replays its own when it opens.
   */
  static open(deps: EngineDeps, options: SharedLogOptions, done: (err: Error | null, log?: SharedRaftLog) => void): void {
    const gcSegments = options.gcSegments ?? 8;
    assert(Number.isInteger(gcSegments) && gcSegments >= 2, () => `shared raft log: gcSegments must be a whole number >= 2, got ${gcSegments}`);
    const attempt = (cuts: number) => {
      const recovered = new Map<number, GroupRecord[]>();
      const onRecord = (r: { lsn: number; type: number; data: Uint8Array; segment: string; offset: number }) => {
        const where = `shared raft log: ${r.segment} at offset ${r.offset} (LSN ${r.lsn})`;
        if (r.type !== GROUP_RECORD) throw new Error(`${where}: unknown record type ${r.type}`);
        if (r.data.length < HEADER_BYTES) throw new Error(`${where}: a record of ${r.data.length} bytes has no group header`);
        const view = new DataView(r.data.buffer, r.data.byteOffset, r.data.byteLength);
        const group = view.getUint32(0);
        const type = view.getUint8(4);
        if (group > GROUP_ID_MAX) throw new Error(`${where}: group id ${group} is out of range`);
        if (type === GROUP_DROPPED) {
          recovered.delete(group);
          return;
        }
        let list = recovered.get(group);
        if (list === undefined) recovered.set(group, (list = []));
        list.push({ lsn: r.lsn, type, data: r.data.slice(HEADER_BYTES), segment: r.segment, offset: r.offset });
      };
      // A rotten last record (tailMayBeRot) may hold entries of any group: every group is marked
      // before the Wal drops it, as for a cut.
      const beforeTailCut = (t: DroppedTail, d: (e: Error | null) => void) => {
        const mark = options.markLoss;
        return tailMayBeRot(t) && mark !== undefined ? markRottenTail(deps, t, mark, d) : d(null);
      };
      Wal.open(
        deps,
        { dir: options.dir, fsync: options.skipFsync ? FSYNC_NEVER : FSYNC_ALWAYS, fromLsn: null, ...WAL_DEFAULTS, ...options.wal, beforeTailCut },
        onRecord,
        (err, wal, report) => {
          const mark = options.markLoss;
          if (cuts > 0 && mark !== undefined && err instanceof StorageCorruptionError && err.path.startsWith(`${options.dir}/`)) {
            return cutLogAt(deps, options.dir, err, mark, (e) => (e !== null ? done(e) : attempt(cuts - 1)));
          }
          if (err !== null || wal === undefined || report === undefined) return done(err ?? new Error('shared raft log did not open'));
          done(null, new SharedRaftLog(deps, wal, recovered, report, gcSegments, options.wal?.segmentBytesMax ?? WAL_DEFAULTS.segmentBytesMax));
        },
      );
    };
    attempt(LOG_CUTS_MAX);
  }

  /**
   * Group `group`'s view of the log, with the records recovery found for it (none for a group
   * dropped since, or opened before in this life). One view per group at a time.
   */
  openGroup(group: number): GroupLog {
    assert(!this.closed, 'shared raft log: opening a group after close');
    assert(Number.isInteger(group) && group >= 0 && group <= GROUP_ID_MAX, () => `shared raft log: bad group id ${group}`);
    assert(!this.open_.has(group), () => `shared raft log: group ${group} is already open`);
    const records = this.recovered.get(group) ?? [];
    this.recovered.delete(group);
    const state: OpenGroup = { lowWater: records[0]?.lsn ?? this.wal.nextLsn(), records: [], head: 0, liveBytes: 0, rewrite: null, rewriting: false };
    for (const r of records) noteRecord(state, r.lsn, HEADER_BYTES + r.data.length);
    this.open_.set(group, state);
    return new GroupLog(this, group, records, state);
  }

  /**
   * Makes everything of `group` written so far garbage, durably, then calls done: a replica created
   * by a move must start empty whatever an earlier replica of the group left here.
   * REQUIRES: the group is not open.
   */
  dropGroup(group: number, done: (err: Error | null) => void): void {
    assert(!this.open_.has(group), () => `shared raft log: dropping group ${group}, which is open`);
    this.recovered.delete(group);
    this.wal.append(GROUP_RECORD, tagged(group, GROUP_DROPPED, new Uint8Array(0)), (err) => done(err), { sync: true });
  }

  /**
   * Says which of the groups recovery found records for will open (the node's hosted shards):
   * until then every one of them pins its records, and afterwards those that will open pin them
   * until they do. The others' records are garbage (replicas removed from this node).
   */
  expect(groups: Iterable<number>): void {
    this.awaited = new Set(groups);
  }

  /** The ids of groups recovery found records for that have not opened (for tests and status). */
  unopenedGroups(): number[] {
    return [...this.recovered.keys()].sort((a, b) => a - b);
  }

  stats(): SharedLogStats {
    const s = this.wal.stats();
    return { segments: s.segments, diskBytes: s.diskBytes, fsyncs: s.fsyncs, rewrites: this.rewrites, groups: this.open_.size };
  }

  /** Makes everything durable and closes the log (after the groups stopped). */
  close(done: (err: Error | null) => void): void {
    if (this.closed) return done(null);
    this.closed = true;
    this.wal.close(done);
  }

  // ---- for GroupLog ----

  /** @internal */
  appendFor(group: number, type: number, data: Uint8Array, done?: (err: Error | null, lsn: number) => void, opts?: { sync: boolean }): number {
    assert(type !== GROUP_DROPPED && type >= 0 && type <= 255, () => `shared raft log: group record type ${type}`);
    const lsn = this.wal.append(GROUP_RECORD, tagged(group, type, data), done, opts);
    const state = this.open_.get(group);
    if (state !== undefined && lsn >= 0) noteRecord(state, lsn, HEADER_BYTES + data.length);
    const segments = this.wal.segmentFirstLsns().length;
    if (segments !== this.segmentsSeen) {
      this.segmentsSeen = segments;
      if (segments > this.gcSegments) this.queueCheck();
    }
    return lsn;
  }

  /**
   * The first LSN a group that has not opened yet still needs: recovered records pin their
   * segments until their group opens (groups start one by one while others already append; a
   * start that first quarantines a rotten engine is slower still: shards/rot seed 83 lost a
   * group's whole log base to a collection that ran before the group opened).
   */
  private unopenedLow(): number {
    let low = Infinity;
    for (const [group, records] of this.recovered) {
      if (this.awaited !== null && !this.awaited.has(group)) continue;
      const first = records[0];
      if (first !== undefined) low = Math.min(low, first.lsn);
    }
    return low;
  }

  /** @internal A group no longer needs its records below lowWater: drops every segment no open group, nor one yet to open, needs. */
  collect(done: (err: Error | null) => void): void {
    if (this.closed) return done(null);
    let low = Math.min(this.wal.nextLsn(), this.unopenedLow());
    for (const g of this.open_.values()) low = Math.min(low, g.lowWater);
    this.wal.truncatePrefix(low - 1, (err) => {
      this.segmentsSeen = this.wal.segmentFirstLsns().length;
      done(err);
    });
  }

  /**
   * @internal Makes every record of an open group written so far garbage, durably (a GROUP_DROPPED
   * record): its records did not replay, and it starts again with none.
   */
  discardOpen(group: number, done: (err: Error | null) => void): void {
    const state = this.open_.get(group);
    assert(state !== undefined, () => `shared raft log: discarding group ${group}, which is not open`);
    state.records = [];
    state.head = 0;
    state.liveBytes = 0;
    state.lowWater = this.wal.nextLsn();
    this.wal.append(GROUP_RECORD, tagged(group, GROUP_DROPPED, new Uint8Array(0)), (err) => done(err), { sync: true });
  }

  /** @internal The group's view closed (its replica stopped or was removed): its records pin nothing now. */
  release(group: number): void {
    this.open_.delete(group);
  }

  /** @internal */
  nextLsn(): number {
    return this.wal.nextLsn();
  }

  /** @internal */
  walStats(): { segments: number; diskBytes: number; fsyncs: number } {
    const s = this.wal.stats();
    return { segments: s.segments, diskBytes: s.diskBytes, fsyncs: s.fsyncs };
  }

  /** Checks, once per turn, whether groups pin old segments (a rotation or a release may change it). */
  private queueCheck(): void {
    if (this.checkQueued || this.closed) return;
    this.checkQueued = true;
    this.deps.clock.defer(() => {
      this.checkQueued = false;
      this.checkPins();
    });
  }

  /**
   * With more than gcSegments segments: the groups whose low water lies in the oldest segment are
   * asked to rewrite their live log at the head; segments no group needs go first.
   */
  checkPins(): void {
    if (this.closed) return;
    const firsts = this.wal.segmentFirstLsns();
    if (firsts.length <= this.gcSegments) return;
    let live = 0;
    for (const g of this.open_.values()) live += g.liveBytes;
    const disk = this.wal.stats().diskBytes;
    if (disk <= Math.max(2 * live, this.gcSegments * this.segmentBytes)) return;
    const end = firsts[1] as number;
    // A group yet to open cannot rewrite its log: its records wait for it.
    let pinnedByNone = this.unopenedLow() >= end;
    for (const [, g] of this.open_) {
      if (g.lowWater >= end) continue;
      pinnedByNone = false;
      if (g.rewriting || g.rewrite === null) continue;
      g.rewriting = true;
      this.rewrites++;
      g.rewrite((err) => {
        g.rewriting = false;
        if (err !== null) this.deps.log.log('error', 'raft.shared_log.rewrite_failed', { error: err.message });
      });
    }
    if (pinnedByNone) this.collect((err) => {
      if (err !== null) this.deps.log.log('error', 'raft.shared_log.collect_failed', { error: err.message });
    });
  }
}

function noteRecord(g: OpenGroup, lsn: number, bytes: number): void {
  g.records.push(lsn, bytes);
  g.liveBytes += bytes;
}

/** Forgets the group's records below its low water (they are garbage now). */
function forgetBelow(g: OpenGroup): void {
  while (g.head < g.records.length && (g.records[g.head] as number) < g.lowWater) {
    g.liveBytes -= g.records[g.head + 1] as number;
    g.head += 2;
  }
  if (g.head > 1024 && g.head * 2 > g.records.length) {
    g.records = g.records.slice(g.head);
    g.head = 0;
  }
}

/**
 * The record of one group: its id and type, then its own bytes. Written into one buffer reused by
 * every call (Wal.append copies its data at once): a record per Ready, allocated and copied
 * again, was 1.3 KB of the 63 KB a simulated 16-shard write allocated.
 */
function tagged(group: number, type: number, data: Uint8Array): Uint8Array {
  const size = HEADER_BYTES + data.length;
  // (A large record, a rewrite's checkpoint, gets a buffer of its own: the scratch stays small.)
  const out = size <= TAGGED_SCRATCH_BYTES ? taggedScratch.subarray(0, size) : new Uint8Array(size);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint32(0, group);
  view.setUint8(4, type);
  out.set(data, HEADER_BYTES);
  return out;
}
const TAGGED_SCRATCH_BYTES = 64 * 1024;
const taggedScratch = new Uint8Array(TAGGED_SCRATCH_BYTES);

/**
 * One group's part of the shared log, with the calls DurableRaftStorage makes of a Wal of its
 * own. A record's done runs once the shared log's group commit has made it durable — with every
 * record appended before it, of any group — so a Ready sends and applies only what is durable.
 */
export class GroupLog {
  private closed = false;

  /** @internal */
  constructor(
    private readonly shared: SharedRaftLog,
    readonly group: number,
    private readonly records: GroupRecord[],
    private readonly state: OpenGroup,
  ) {}

  /** The group's records that recovery found, in LSN order. */
  recovered(): readonly GroupRecord[] {
    return this.records;
  }

  /** Drops, durably, every record of the group (recovered or appended): it starts again empty. */
  discard(done: (err: Error | null) => void): void {
    assert(!this.closed, () => `shared raft log: group ${this.group} discards after close`);
    this.records.length = 0;
    this.shared.discardOpen(this.group, done);
  }

  get report(): WalRecoveryReport {
    return this.shared.report;
  }

  append(type: number, data: Uint8Array, done?: (err: Error | null, lsn: number) => void, opts?: { sync: boolean }): number {
    assert(!this.closed, () => `shared raft log: group ${this.group} appends after close`);
    return this.shared.appendFor(this.group, type, data, done, opts);
  }

  /** The group needs none of its records up to upToLsn any more (its checkpoint after them is durable). */
  truncatePrefix(upToLsn: number, done: (err: Error | null) => void): void {
    if (this.closed) return done(null);
    this.state.lowWater = Math.max(this.state.lowWater, upToLsn + 1);
    forgetBelow(this.state);
    this.shared.collect(done);
  }

  nextLsn(): number {
    return this.shared.nextLsn();
  }

  stats(): { segments: number; diskBytes: number; fsyncs: number } {
    return this.shared.walStats();
  }

  /** How the group rewrites its live log at the head when it pins an old segment. */
  onRewrite(fn: (done: (err: Error | null) => void) => void): void {
    this.state.rewrite = fn;
  }

  /** The group stopped: its records pin nothing. The shared log stays open (the node closes it). */
  close(done: (err: Error | null) => void): void {
    if (!this.closed) {
      this.closed = true;
      this.shared.release(this.group);
    }
    done(null);
  }
}
