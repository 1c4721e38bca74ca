import type { Env } from '../../env/env.js';
import type { Timer } from '../../env/clock.js';
import type { EngineDeps } from '../../storage/engine.js';
import { assert } from '../../util/assert.js';
import { failpoint } from '../../util/failpoints.js';
import { encodeRaftFrame, raftMessageFromWire } from './codec.js';
import { describeMessage, type Message } from '../raft/messages.js';
import { RaftNode } from '../raft/node.js';
import type { RaftOptions } from '../raft/options.js';
import type { Ready } from '../raft/ready.js';
import type { Entry, Index, Membership, ReadState, Snapshot, SoftState } from '../raft/types.js';
import { DurableRaftStorage } from './durable-storage.js';

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
  /** The state machine's whole state at appliedIndex(), for a snapshot. */
  encodeSnapshot(): Uint8Array;
  /** Replaces the whole state by a snapshot's. */
  restore(snapshot: Snapshot): void;
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
  /** Where the log lives on the node's disk. */
  dir: string;
}

export class RaftRuntime {
  private readonly node: RaftNode;
  private tickTimer: Timer | null = null;
  private persisting = false;
  private driveQueued = false;
  private stopped = false;
  private lastSnapshotIndex: Index;
  /**
   * Data bytes of the entries applied since the last snapshot. An entry batches up to a hundred
   * requests, so a count of entries alone let the log held in memory (and replayed at a restart)
   * grow to gigabytes under sustained load before it was compacted.
   */
  private bytesSinceSnapshot = 0;
  soft: SoftState;

  private constructor(
    private readonly env: Env,
    private readonly options: RaftRuntimeOptions,
    private readonly storage: DurableRaftStorage,
    private readonly sm: RaftStateMachine,
    private readonly hooks: RaftRuntimeHooks,
  ) {
    this.node = new RaftNode({ id: env.id, storage, rng: env.rng.fork('raft'), options: options.raft });
    this.soft = this.node.softState();
    this.lastSnapshotIndex = storage.snapshot().meta.index;
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
    DurableRaftStorage.open(deps, { dir: options.dir, skipFsync: options.skipLogFsync, wal }, options.bootstrap, (err, storage, report) => {
      if (err !== null || storage === undefined) return done(err ?? new Error('raft log did not open'));
      const snap = storage.snapshot();
      // A state machine that lost more than the log keeps (the memory engine always does) starts
      // again from the snapshot; the core then hands it every committed entry after that.
      if (sm.appliedIndex() < snap.meta.index) sm.restore(snap);
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
      rt.scheduleTick();
      rt.drive();
      done(null, rt);
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
    this.node.step(m);
    this.drive();
  }

  /** Schedules a pass over the core's output (coalesced: many inputs, one Ready). */
  drive(): void {
    if (this.driveQueued || this.stopped) return;
    this.driveQueued = true;
    this.env.clock.defer(() => {
      this.driveQueued = false;
      this.process();
    });
  }

  stop(): void {
    this.stopped = true;
    this.tickTimer?.cancel();
    this.storage.close(() => {});
  }

  private scheduleTick(): void {
    this.tickTimer = this.env.clock.timer(this.options.tickMs, () => {
      if (this.stopped) return;
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
      this.hooks.onSoftState(rd.softState);
    }
    this.persisting = true;
    let persisted = false;
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
      this.carryOut(rd);
    });
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
    for (const e of entries) {
      if (e.index >= below) break;
      // After a restart the core hands again entries a durable state machine already holds.
      if (e.index <= this.sm.appliedIndex()) continue;
      assert(e.index === this.sm.appliedIndex() + 1, () => `applying entry ${e.index} after ${this.sm.appliedIndex()}: a gap`);
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
    if (rd.snapshot !== null) {
      this.sm.restore(rd.snapshot);
      this.lastSnapshotIndex = rd.snapshot.meta.index;
      this.bytesSinceSnapshot = 0;
    }
    this.applyInOrder(rd.committedEntries, Infinity);
    if (rd.readStates.length > 0) this.hooks.onReadStates(rd.readStates);
    this.node.advance(rd);
    this.persisting = false;
    this.hooks.onApplied();
    this.maybeCompact();
    if (this.node.hasReady() || this.sm.hasGathered?.() === true) this.drive();
  }

  private sendAll(messages: readonly Message[]): void {
    for (const m of messages) {
      this.env.net.send(m.to, encodeRaftFrame(m));
      // The Net is best effort: a lost snapshot shows up as a follower still behind, and the core
      // probes again; report it sent so the follower's progress leaves the snapshot state.
      if (m.type === 'MsgSnap') this.node.reportSnapshot(m.to, true);
    }
  }

  private maybeCompact(): void {
    const applied = this.sm.appliedIndex();
    if (this.storage.compacting || applied <= this.lastSnapshotIndex) return;
    if (applied - this.lastSnapshotIndex < this.options.snapshotEntries && this.bytesSinceSnapshot < this.options.snapshotBytes) return;
    const meta = this.node.snapshotMetaAt(applied);
    const data = this.sm.encodeSnapshot();
    this.lastSnapshotIndex = applied;
    this.bytesSinceSnapshot = 0;
    this.storage.compact(meta, data, { entries: this.options.keepEntries, bytes: this.options.keepBytes }, (err) => {
      if (err !== null && !this.stopped) {
        this.env.log.log('error', 'raft.compaction_failed', { error: err.message });
        this.stopped = true;
        this.hooks.onFatal(err);
        return;
      }
      this.env.log.log('info', 'raft.compacted', { index: meta.index, term: meta.term, bytes: data.length });
      this.drive();
    });
  }

  walStats(): { segments: number; diskBytes: number; fsyncs: number } {
    return this.storage.walStats();
  }
}

/** The Raft message in a decoded peer frame ({kind: 'raft', m}); null if it is not one. */
export function decodeRaftFrame(decoded: unknown): Message | null {
  const body = decoded as { kind?: unknown; m?: unknown };
  if (body.kind !== 'raft') return null;
  return raftMessageFromWire(body);
}
