import type { Env } from '../../env/env.js';
import type { Timer } from '../../env/clock.js';
import type { EngineDeps } from '../../storage/engine.js';
import { StorageCorruptionError } from '../../storage/errors.js';
import { quarantine } from '../../storage/quarantine.js';
import { assert } from '../../util/assert.js';
import { failpoint } from '../../util/failpoints.js';
import { encodeRaftFrame, raftMessageFromWire } from './codec.js';
import { describeMessage, type Message } from '../raft/messages.js';
import { RaftNode } from '../raft/node.js';
import type { RaftOptions } from '../raft/options.js';
import type { Ready } from '../raft/ready.js';
import type { Entry, Index, Membership, NodeId, ReadState, Snapshot, SnapshotMeta, SoftState, Term } from '../raft/types.js';
import { DurableRaftStorage, isStateMachineSnapshot, LOG_LOST_MARKER, type LogLoss, type OpenReport } from './durable-storage.js';
import type { GroupLog } from './shared-log.js';
import { decodeSnapshotRef, encodeSnapshotRef, SnapshotFileReader, SnapshotFileWriter, type SnapshotRef } from './snapshot-file.js';
import { ackOf, decodeChunkFrame, DEFAULT_TRANSFER_OPTIONS, SnapshotReceiver, SnapshotSender, type TransferDeps, type TransferOptions } from './snapshot-transfer.js';
import { writeWholeFile } from '../../storage/whole-file.js';

/**
 * The Raft runtime: carries out the pure core's Readys over a node's Env — ticks from the clock,
 * messages over the Net, the log in the WAL — and feeds committed entries to a state machine.
 * It follows the Ready contract (src/replication/raft/ready.ts) to the letter: persist, then send,
 * then apply, one Ready at a time. Inputs that arrive while a Ready is being persisted collect in
 * the core and leave together in the next one: that is this node's group commit.
 */

/** What the runtime needs of the application's state machine. */
export interface RaftStateMachine {
  /** The last log position the state machine reflects (after a restart: what it recovered). */
  appliedIndex(): Index;
  /**
   * Called just before the runtime asks the core for a Ready: the moment to propose what the
   * application gathered since the last one (requests batched into one entry). Not called while
   * a Ready is being persisted, so whatever arrives meanwhile is gathered into one proposal.
   */
  beforeReady?(): void;
  /** Whether the application holds gathered proposals (the runtime then runs another pass). */
  hasGathered?(): boolean;
  /** Applies one committed entry (normal entries with data; others only advance the index). */
  apply(entry: Entry): void;
  /**
   * The state at appliedIndex(), to be read a block at a time while the state machine goes on
   * applying: what it yields must not change with later applies (a storage snapshot underneath).
   */
  snapshotSource(): SnapshotSource;
  /**
   * Starts replacing the whole state by a snapshot's: clears the current state (yielding as it
   * likes), then calls done with an installer that takes the snapshot's blocks in order. Until
   * the installer finishes, appliedIndex() stays where it was, so a crash in between restores the
   * snapshot again at the next start (its file and the log record naming it are durable first).
   */
  beginRestore(meta: SnapshotMeta, done: (err: Error | null, installer?: SnapshotInstaller) => void): void;
  /**
   * The highest applied index whose writes a restart would find (a durable engine's flushed state),
   * or null (or absent) if the state machine keeps nothing durable of its own: then the runtime
   * writes snapshot files to compact the log. With a number, the log is compacted against it and
   * never past it, and snapshots are built only for followers that need them.
   */
  durableAppliedIndex?(): Index | null;
  /** Makes what was applied so far durable (an engine flush); durableAppliedIndex() then covers it. */
  makeDurable?(done: (err: Error | null) => void): void;
}

/** A state machine's state, a block at a time. */
export interface SnapshotSource {
  /** The next block (a few hundred KB at most), or null after the last. */
  next(): Uint8Array | null;
  /** Releases what holds the state still (a storage snapshot). */
  release(): void;
}

export interface SnapshotInstaller {
  /** Applies the next block; done once its writes are visible (and as durable as applies are). */
  block(data: Uint8Array, done: (err: Error | null) => void): void;
  /** After the last block: records the snapshot's index as applied. */
  finish(done: (err: Error | null) => void): void;
}

export interface RaftRuntimeHooks {
  /** Leadership or role changed. */
  onSoftState(soft: SoftState): void;
  /** ReadIndex answers: each may be served once appliedIndex() >= its index. */
  onReadStates(states: readonly ReadState[]): void;
  /** After each Ready's entries were applied. */
  onApplied(): void;
  /** The log could not be written: the node must stop (its promises can no longer be kept). */
  onFatal(err: Error): void;
  /**
   * Protocol-aware recovery: what this member lost (`needed`: the state machine lacks state the
   * log was compacted past, its log was cut, its term and vote are lost) and when it holds that
   * again (`repaired`). For the simulator's repair check and for operators.
   */
  onRepair?(event: 'needed' | 'repaired', detail: RepairDetail): void;
}

/**
 * What a member repairs (RecoveryStatus names the same three): its state machine from a
 * leader's snapshot, its log by an entry of a later term, or nothing ever (its hard state).
 */
export type RepairKind = 'state-machine' | 'log' | 'hard-state';

/** One repair event's detail (RaftRuntimeHooks.onRepair). */
export interface RepairDetail {
  what: RepairKind;
  need: Index;
  applied: Index;
  why: string;
}

export interface RaftRuntimeOptions {
  /** The original members, for a brand-new log; null for a node that joins an existing cluster. */
  bootstrap: Membership | null;
  raft: RaftOptions;
  tickMs: number;
  /** Take a snapshot and compact the log after this many applied entries, */
  snapshotEntries: number;
  /** or after this many bytes of applied entries' data, whichever comes first. */
  snapshotBytes: number;
  /** Entries kept below a snapshot, for followers a little behind, */
  keepEntries: number;
  /** and at most this many bytes of them. */
  keepBytes: number;
  /** The log's segment and block sizes (WAL_DEFAULTS when absent). */
  logSegmentBytes?: number;
  logBlockBytes?: number;
  /** Known-bug switch: never fsync the log. */
  skipLogFsync: boolean;
  /** The term and vote in two copies beside the log too (RaftTuning.hardStateCopies). */
  hardStateCopies: boolean;
  /** Where the log lives on the node's disk (with a shared log: the group's snapshot files). */
  dir: string;
  /**
   * The group's part of the node's shared Raft log (shared-log.ts), for a node hosting many
   * groups; absent: the log is a Wal of its own under dir/wal.
   */
  sharedLog?: GroupLog;
  /**
   * Snapshot transfers (snapshot-transfer.ts; DEFAULT_TRANSFER_OPTIONS). Tests make chunks tiny
   * so that one snapshot takes many.
   */
  transfer?: Partial<TransferOptions>;
  /**
   * Building and installing a snapshot yield the event loop between blocks: through a timer of
   * this many ms, or (0, the default) through clock.defer — the simulator uses a delay so that
   * writes interleave with a build or an install in virtual time too.
   */
  snapshotYieldMs?: number;
  /**
   * Below this much free disk space, appends that carry entries are dropped as if lost (the
   * leader retries them), so that a full disk stops this member from taking on more log instead of
   * failing the log's next write and ending the process. Default 0: never.
   */
  diskReserveBytes?: number;
}

/**
 * The log a node holds in memory while a snapshot is being built, in units of snapshotBytes,
 * before it refuses new writes: a 2 GB state takes tens of seconds to write out, and a node taking
 * writes at tens of MB/s would otherwise hold a gigabyte of log meanwhile.
 */
export const LOG_BACKLOG_SNAPSHOTS = 4;

/**
 * The marker (under the runtime's dir) that the state machine lost state the log was compacted
 * past, on purpose: its rotten files were quarantined, and it is to be refilled from the group.
 * Without it, a state machine behind a compaction point is data loss and the node refuses to
 * start; with it, the node starts, refuses to lead, and asks the leader for a snapshot. It is
 * written (durably) before anything is quarantined, and removed once a compaction made after the
 * repair is durable (the state machine then holds again what the log no longer does).
 */
export const STATE_MACHINE_LOST_MARKER = 'sm-lost';

/** Ticks between two requests for a repairing snapshot while none arrives. */
const REPAIR_ASK_TICKS = 10;

/**
 * Ticks without a leader after which a member repairing its state machine may stand for election
 * after all (about three election timeouts at the defaults): the group may need its log.
 */
const REPAIR_LEADERLESS_TICKS = 30;

/** Ticks without a leader between two raft.repair_stalled reports. */
const REPAIR_STALL_TICKS = 300;

/**
 * What a member can no longer vouch for after corruption, and what it does about it (README.md,
 * protocol-aware recovery): for /status and `kv-lab cluster status`, where an operator sees it
 * without reading the logs. Absent fields: not so.
 */
export interface RecoveryStatus {
  /** Its state machine lacks the state below `need` and is refilled from the leader meanwhile. */
  stateMachine?: { need: Index; applied: Index; why: string; installing: boolean };
  /** Its log was cut at a corruption: no vote until it holds an entry of a term above `throughTerm`. */
  votesHeld?: { throughTerm: Term; at: string; reason: string };
  /** No intact copy of its term and vote: it sends nothing, for good; replace it. */
  mute?: string;
  /**
   * Milliseconds the group has had no leader, once that has lasted REPAIR_STALL_TICKS: no one to
   * repair from, so what this member lost has no intact copy unless some other member holds it
   * (the raft.repair_stalled log says the same).
   */
  stalledMs?: number;
}

/** Writes the marker durably (STATE_MACHINE_LOST_MARKER), saying why, then calls done. */
export function markStateMachineLost(env: Pick<Env, 'disk'>, dir: string, why: string, done: (err: Error | null) => void): void {
  try {
    env.disk.mkdir(dir);
  } catch (err) {
    return done(err as Error);
  }
  writeWholeFile(env.disk, `${dir}/${STATE_MACHINE_LOST_MARKER}`, new TextEncoder().encode(`${JSON.stringify({ why: why.slice(0, 1000) })}\n`), 'always', done);
}

/** A Ready carried out for longer than this is logged (raft.ready_slow). */
const READY_SLOW_MS = 10_000;

export class RaftRuntime {
  private readonly node: RaftNode;
  private tickTimer: Timer | null = null;
  private persisting = false;
  /** When the Ready being carried out began, and in which step it is (for the slow-Ready log). */
  private readyStartedMs = 0;
  private readyPhase: 'persist' | 'install' = 'persist';
  private readySlowLogged = false;
  private driveQueued = false;
  private stopped = false;
  private lastSnapshotIndex: Index;
  /**
   * The last index of the log as it is on disk: what a crash would leave. Nothing past it may be
   * applied (etcd#14370: a state machine ahead of its own log). Kept here, apart from the core's
   * stable index, so that the runtime checks its own ordering of persist and apply.
   */
  private durableLastIndex: Index;
  /**
   * Data bytes of the entries applied since the last snapshot. An entry batches up to a hundred
   * requests, so a count of entries alone let the log held in memory (and replayed at a restart)
   * grow to gigabytes under sustained load before it was compacted.
   */
  private bytesSinceSnapshot = 0;
  private diskWasLow = false;
  /** A snapshot being built (one at a time), so that the next trigger does not start another. */
  private building = false;
  /** A state machine flush the runtime asked for (makeDurable), not yet done. */
  private makingDurable = false;
  /** The durable applied index a sync last left unmoved (raft.make_durable_idle is logged once per value). */
  private idleDurable: Index | null = null;
  /**
   * Compaction against a durable state machine: the snapshot built on demand for followers the
   * log no longer serves (pinned while in use, deleted once no transfer needs it), and the
   * followers waiting for one being built, with the term they asked in.
   */
  private demand: { meta: SnapshotMeta; ref: SnapshotRef } | null = null;
  private readonly demandWaiting = new Map<NodeId, Term>();
  /** Snapshots on their way to followers, by follower; the one this node receives. */
  private readonly senders = new Map<NodeId, SnapshotSender>();
  private readonly receiver: SnapshotReceiver;
  private readonly transferOptions: TransferOptions;
  /** A leader repairing its own state machine: whom it is handing leadership to, since when, and whom it tried in this term. */
  private handOver: { term: Term; tried: Set<NodeId>; target: NodeId | null; sinceMs: number } | null = null;
  /** When each member last asked this leader for a repairing snapshot (receiveRepair), in monotonic ms. */
  private readonly repairAsks = new Map<NodeId, number>();
  private readonly transferDeps: TransferDeps;
  soft: SoftState;
  /**
   * Protocol-aware recovery of the state machine: it lacks the state below `need` (the log's
   * compaction point), so it applies nothing and this member stands for no election until a
   * snapshot at `need` or later from the leader has been installed. `installing`: one is.
   */
  private repair: { need: Index; why: string; ticks: number; installing: boolean; installingIndex: Index; leaderlessTicks: number } | null = null;
  /** The STATE_MACHINE_LOST_MARKER is on disk (removed after the first compaction past a repair). */
  private lostMarker = false;
  /** Repairs of the state machine completed since start. */
  repairs = 0;
  /**
   * Protocol-aware recovery of the log: it was cut at a corruption, and this member grants no
   * vote (and stands for none) until its log holds an entry of a term above votesThroughTerm
   * (Raft.setRecoveryHolds; README.md says why that is enough). Null: none.
   */
  private logHold: LogLoss | null = null;
  /** Ticks since the last askForLaterTerm (the first ask goes at once). */
  private logHoldTicks = REPAIR_ASK_TICKS;
  /**
   * No intact copy of the term and vote (HARD_STATE_LOST_MARKER): this member sends nothing at
   * all — no vote, no acknowledgement, no heartbeat answer — for ever, and says so loudly.
   */
  private mute: string | null = null;
  /** Ticks in a row without a known leader (for RecoveryStatus.stalledMs). */
  private leaderlessTicks = 0;

  private constructor(
    private readonly env: Env,
    private readonly options: RaftRuntimeOptions,
    private readonly storage: DurableRaftStorage,
    private readonly sm: RaftStateMachine,
    private readonly hooks: RaftRuntimeHooks,
  ) {
    this.node = new RaftNode({ id: env.id, storage, rng: env.rng.fork('raft'), options: options.raft });
    this.soft = this.node.softState();
    this.transferOptions = { ...DEFAULT_TRANSFER_OPTIONS, ...options.transfer };
    this.transferDeps = {
      env,
      snapDir: storage.snapshotDir,
      send: (to, frame) => this.env.net.send(to, frame),
      pin: (file) => storage.pinSnapshot(file),
      unpin: (file) => storage.unpinSnapshot(file),
    };
    this.receiver = new SnapshotReceiver(
      this.transferDeps,
      {
        term: () => this.node.hardState().term,
        // A repairing member takes any snapshot past what its state machine holds, or past the one
        // it is installing: a second copy of that one would be received under the same file name,
        // which the install removes once done.
        commitIndex: () => (this.repair !== null ? Math.max(this.sm.appliedIndex(), this.repair.installing ? this.repair.installingIndex : 0) : this.node.commitIndex()),
        hasRoomFor: (bytes) => this.hasRoomFor(bytes),
        received: (from, term, snapshot) => this.snapshotReceived(from, term, snapshot),
        failed: (err) => this.fatal('raft.snapshot_receive_failed', err),
      },
      this.transferOptions,
    );
    this.lastSnapshotIndex = storage.snapshot().meta.index;
    this.durableLastIndex = storage.lastIndex();
    // After a restart the log since the snapshot is back in memory: it counts towards the next one.
    const lo = Math.max(storage.firstIndex(), this.lastSnapshotIndex + 1);
    const hi = Math.min(storage.lastIndex(), sm.appliedIndex()) + 1;
    if (lo < hi) for (const e of storage.entries(lo, hi, Infinity)) this.bytesSinceSnapshot += e.data.length;
  }

  /**
   * Opens the log, brings the state machine up to the log's snapshot if it is behind, and starts
   * ticking. done(err) if the log cannot be recovered (corruption is an error, never skipped).
   */
  static start(env: Env, options: RaftRuntimeOptions, sm: RaftStateMachine, hooks: RaftRuntimeHooks, done: (err: Error | null, rt?: RaftRuntime) => void): void {
    const deps: EngineDeps = { disk: env.disk, clock: env.clock, log: env.log };
    const wal = { ...(options.logSegmentBytes !== undefined ? { segmentBytesMax: options.logSegmentBytes } : {}), ...(options.logBlockBytes !== undefined ? { blockBytes: options.logBlockBytes } : {}) };
    const opened = (err: Error | null, storage?: DurableRaftStorage, report?: OpenReport): void => {
      if (err !== null || storage === undefined) return done(err ?? new Error('raft log did not open'));
      const snap = storage.snapshot();
      const go = (e: Error | null, repair?: { need: Index; why: string }) => {
        if (e !== null) {
          storage.close(() => {});
          return done(e);
        }
        env.log.log('info', 'raft.start', {
          term: storage.hardState().term,
          commit: storage.hardState().commit,
          firstIndex: storage.firstIndex(),
          lastIndex: storage.lastIndex(),
          snapshot: snap.meta.index,
          applied: sm.appliedIndex(),
          bootstrapped: report?.bootstrapped ?? false,
          walTailDropped: report?.wal.droppedTail !== null,
        });
        const rt = new RaftRuntime(env, options, storage, sm, hooks);
        rt.lostMarker = env.disk.exists(`${options.dir}/${STATE_MACHINE_LOST_MARKER}`);
        if (report?.hardStateLost != null) rt.muteForEver(report.hardStateLost);
        else if (report?.logLoss != null) rt.holdVotes(report.logLoss);
        if (repair !== undefined) rt.startRepair(repair.need, repair.why);
        rt.scheduleTick();
        rt.drive();
        done(null, rt);
      };
      // Snapshot files the log names that failed their checks: the log keeps their positions, the
      // files go to quarantine; a state machine behind them is repaired from the group.
      const rotten = report?.lostSnapshots ?? [];
      const behind = sm.appliedIndex() < snap.meta.index;
      if (rotten.length > 0) {
        const why = `snapshot file ${rotten.join(', ')} failed its checks`;
        return loseStateMachine(env, options.dir, behind ? why : null, rotten.map((f) => `${storage.snapshotDir}/${f}`), (e) => (e !== null ? go(e) : RaftRuntime.bringUp(env, options, storage, sm, go)));
      }
      RaftRuntime.bringUp(env, options, storage, sm, go);
    };
    // The lab's vote-without-persist switch lets a vote leave before it is durable; a copy of it
    // beside the log, durable sooner than the log's record, would narrow the window the switch
    // opens, so with the switch on there are no copies (what the member had before them).
    const storageOptions = { dir: options.dir, skipFsync: options.skipLogFsync, wal, hardStateCopies: options.hardStateCopies && !options.raft.bugs.voteWithoutPersist };
    if (options.sharedLog !== undefined) DurableRaftStorage.openShared(deps, storageOptions, options.bootstrap, options.sharedLog, opened);
    else DurableRaftStorage.open(deps, storageOptions, options.bootstrap, opened);
  }

  /**
   * Brings the state machine up to the log's snapshot if it is behind: from the snapshot's file
   * when there is one (a rotten one is quarantined and the state machine repaired from the group
   * instead), from the group when the state machine lost it on purpose (the marker), and
   * otherwise the state machine lost writes it had made durable: marked and repaired from the group
   * like a rotten file (raft.state_machine_behind), never served as if whole.
   */
  private static bringUp(env: Env, options: RaftRuntimeOptions, storage: DurableRaftStorage, sm: RaftStateMachine, go: (e: Error | null, repair?: { need: Index; why: string }) => void): void {
    const snap = storage.snapshot();
    if (sm.appliedIndex() >= snap.meta.index) return go(null);
    const marked = env.disk.exists(`${options.dir}/${STATE_MACHINE_LOST_MARKER}`);
    if (isStateMachineSnapshot(snap)) {
      if (marked) return go(null, { need: snap.meta.index, why: 'its files were quarantined' });
      // The state machine lost writes it had made durable: its files rotted where a check could not
      // tell rot from a torn write (a rotten last batch reads as one), or the engine has a bug. The
      // group holds them: repaired like a rotten file, marked first, loudly; never served as whole,
      // nor a start refused again and again (raft/rot-bitcask seed 18 did so, to the end).
      const why = `the state machine is at ${sm.appliedIndex()}, below the ${snap.meta.index} its log was compacted against: writes it had made durable are lost on this member`;
      env.log.log('error', 'raft.state_machine_behind', { applied: sm.appliedIndex(), compactedTo: snap.meta.index, action: 'repair from the group' });
      return loseStateMachine(env, options.dir, why, [], (e) => (e !== null ? go(e) : go(null, { need: snap.meta.index, why })));
    }
    // A state machine that lost more than the log keeps (the memory engine always does), or that
    // crashed while installing a snapshot, starts again from the snapshot; the core then hands
    // it every committed entry after that.
    installSnapshot(env, storage.snapshotDir, snap, sm, options.snapshotYieldMs ?? 0, () => false, (err) => {
      // Only the snapshot's own file is this path's to quarantine: the engine that installs it may
      // meet a rotten table of its own (shards/rot seed 1 blamed an intact snapshot file for one),
      // which is the engine's failure, handled by the node (engine-repair.ts).
      if (!(err instanceof StorageCorruptionError) || !err.path.startsWith(`${storage.snapshotDir}/`)) return go(err);
      const file = decodeSnapshotRef(snap.data)?.file ?? '';
      const why = `snapshot file ${file} failed its checks while installed: ${err.message}`;
      loseStateMachine(env, options.dir, why, [`${storage.snapshotDir}/${file}`], (e) => {
        if (e !== null) return go(e);
        storage.forgetSnapshotFile();
        go(null, { need: snap.meta.index, why });
      });
    });
  }

  get raft(): RaftNode {
    return this.node;
  }

  /** A peer's message, as it came off the network (already decoded). */
  receive(from: string, m: Message): void {
    if (this.stopped) return;
    if (m.to !== this.env.id || m.from !== from) {
      this.env.log.log('warn', 'raft.misaddressed', { from, message: describeMessage(m) });
      return;
    }
    if (m.type === 'MsgApp' && m.entries.length > 0 && this.diskLow()) return;
    if (m.type === 'MsgSnap') {
      // Snapshots arrive as streamed files (receiveTransfer), never as a message: one from the
      // wire would name a file on the sender's disk.
      this.env.log.log('warn', 'raft.bad_message', { from, why: 'a MsgSnap on the wire' });
      return;
    }
    this.node.step(m);
    this.drive();
  }

  /** A snapshot chunk (binary frame) or an answer to one, from a peer. */
  receiveTransfer(from: NodeId, frame: Uint8Array | Record<string, unknown>): void {
    if (this.stopped) return;
    if (frame instanceof Uint8Array) {
      let chunk;
      try {
        chunk = decodeChunkFrame(frame);
      } catch (err) {
        this.env.log.log('warn', 'raft.bad_message', { from, error: (err as Error).message });
        return;
      }
      this.receiver.onChunk(from, chunk.header, chunk.data);
      return;
    }
    const ack = ackOf(frame);
    if (ack === null) return this.env.log.log('warn', 'raft.bad_message', { from, why: 'a malformed snapshot answer' });
    this.senders.get(from)?.onAck(ack);
    this.forgetFinishedSenders();
  }

  /**
   * Whether the log applied since the last snapshot began has grown past LOG_BACKLOG_SNAPSHOTS
   * times snapshotBytes: a snapshot of a large state takes a while to build, and the log it will
   * compact stays in memory meanwhile. The application refuses new writes while this holds.
   */
  logBacklogged(): boolean {
    return this.bytesSinceSnapshot > LOG_BACKLOG_SNAPSHOTS * this.options.snapshotBytes;
  }

  /** How far the snapshot this node receives has come (null: none), for status and tests. */
  snapshotReceiving(): { index: number; have: number; total: number } | null {
    return this.receiver.progress();
  }

  /** What the runtime is doing, for status pages and when something looks stuck. */
  activity(): { readyPhase: 'persist' | 'install' | null; readyMs: number; buildingSnapshot: boolean; sending: NodeId[]; receiving: { index: number; have: number; total: number } | null } {
    return {
      readyPhase: this.persisting ? this.readyPhase : null,
      readyMs: this.persisting ? Math.round(this.env.clock.monotonicMs() - this.readyStartedMs) : 0,
      buildingSnapshot: this.building,
      sending: this.snapshotSending(),
      receiving: this.snapshotReceiving(),
    };
  }

  /** Followers a snapshot is being sent to, for status and tests. */
  snapshotSending(): NodeId[] {
    return [...this.senders.keys()];
  }

  /** Schedules a pass over the core's output (coalesced: many inputs, one Ready). */
  drive(): void {
    if (this.driveQueued || this.stopped) return;
    this.driveQueued = true;
    this.env.clock.defer(this.driven);
  }

  /** drive()'s deferred pass, one closure for the runtime's life (not one per input). */
  private readonly driven = (): void => {
    this.driveQueued = false;
    this.process();
  };

  stop(): void {
    this.stopped = true;
    this.tickTimer?.cancel();
    for (const s of this.senders.values()) s.finish('gave up');
    this.senders.clear();
    this.receiver.abandon(null);
    this.storage.close(() => {});
  }

  /** Whether `bytes` more fit on the disk with options.diskReserveBytes to spare. */
  private hasRoomFor(bytes: number): boolean {
    const { usedBytes, capacityBytes } = this.env.disk.usage();
    return capacityBytes === null || capacityBytes - usedBytes - bytes >= (this.options.diskReserveBytes ?? 0);
  }

  /**
   * Logs, once per Ready, one that has taken more than READY_SLOW_MS: while it is carried out the
   * node answers no one (a disk that stopped answering fsync, a huge snapshot being installed).
   */
  private watchReady(): void {
    if (!this.persisting || this.readySlowLogged) return;
    const ms = this.env.clock.monotonicMs() - this.readyStartedMs;
    if (ms < READY_SLOW_MS) return;
    this.readySlowLogged = true;
    this.env.log.log('warn', 'raft.ready_slow', { phase: this.readyPhase, ms: Math.round(ms), wal: this.storage.walStats() });
  }

  /** Whether free disk space is below options.diskReserveBytes (logged when that changes). */
  private diskLow(): boolean {
    const reserve = this.options.diskReserveBytes ?? 0;
    if (reserve <= 0) return false;
    const { usedBytes, capacityBytes } = this.env.disk.usage();
    const low = capacityBytes !== null && capacityBytes - usedBytes < reserve;
    if (low !== this.diskWasLow) {
      this.diskWasLow = low;
      this.env.log.log(low ? 'error' : 'info', low ? 'raft.disk_low' : 'raft.disk_ok', { freeBytes: capacityBytes === null ? null : capacityBytes - usedBytes, reserveBytes: reserve });
    }
    return low;
  }

  private scheduleTick(): void {
    this.tickTimer = this.env.clock.timer(this.options.tickMs, () => {
      if (this.stopped) return;
      for (const sender of this.senders.values()) sender.tick();
      this.forgetFinishedSenders();
      this.watchReady();
      this.receiver.tick();
      this.leaderlessTicks = this.soft.leader === null ? this.leaderlessTicks + 1 : 0;
      this.askForRepair();
      this.askForLaterTerm();
      this.node.tick();
      this.process();
      this.scheduleTick();
    });
  }

  private process(): void {
    if (this.stopped) return;
    if (this.persisting) return this.applyCommittedMeanwhile();
    this.sm.beforeReady?.();
    if (!this.node.hasReady()) return;
    const rd = this.node.ready();
    this.sendAll(rd.earlyMessages);
    if (rd.softState !== null) {
      if (rd.softState.role !== this.soft.role || rd.softState.leader !== this.soft.leader) {
        this.env.log.log('info', 'raft.role', { role: rd.softState.role, leader: rd.softState.leader, term: this.node.hardState().term });
      }
      this.soft = rd.softState;
      if (rd.softState.role !== 'leader') {
        for (const sender of this.senders.values()) sender.finish('gave up');
        this.senders.clear();
      }
      this.hooks.onSoftState(rd.softState);
    }
    this.persisting = true;
    this.readyStartedMs = this.env.clock.monotonicMs();
    this.readyPhase = 'persist';
    this.readySlowLogged = false;
    let persisted = false;
    const diskLow = !rd.mustSync && this.diskLow();
    // A Ready's entries may overwrite a tail: from the first of them on, the disk holds neither
    // the old entries for sure nor the new ones until the fsync completes.
    const lastNew = rd.entries.length > 0 ? (rd.entries[rd.entries.length - 1] as Entry).index : null;
    if (lastNew !== null) this.durableLastIndex = Math.min(this.durableLastIndex, (rd.entries[0] as Entry).index - 1);
    failpoint('raft.beforePersist');
    this.storage.persist(rd, (err) => {
      persisted = true;
      if (this.stopped) return;
      if (err !== null) {
        this.env.log.log('error', 'raft.persist_failed', { error: err.message });
        this.stopped = true;
        this.hooks.onFatal(err);
        return;
      }
      if (rd.snapshot !== null) this.durableLastIndex = rd.snapshot.meta.index;
      if (lastNew !== null) this.durableLastIndex = lastNew;
      this.carryOut(rd);
    }, { diskLow });
    // While this Ready's write and fsync are in flight, apply the committed entries that an
    // earlier Ready already made durable here: the CPU work of applying overlaps the I/O, and a
    // leader answers a write one fsync sooner (its entries commit in the Ready after their own).
    // Entries of this Ready's own `entries` wait for the fsync: a follower that applied them and
    // crashed before it would hold state its log lacks (etcd's shouldWaitWALSync, etcd#14370).
    if (!persisted && !this.stopped) this.applyDurable(rd);
  }

  /** Applies the committed entries of rd that precede its new entries (none if it has a snapshot). */
  private applyDurable(rd: Ready): void {
    if (rd.snapshot !== null) return;
    const firstNew = rd.entries.length > 0 ? (rd.entries[0] as Entry).index : Infinity;
    if (this.applyInOrder(rd.committedEntries, firstNew)) this.hooks.onApplied();
  }

  /**
   * While a Ready is being persisted: applies what became committed meanwhile and is durable here
   * (RaftNode.takeDurableCommitted), so that a leader answers as soon as an ack commits its
   * entries instead of after its next fsync.
   */
  private applyCommittedMeanwhile(): void {
    if (this.applyInOrder(this.node.takeDurableCommitted(), Infinity)) this.hooks.onApplied();
  }

  /** Applies entries below `below`, in order; returns whether it applied any. */
  private applyInOrder(entries: readonly Entry[], below: Index): boolean {
    let applied = false;
    // A state machine being repaired lacks the state these entries build on: they are applied
    // from the log once the repairing snapshot is in (finishRepair).
    if (this.repair !== null) return false;
    for (const e of entries) {
      // The state machine may stop the node while applying (an engine file found rotten).
      if (e.index >= below || this.stopped) break;
      // After a restart the core hands again entries a durable state machine already holds.
      if (e.index <= this.sm.appliedIndex()) continue;
      assert(e.index === this.sm.appliedIndex() + 1, () => `applying entry ${e.index} after ${this.sm.appliedIndex()}: a gap`);
      assert(e.index <= this.durableLastIndex, () => `applying entry ${e.index} before it is durable here (log durable to ${this.durableLastIndex})`);
      failpoint('raft.beforeApply');
      this.sm.apply(e);
      failpoint('raft.afterApply');
      this.bytesSinceSnapshot += e.data.length;
      applied = true;
    }
    return applied;
  }

  /** Steps 2–5 of the Ready contract, once step 1 (persist) is durable. */
  private carryOut(rd: Ready): void {
    failpoint('raft.afterPersistBeforeSend');
    this.sendAll(rd.messages);
    failpoint('raft.afterSendBeforeApply');
    const snapshot = rd.snapshot;
    if (snapshot === null) return this.finishReady(rd);
    if (this.repair === null && snapshot.meta.index <= this.sm.appliedIndex()) {
      // The state machine already holds this state or a later one (a repair installed it from
      // the leader just before the core received the same snapshot). Installing it again would
      // clear the state first, keeping the applied index, so a crash part way would leave a
      // half-cleared state claiming that index, never installed again (shards/rot seed 194: a
      // replica of 16 keys where its group held 160). Entries after it are skipped as applied.
      this.lastSnapshotIndex = snapshot.meta.index;
      this.bytesSinceSnapshot = 0;
      return this.finishReady(rd);
    }
    this.readyPhase = 'install';
    // Step 3 with a snapshot: the state machine is rebuilt from the file, a block at a time, and
    // only then are the Ready's committed entries applied and advance() called (persisting stays
    // true meanwhile, so no other Ready starts).
    installSnapshot(this.env, this.storage.snapshotDir, snapshot, this.sm, this.options.snapshotYieldMs ?? 0, () => this.stopped, (err) => {
      if (this.stopped) return;
      if (err !== null) return this.fatal('raft.restore_failed', err);
      this.lastSnapshotIndex = snapshot.meta.index;
      this.bytesSinceSnapshot = 0;
      // The core's own snapshot repairs a state machine just as well.
      if (this.repair !== null && snapshot.meta.index >= this.repair.need) this.repaired();
      this.finishReady(rd);
    });
  }

  /** Steps 3 (entries) to 5 of the Ready contract. */
  private finishReady(rd: Ready): void {
    if (this.logHold !== null && rd.entries.length + (rd.snapshot !== null ? 1 : 0) > 0) this.maybeLiftLogHold();
    this.applyInOrder(rd.committedEntries, Infinity);
    if (rd.readStates.length > 0) this.hooks.onReadStates(rd.readStates);
    this.node.advance(rd);
    this.persisting = false;
    this.hooks.onApplied();
    this.maybeCompact();
    if (this.node.hasReady() || this.sm.hasGathered?.() === true) this.drive();
  }

  private sendAll(messages: readonly Message[]): void {
    if (this.mute !== null) return;
    for (const m of messages) {
      if (m.type !== 'MsgSnap') {
        this.env.net.send(m.to, encodeRaftFrame(m));
        continue;
      }
      this.sendSnapshot(m.to, m.term, m.snapshot);
      // Best effort, as before streaming: report it sent, so the follower's progress leaves the
      // snapshot state and the core probes; until the transfer completes each probe is refused
      // and the core asks again, which finds this transfer under way.
      this.node.reportSnapshot(m.to, true);
    }
  }

  /** Starts streaming a snapshot to a follower, unless that very snapshot is on its way already. */
  private sendSnapshot(to: NodeId, term: number, snapshot: Snapshot): void {
    if (isStateMachineSnapshot(snapshot)) return this.sendOnDemand(to, term, snapshot.meta.index);
    const current = this.senders.get(to);
    if (current !== undefined && current.finished === 'no' && current.index === snapshot.meta.index && current.term === term) return;
    current?.finish('gave up');
    this.senders.delete(to);
    try {
      this.senders.set(to, new SnapshotSender(this.transferDeps, to, term, snapshot, this.transferOptions));
    } catch (err) {
      // A format 1 file (written before snapshots were streamed) cannot be sent in pieces: make a
      // new snapshot now; the core asks again and finds it.
      this.env.log.log('warn', 'raft.snapshot_send_failed', { to, index: snapshot.meta.index, error: (err as Error).message });
      this.maybeCompact(true);
    }
  }

  private forgetFinishedSenders(): void {
    for (const [to, s] of this.senders) if (s.finished !== 'no') this.senders.delete(to);
    this.dropDemandIfUnused();
  }

  /**
   * A follower needs the state at `need` or later, which only the state machine holds (the log
   * was compacted against its durable state): sends the snapshot built on demand if it is new
   * enough, or builds one from a frozen view of the state now (the way etcd's raft asks its
   * application for a snapshot when a follower is behind the log, and TiKV generates one per
   * request). Any snapshot at or past `need` will do: the follower then takes the log from there.
   */
  private sendOnDemand(to: NodeId, term: Term, need: Index): void {
    const current = this.senders.get(to);
    if (current !== undefined && current.finished === 'no' && current.term === term && current.index >= need) return;
    const d = this.demand;
    if (d !== null && d.meta.index >= need) {
      current?.finish('gave up');
      this.senders.delete(to);
      this.senders.set(to, new SnapshotSender(this.transferDeps, to, term, { meta: d.meta, data: encodeSnapshotRef(d.ref) }, this.transferOptions));
      return;
    }
    this.demandWaiting.set(to, term);
    if (this.building) return;
    const applied = this.sm.appliedIndex();
    // The core vouches for the term and membership a snapshot records: it must have applied as far.
    if (applied > this.node.appliedIndex() || applied < need) return;
    const meta = this.node.snapshotMetaAt(applied);
    this.building = true;
    // A leader that lost its term stops: the build (minutes for gigabytes) is of no use to anyone.
    const deposed = () => this.soft.role !== 'leader' || this.node.hardState().term !== term;
    this.buildSnapshotFile(meta, (err, ref) => {
      this.building = false;
      if (this.stopped) return;
      if (deposed()) {
        this.demandWaiting.clear();
        if (ref !== undefined && !this.storage.isPinned(ref.file)) this.env.disk.remove(`${this.storage.snapshotDir}/${ref.file}`);
        return;
      }
      if (err !== null || ref === undefined) {
        // Not fatal: the core asks again at its next probe, and the build starts over.
        this.env.log.log('error', 'raft.snapshot_failed', { index: meta.index, error: (err ?? new Error('no file')).message });
        return;
      }
      this.removeDemand();
      this.demand = { meta, ref };
      // Pinned while the waiting senders start, so that none of them finds it gone.
      this.storage.pinSnapshot(ref.file);
      const waiting = [...this.demandWaiting];
      this.demandWaiting.clear();
      for (const [follower, t] of waiting) {
        if (this.soft.role === 'leader' && this.node.hardState().term === t) this.sendOnDemand(follower, t, 0);
      }
      this.storage.unpinSnapshot(ref.file);
      this.dropDemandIfUnused();
    }, deposed);
  }

  /** Deletes the on-demand snapshot once no transfer needs it (it is not the log's: no record names it). */
  private dropDemandIfUnused(): void {
    const d = this.demand;
    if (d === null || this.storage.isPinned(d.ref.file) || this.demandWaiting.size > 0) return;
    this.removeDemand();
  }

  private removeDemand(): void {
    const d = this.demand;
    if (d === null) return;
    this.demand = null;
    if (this.storage.isPinned(d.ref.file) || decodeSnapshotRef(this.storage.snapshot().data)?.file === d.ref.file) return;
    try {
      this.env.disk.remove(`${this.storage.snapshotDir}/${d.ref.file}`);
    } catch (err) {
      // A leftover file goes at the next compaction (removeOtherSnapshots) or start.
      this.env.log.log('warn', 'raft.snapshot_remove_failed', { file: d.ref.file, error: (err as Error).message });
    }
  }

  /**
   * A complete snapshot file arrived and is durable: the core decides whether to install it,
   * exactly as if the leader had sent the whole snapshot in one MsgSnap.
   */
  private snapshotReceived(from: NodeId, term: number, snapshot: Snapshot): void {
    if (this.stopped) return;
    if (this.repair !== null && snapshot.meta.index >= this.repair.need) return this.installRepair(snapshot);
    // A file the core does not install (an older leader's, or one its log already covers) stays
    // until the next compaction removes it with the other older snapshots: removing it here
    // could race with an install of the same snapshot, whose file has the same name.
    this.node.step({ type: 'MsgSnap', from, to: this.env.id, term, snapshot });
    this.drive();
  }

  private fatal(event: string, err: Error): void {
    if (this.stopped) return;
    this.env.log.log('error', event, { error: err.message });
    this.stopped = true;
    this.hooks.onFatal(err);
  }

  /**
   * Takes a snapshot once enough log has been applied since the last (or at once when forced):
   * the state machine's state is written to a file a block at a time, yielding between blocks, then
   * the log is compacted to it. Applies go on meanwhile; the snapshot is of the state at the
   * index it started from (the state machine's source does not change under it).
   */
  private maybeCompact(force = false): void {
    const durable = this.sm.durableAppliedIndex?.() ?? null;
    if (durable !== null) return this.compactToDurable(durable);
    const applied = this.sm.appliedIndex();
    if (this.building || this.storage.compacting || this.stopped || applied <= this.lastSnapshotIndex) return;
    if (!force && applied - this.lastSnapshotIndex < this.options.snapshotEntries && this.bytesSinceSnapshot < this.options.snapshotBytes) return;
    // A durable state machine can be ahead of the core after a restart: it applied entries whose
    // commit the core has not learnt again yet (the hard state's commit index is written lazily).
    // Its snapshot waits until the core has applied that far too: the core vouches for the term
    // and membership a snapshot records (tiny-bitcask seed 9: a node that crash-looped on it).
    if (applied > this.node.appliedIndex()) return;
    const meta = this.node.snapshotMetaAt(applied);
    const startedMs = this.env.clock.monotonicMs();
    this.building = true;
    this.lastSnapshotIndex = applied;
    this.bytesSinceSnapshot = 0;
    this.buildSnapshotFile(meta, (err, ref, fatal) => {
      if (this.stopped) return;
      if (err !== null || ref === undefined) {
        this.building = false;
        // Not fatal unless the disk failed under a written file: the log stays as it is, and the
        // next trigger tries again (a full disk, say).
        if (fatal !== true) return this.env.log.log('error', 'raft.snapshot_failed', { index: meta.index, error: (err ?? new Error('no file')).message });
        return this.fatal('raft.compaction_failed', err ?? new Error('snapshot file not written'));
      }
      this.storage.compact(meta, ref, { entries: this.options.keepEntries, bytes: this.options.keepBytes }, (e) => {
        this.building = false;
        if (e !== null) return this.fatal('raft.compaction_failed', e);
        this.env.log.log('info', 'raft.compacted', { index: meta.index, term: meta.term, bytes: ref.bytes, buildMs: Math.round(this.env.clock.monotonicMs() - startedMs) });
        this.dropLostMarker();
        this.drive();
      });
    });
  }

  /**
   * Compaction against the state machine's durable state (log mode applied-index, or an engine
   * that makes its writes durable on a flush): the log is compacted to the durable applied index,
   * never past it, as soon as that moves (a COMPACT record: no state is written); once the log
   * since the last compaction passes snapshotEntries or snapshotBytes, the state machine is asked
   * to make its state durable, which moves it.
   */
  private compactToDurable(durable: Index): void {
    if (this.storage.compacting || this.stopped) return;
    const target = Math.min(durable, this.node.appliedIndex(), this.sm.appliedIndex());
    if (target > this.storage.snapshot().meta.index) {
      const meta = this.node.snapshotMetaAt(target);
      this.storage.compactApplied(meta, { entries: this.options.keepEntries, bytes: this.options.keepBytes }, (e) => {
        if (e !== null) return this.fatal('raft.compaction_failed', e);
        this.env.log.log('debug', 'raft.compacted', { index: meta.index, term: meta.term, against: 'durable' });
        this.dropLostMarker();
        this.drive();
      });
      this.lastSnapshotIndex = target;
      // What a restart would replay now: the applied entries past the compaction.
      this.bytesSinceSnapshot = 0;
      const hi = Math.min(this.storage.lastIndex(), this.sm.appliedIndex()) + 1;
      if (target + 1 < hi) for (const e of this.storage.entries(target + 1, hi, Infinity)) this.bytesSinceSnapshot += e.data.length;
      return;
    }
    const applied = this.sm.appliedIndex();
    const due = applied - this.lastSnapshotIndex >= this.options.snapshotEntries || this.bytesSinceSnapshot >= this.options.snapshotBytes;
    if (!due || this.makingDurable || this.sm.makeDurable === undefined || durable >= applied) return;
    this.makingDurable = true;
    this.sm.makeDurable((err) => {
      this.makingDurable = false;
      if (this.stopped) return;
      if (err !== null) return this.fatal('raft.compaction_failed', err);
      // Only if the sync made progress: one that answered at once without it would be asked
      // again in the same call stack, forever (an LSM whose stalled writes it did not wait for).
      const now = this.sm.durableAppliedIndex?.() ?? null;
      assert(now !== null && now >= durable, () => `the state machine's durable applied index went back from ${durable} to ${now}`);
      if (now > durable) this.maybeCompact();
      else if (this.idleDurable !== durable) {
        // Once per durable index, not once per Ready: a store that stays stuck says so once.
        this.idleDurable = durable;
        this.env.log.log('warn', 'raft.make_durable_idle', { durable, applied: this.sm.appliedIndex() });
      }
    });
  }

  /**
   * Writes the state machine's state at meta.index (its snapshotSource) to a snapshot file, a
   * block per event-loop turn, fsynced every syncBytes; done with the durable file's reference.
   * An error is `fatal` when an fsync or the final rename failed (what was written may never reach
   * the disk); one in creating the file or reading the state is not.
   */
  private buildSnapshotFile(meta: SnapshotMeta, done: (err: Error | null, ref?: SnapshotRef, fatal?: boolean) => void, cancelled: () => boolean = () => false): void {
    let writer: SnapshotFileWriter;
    try {
      writer = SnapshotFileWriter.create(this.env.disk, this.storage.snapshotDir, meta.index, meta.term);
    } catch (err) {
      return done(err as Error);
    }
    const source = this.sm.snapshotSource();
    const fail = (err: Error) => {
      source.release();
      writer.abort();
      done(err);
    };
    const step = () => {
      if (this.stopped || cancelled()) {
        source.release();
        writer.abort();
        if (!this.stopped) done(new Error('cancelled'));
        return;
      }
      let block: Uint8Array | null;
      try {
        block = source.next();
        if (block !== null) writer.addBlock(block);
      } catch (err) {
        return fail(err as Error);
      }
      if (block !== null) {
        if (writer.unsyncedBytes < this.transferOptions.syncBytes) return this.yieldThen(step);
        return writer.sync((err) => {
          if (err === null) return this.yieldThen(step);
          source.release();
          writer.abort();
          done(err, undefined, true);
        });
      }
      source.release();
      writer.finish(meta, (err, ref) => done(err, ref, err !== null));
    };
    this.yieldThen(step);
  }

  private yieldThen(fn: () => void): void {
    yieldThen(this.env, this.options.snapshotYieldMs ?? 0, fn);
  }

  walStats(): { segments: number; diskBytes: number; fsyncs: number } {
    return this.storage.walStats();
  }

  // ---- protocol-aware recovery of the state machine (README.md) ----

  /** What this member is repairing or holding back after corruption; null when nothing. */
  recovery(): RecoveryStatus | null {
    const out: RecoveryStatus = {};
    const r = this.repair;
    if (r !== null) out.stateMachine = { need: r.need, applied: this.sm.appliedIndex(), why: r.why, installing: r.installing };
    if (this.logHold !== null) out.votesHeld = { throughTerm: this.logHold.votesThroughTerm, at: this.logHold.at, reason: this.logHold.reason };
    if (this.mute !== null) out.mute = this.mute;
    if (Object.keys(out).length === 0) return null;
    if (this.leaderlessTicks >= REPAIR_STALL_TICKS) out.stalledMs = this.leaderlessTicks * this.options.tickMs;
    return out;
  }

  /** Whether the state machine is being repaired from the group (it applies nothing meanwhile). */
  get repairing(): boolean {
    return this.repair !== null;
  }

  private startRepair(need: Index, why: string): void {
    assert(this.sm.appliedIndex() < need, () => `repairing a state machine at ${this.sm.appliedIndex()} that holds ${need}`);
    this.repair = { need, why, ticks: REPAIR_ASK_TICKS, installing: false, installingIndex: 0, leaderlessTicks: 0 };
    this.applyHolds();
    this.env.log.log('error', 'raft.repair_needed', { need, applied: this.sm.appliedIndex(), why });
    this.hooks.onRepair?.('needed', { what: 'state-machine', need, applied: this.sm.appliedIndex(), why });
  }

  /**
   * Every REPAIR_ASK_TICKS while repairing and no snapshot is arriving: asks the leader this
   * member follows for a snapshot at `need` or later. Only a leader answers (receiveRepair), in
   * its own term: a snapshot of its applied, hence committed, state.
   */
  private askForRepair(): void {
    const r = this.repair;
    if (r === null) return;
    const leaderless = this.soft.leader === null;
    const wasHeld = r.leaderlessTicks < REPAIR_LEADERLESS_TICKS;
    r.leaderlessTicks = leaderless ? r.leaderlessTicks + 1 : 0;
    if (wasHeld !== r.leaderlessTicks < REPAIR_LEADERLESS_TICKS) this.applyHolds();
    // Said again, loudly, while nothing comes of it: when every member lost its state machine
    // (or a majority their logs), the state below `need` may have no intact copy anywhere.
    if (r.leaderlessTicks > 0 && r.leaderlessTicks % REPAIR_STALL_TICKS === 0) {
      this.env.log.log('error', 'raft.repair_stalled', { need: r.need, why: r.why, leaderlessTicks: r.leaderlessTicks, meaning: `no leader to repair from: if no member holds the state up to ${r.need}, it is lost (data loss) and the group cannot serve; an operator must restore it from a backup or the quarantined files` });
    }
    if (this.soft.role === 'leader') return this.leadWhileRepairing();
    const leader = this.soft.leader;
    // A snapshot on its way from the leader is the answer. One from a member that no longer leads
    // is not: it stopped sending when it stepped down, and its partial file would otherwise keep
    // the repair from asking anyone for idleMs (shards/rot seed 58: two minutes).
    if (r.installing || (this.receiver.progress() !== null && this.receiver.receivingFrom() === leader)) return;
    if (++r.ticks < REPAIR_ASK_TICKS) return;
    if (leader === null || leader === this.env.id) return;
    r.ticks = 0;
    const body: RepairRequest = { kind: 'repair', term: this.node.hardState().term, need: r.need };
    this.env.net.send(leader, new TextEncoder().encode(JSON.stringify(body)));
  }

  /**
   * Leading with a state machine under repair (elected because no one else could be): it can
   * neither apply nor serve, so it hands leadership to another voter — which its appends bring up
   * to date first (thesis §3.10) — and then repairs from it. Not to a voter that is repairing too
   * (it asked us for a snapshot lately: it would not campaign), and one target at a time: a
   * handover that has not happened within two election timeouts (the target could not catch up,
   * say, for it needs a snapshot this leader cannot build) moves on to the next voter, the most
   * up to date first, round and round. Asked again and again of the same one, it left the group
   * without a serving leader for good (raft/rot-lsm seed 80, raft/rot-bitcask seed 50).
   */
  private leadWhileRepairing(): void {
    const term = this.node.hardState().term;
    const now = this.env.clock.monotonicMs();
    if (this.handOver === null || this.handOver.term !== term) this.handOver = { term, tried: new Set(), target: null, sinceMs: now };
    const h = this.handOver;
    const waitMs = 2 * this.options.raft.electionTicks * this.options.tickMs;
    if (h.target !== null && now - h.sinceMs < waitMs) {
      this.node.transferLeadership(h.target);
      return this.drive();
    }
    if (h.target !== null) h.tried.add(h.target);
    const voters = this.node.membership().voters;
    const matches = this.node.matchIndexes();
    const repairingLately = (v: NodeId) => now - (this.repairAsks.get(v) ?? -Infinity) <= 3 * REPAIR_ASK_TICKS * this.options.tickMs;
    const open = voters.filter((v) => v !== this.env.id && !repairingLately(v));
    if (open.every((v) => h.tried.has(v))) h.tried.clear();
    let best: NodeId | null = null;
    for (const v of open) {
      if (h.tried.has(v)) continue;
      if (best === null || (matches.get(v) ?? 0) > (matches.get(best) ?? 0)) best = v;
    }
    h.target = best;
    h.sinceMs = now;
    if (best === null) return;
    this.env.log.log('info', 'raft.hand_over_while_repairing', { to: best, term, tried: [...h.tried].sort() });
    this.node.transferLeadership(best);
    this.drive();
  }

  /** A follower's request for a snapshot to repair its state machine (askForRepair). */
  receiveRepair(from: NodeId, body: Record<string, unknown>): void {
    if (this.stopped) return;
    const term = body.term;
    const need = body.need;
    const laterTerm = body.laterTerm === true;
    if (!Number.isSafeInteger(term) || !Number.isSafeInteger(need) || (need as number) < (laterTerm ? 0 : 1)) return this.env.log.log('warn', 'raft.bad_message', { from, why: 'a malformed repair request' });
    if (this.soft.role !== 'leader' || term !== this.node.hardState().term || from === this.env.id) return;
    const members = this.node.membership();
    if (!members.voters.includes(from) && !members.learners.includes(from)) return;
    if (laterTerm) return this.handOverForLaterTerm(from, members.voters);
    this.repairAsks.set(from, this.env.clock.monotonicMs());
    this.env.log.log('info', 'raft.repair_asked', { from, need });
    this.sendOnDemand(from, term as Term, need as Index);
  }

  /** Installs a snapshot received for the repair, holding the Ready slot meanwhile (no Ready runs). */
  private installRepair(snapshot: Snapshot): void {
    const r = this.repair;
    assert(r !== null && snapshot.meta.index >= r.need, 'a repairing snapshot covers what was lost');
    const file = decodeSnapshotRef(snapshot.data)?.file ?? null;
    // A Ready under way holds the state machine: the leader's next snapshot will do.
    if (this.persisting || r.installing) return this.dropReceived(file);
    r.installing = true;
    r.installingIndex = snapshot.meta.index;
    this.persisting = true;
    this.readyPhase = 'install';
    this.readyStartedMs = this.env.clock.monotonicMs();
    this.readySlowLogged = false;
    const finish = (err: Error | null) => {
      if (this.stopped) return;
      this.persisting = false;
      r.installing = false;
      this.dropReceived(file);
      if (err !== null) return this.fatal('raft.restore_failed', err);
      this.repaired();
      // The entries the core handed meanwhile past the snapshot, from the log.
      const hi = Math.min(this.node.appliedIndex(), this.durableLastIndex);
      const lo = this.sm.appliedIndex() + 1;
      if (lo <= hi && this.applyInOrder(this.storage.entries(lo, hi + 1, Infinity), Infinity)) this.hooks.onApplied();
      this.drive();
    };
    installSnapshot(this.env, this.storage.snapshotDir, snapshot, this.sm, this.options.snapshotYieldMs ?? 0, () => this.stopped, (err) => {
      if (this.stopped) return;
      // Nothing in the log names this snapshot, and its file goes once installed: a state machine
      // that holds its writes in memory until a flush (the LSM in log mode applied-index) makes it
      // durable first, or a crash would lose the repair with no copy left here to install again.
      // (txn/cross-shard-rot seed 67: each member of a shard was repaired in turn, none flushed,
      // and the final power cycle left all three needing a repair that none could give.)
      if (err !== null || this.sm.makeDurable === undefined || (this.sm.durableAppliedIndex?.() ?? null) === null) return finish(err);
      this.sm.makeDurable(finish);
    });
  }

  private repaired(): void {
    const r = this.repair;
    if (r === null) return;
    this.repair = null;
    this.repairs++;
    this.applyHolds();
    this.env.log.log('info', 'raft.repaired', { need: r.need, applied: this.sm.appliedIndex(), why: r.why });
    this.hooks.onRepair?.('repaired', { what: 'state-machine', need: r.need, applied: this.sm.appliedIndex(), why: r.why });
  }

  /** The core's recovery holds, from what is being repaired (state machine, log) or lost for good. */
  private applyHolds(): void {
    // A repairing member stands for election only when the group has had no leader for long: its
    // log may be the one the others need to elect anyone (they refuse a shorter log), and as
    // leader it hands over at once (leadWhileRepairing).
    const repairHold = this.repair !== null && this.repair.leaderlessTicks < REPAIR_LEADERLESS_TICKS;
    this.node.setRecoveryHolds({
      campaign: repairHold || this.mute !== null,
      votesThroughTerm: this.mute !== null ? Number.MAX_SAFE_INTEGER : this.logHold?.votesThroughTerm ?? null,
    });
  }

  private holdVotes(loss: LogLoss): void {
    this.logHold = loss;
    this.applyHolds();
    this.env.log.log('error', 'raft.votes_held', { at: loss.at, reason: loss.reason, throughTerm: loss.votesThroughTerm, lastIndex: this.storage.lastIndex() });
    this.hooks.onRepair?.('needed', { what: 'log', need: this.storage.lastIndex(), applied: this.sm.appliedIndex(), why: `log cut at ${loss.at} (${loss.reason}): no vote until an entry of a term above ${loss.votesThroughTerm}` });
    this.maybeLiftLogHold();
  }

  private muteForEver(why: string): void {
    this.mute = why;
    this.applyHolds();
    this.env.log.log('error', 'raft.hard_state_lost', { why, action: 'this member sends nothing; replace it (remove it from the group and add a new one)' });
    this.hooks.onRepair?.('needed', { what: 'hard-state', need: this.storage.lastIndex(), applied: this.sm.appliedIndex(), why: `hard state lost (${why}): mute for ever` });
  }

  /**
   * Once the log holds an entry of a term above the held one (durably: called after a Ready is
   * persisted, and at start), the hold lifts: the marker goes and the log is whole again.
   */
  private maybeLiftLogHold(): void {
    const hold = this.logHold;
    if (hold === null || this.node.votesHeld()) return;
    this.logHold = null;
    this.applyHolds();
    try {
      const marker = `${this.options.dir}/${LOG_LOST_MARKER}`;
      if (this.env.disk.exists(marker)) this.env.disk.remove(marker);
      // Not waited for: a marker that comes back after a crash holds votes until the same entry is
      // seen again (it is in the log), which lifts it at once.
      this.env.disk.syncDir(this.options.dir, () => {});
    } catch (err) {
      this.env.log.log('warn', 'raft.marker_remove_failed', { error: (err as Error).message });
    }
    this.env.log.log('info', 'raft.votes_released', { throughTerm: hold.votesThroughTerm, lastIndex: this.storage.lastIndex() });
    this.hooks.onRepair?.('repaired', { what: 'log', need: this.storage.lastIndex(), applied: this.sm.appliedIndex(), why: `log cut at ${hold.at}: holds an entry of a later term` });
  }

  /**
   * A member holding its votes whose leader is of a term no later than the held one would wait
   * for the next election to be whole again: every REPAIR_ASK_TICKS it asks the leader for a
   * later term (handOverForLaterTerm).
   */
  private askForLaterTerm(): void {
    const hold = this.logHold;
    if (hold === null || this.mute !== null) return;
    if (++this.logHoldTicks < REPAIR_ASK_TICKS) return;
    const leader = this.soft.leader;
    const term = this.node.hardState().term;
    if (leader === null || leader === this.env.id || term > hold.votesThroughTerm) return;
    this.logHoldTicks = 0;
    const body: RepairRequest = { kind: 'repair', term, need: 0, laterTerm: true };
    this.env.net.send(leader, new TextEncoder().encode(JSON.stringify(body)));
  }

  /**
   * A follower whose log was cut asks for a term above ours: this leader hands leadership to the
   * most up-to-date other voter (thesis §3.10), whose first entry as leader is of a later term.
   * One leadership change per cut log; none while another transfer is under way.
   */
  private handOverForLaterTerm(from: NodeId, voters: readonly NodeId[]): void {
    const matches = this.node.matchIndexes();
    let best: NodeId | null = null;
    for (const v of voters) {
      if (v === from || v === this.env.id) continue;
      if (best === null || (matches.get(v) ?? 0) > (matches.get(best) ?? 0)) best = v;
    }
    if (best === null) return;
    this.env.log.log('info', 'raft.hand_over_for_later_term', { from, to: best, term: this.node.hardState().term });
    this.node.transferLeadership(best);
    this.drive();
  }

  /** A received snapshot file not named by the log is removed (unless the log's or a transfer's). */
  private dropReceived(file: string | null): void {
    if (file === null || this.storage.isPinned(file) || decodeSnapshotRef(this.storage.snapshot().data)?.file === file) return;
    try {
      this.env.disk.remove(`${this.storage.snapshotDir}/${file}`);
    } catch (err) {
      this.env.log.log('warn', 'raft.snapshot_remove_failed', { file, error: (err as Error).message });
    }
  }

  /** After a compaction made past a repair: the state machine holds again what the log does not. */
  private dropLostMarker(): void {
    if (!this.lostMarker || this.repair !== null) return;
    if (this.storage.snapshot().meta.index > this.sm.appliedIndex()) return;
    this.lostMarker = false;
    const path = `${this.options.dir}/${STATE_MACHINE_LOST_MARKER}`;
    try {
      if (this.env.disk.exists(path)) this.env.disk.remove(path);
    } catch (err) {
      this.env.log.log('warn', 'raft.marker_remove_failed', { path, error: (err as Error).message });
    }
  }
}

/** A repairing follower's request to its leader (askForRepair, askForLaterTerm). */
interface RepairRequest {
  kind: 'repair';
  term: Term;
  need: Index;
  /** The log's repair: the follower needs an entry of a term above the leader's (askForLaterTerm). */
  laterTerm?: true;
}

/**
 * Marks the state machine lost (when `why` is not null: it lacks state the log was compacted
 * past), then moves `files` to quarantine — in that order, so that a crash in between finds the
 * marker and repairs rather than failing.
 */
function loseStateMachine(env: Env, dir: string, why: string | null, files: readonly string[], done: (err: Error | null) => void): void {
  const moveAside = () =>
    quarantine(env.disk, 'snapshot', files.filter((f) => env.disk.exists(f)), (err, where) => {
      if (err === null) env.log.log('error', 'raft.quarantined', { files, to: where ?? null });
      done(err);
    });
  if (why === null) return moveAside();
  markStateMachineLost(env, dir, why, (err) => (err !== null ? done(err) : moveAside()));
}

function yieldThen(env: Env, delayMs: number, fn: () => void): void {
  if (delayMs > 0) env.clock.timer(delayMs, fn);
  else env.clock.defer(fn);
}

/**
 * Rebuilds the state machine from a snapshot's file: clears it, feeds it the file's blocks in
 * order (each verified), yielding between blocks, then has it record the snapshot's index.
 * `stopped` ends it early (the node stopped; the next start installs again).
 */
function installSnapshot(env: Env, snapDir: string, snapshot: Snapshot, sm: RaftStateMachine, yieldMs: number, stopped: () => boolean, done: (err: Error | null) => void): void {
  let reader: SnapshotFileReader;
  try {
    const ref = decodeSnapshotRef(snapshot.data);
    assert(ref !== null, () => `installing snapshot ${snapshot.meta.index} without a file`);
    reader = SnapshotFileReader.open(env.disk, snapDir, ref.file);
    assert(reader.meta.index === snapshot.meta.index && reader.meta.term === snapshot.meta.term, () => `${ref.file} holds ${reader.meta.index}/${reader.meta.term}, not ${snapshot.meta.index}/${snapshot.meta.term}`);
  } catch (err) {
    return done(err as Error);
  }
  const end = (err: Error | null) => {
    reader.close();
    done(err);
  };
  env.log.log('info', 'raft.restore_start', { index: snapshot.meta.index, bytes: reader.bytes });
  sm.beginRestore(snapshot.meta, (err, installer) => {
    if (err !== null || installer === undefined) return end(err ?? new Error('restore did not begin'));
    const step = () => {
      if (stopped()) return reader.close();
      let block: Uint8Array | null;
      try {
        block = reader.nextBlock();
      } catch (e) {
        return end(e as Error);
      }
      if (block === null) {
        return installer.finish((e) => {
          env.log.log('info', 'raft.restore_done', { index: snapshot.meta.index });
          end(e);
        });
      }
      installer.block(block, (e) => (e !== null ? end(e) : yieldThen(env, yieldMs, step)));
    };
    step();
  });
}

/** The Raft message in a decoded peer frame ({kind: 'raft', m}); null if it is not one. */
export function decodeRaftFrame(decoded: unknown): Message | null {
  const body = decoded as { kind?: unknown; m?: unknown } | null;
  if (typeof body !== 'object' || body === null || body.kind !== 'raft') return null;
  return raftMessageFromWire(body);
}
