/**
 * A small deterministic cluster of pure Raft nodes for tests: a message pool the test delivers
 * from (in any order, or drops, or duplicates), partitions, crashes that reset a node to its
 * storage (what it persisted), and the safety observers after every step.
 *
 * Each node's "runtime" here carries out every Ready at once and in full (ready.ts), except
 * where a crash is asked to land in the middle of one.
 */
import { SeededRng, type Rng } from '../../../src/env/rng.js';
import type { ConfChange } from '../../../src/replication/raft/confchange.js';
import { entryDigest } from '../../../src/replication/raft/digest.js';
import { MemoryRaftStorage } from '../../../src/replication/raft/memory-storage.js';
import { describeMessage, type Message } from '../../../src/replication/raft/messages.js';
import { RaftNode, type RaftDebugState } from '../../../src/replication/raft/node.js';
import { RaftSafetyMonitor } from '../../../src/replication/raft/observers.js';
import { DEFAULT_RAFT_OPTIONS, type RaftOptions } from '../../../src/replication/raft/options.js';
import type { Ready } from '../../../src/replication/raft/ready.js';
import type { ProposeResult, ReadIndexResult, TransferResult } from '../../../src/replication/raft/results.js';
import type { Entry, NodeId, ReadState } from '../../../src/replication/raft/types.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/** The application: a list of the commands applied, in order. Its snapshot is that list. */
export class App {
  commands: string[] = [];
  appliedIndex = 0;

  restore(data: Uint8Array, index: number): void {
    this.commands = data.length === 0 ? [] : (JSON.parse(decoder.decode(data)) as string[]);
    this.appliedIndex = index;
  }

  apply(e: Entry): void {
    if (e.index !== this.appliedIndex + 1) throw new Error(`applied ${e.index} after ${this.appliedIndex}`);
    this.appliedIndex = e.index;
    if (e.type === 'normal' && e.data.length > 0) this.commands.push(decoder.decode(e.data));
  }

  snapshotData(): Uint8Array {
    return encoder.encode(JSON.stringify(this.commands));
  }
}

export interface Peer {
  readonly id: NodeId;
  storage: MemoryRaftStorage;
  node: RaftNode | null;
  app: App;
  /** Crash in the middle of the next Ready this node carries out (see crashAtNextReady). */
  crashArmed: 'beforePersist' | 'afterPersist' | null;
  /** Read states this node produced, in order. */
  readonly reads: ReadState[];
}

export type CrashPoint = 'idle' | 'beforePersist' | 'afterPersist';

export interface ClusterInit {
  readonly voters: readonly NodeId[];
  /** Nodes that start with an empty log (to be added by a membership change). */
  readonly joiners?: readonly NodeId[];
  readonly seed: string;
  readonly options?: RaftOptions;
  /** Storages to start some nodes from instead of a fresh bootstrap. */
  readonly storages?: Readonly<Record<NodeId, MemoryRaftStorage>>;
  /** Run the safety observers after every step (default true). */
  readonly observe?: boolean;
}

/** A step limit for stabilize(): a cluster that keeps talking this long is livelocked. */
const STABILIZE_ROUNDS_MAX = 10_000;
const TRACE_LINES_MAX = 400;

export class Cluster {
  readonly peers = new Map<NodeId, Peer>();
  readonly ids: NodeId[];
  /** Messages sent and not yet delivered or dropped. */
  inflight: Message[] = [];
  readonly monitor = new RaftSafetyMonitor();
  readonly trace: string[] = [];
  private readonly cut = new Set<string>();
  private readonly rootRng: Rng;
  private steps = 0;
  private readonly observeEachStep: boolean;
  private readonly options: RaftOptions;
  private readCounter = 0;
  private commandCounter = 0;
  /** How many messages of each type were delivered: what a schedule exercised. */
  readonly delivered = new Map<string, number>();
  private restarts = new Map<NodeId, number>();

  constructor(init: ClusterInit) {
    this.rootRng = new SeededRng(init.seed);
    this.options = init.options ?? DEFAULT_RAFT_OPTIONS;
    this.observeEachStep = init.observe ?? true;
    this.ids = [...init.voters, ...(init.joiners ?? [])];
    for (const id of init.voters) this.addPeer(id, init.storages?.[id] ?? MemoryRaftStorage.bootstrap(init.voters));
    for (const id of init.joiners ?? []) this.addPeer(id, new MemoryRaftStorage());
    this.processReadys(); // each node's first Ready: the bootstrap entry to apply
  }

  private addPeer(id: NodeId, storage: MemoryRaftStorage): void {
    const peer: Peer = { id, storage, node: null, app: new App(), reads: [], crashArmed: null };
    this.peers.set(id, peer);
    this.start(peer);
  }

  private start(peer: Peer): void {
    const n = (this.restarts.get(peer.id) ?? 0) + 1;
    this.restarts.set(peer.id, n);
    peer.node = new RaftNode({ id: peer.id, storage: peer.storage, rng: this.rootRng.fork(`${peer.id}#${n}`), options: this.options });
    const snap = peer.storage.snapshot();
    peer.app = new App();
    peer.app.restore(snap.data, snap.meta.index);
  }

  /** A fresh command text, unique within this cluster (and the same in every replay). */
  nextCommand(): string {
    this.commandCounter += 1;
    return `v${this.commandCounter}`;
  }

  peer(id: NodeId): Peer {
    const p = this.peers.get(id);
    if (p === undefined) throw new Error(`no node ${id}`);
    return p;
  }

  node(id: NodeId): RaftNode {
    const n = this.peer(id).node;
    if (n === null) throw new Error(`node ${id} is down`);
    return n;
  }

  isUp(id: NodeId): boolean {
    return this.peer(id).node !== null;
  }

  // ---------------------------------------------------------------- the runtime

  /** Carries out every pending Ready of every live node, until none is left. */
  processReadys(): void {
    for (let round = 0; ; round++) {
      if (round > STABILIZE_ROUNDS_MAX) throw new Error('Ready loop does not settle');
      let any = false;
      for (const id of this.ids) {
        const peer = this.peer(id);
        if (peer.node !== null && peer.node.hasReady()) {
          any = true;
          this.carryOut(peer, peer.node.ready());
        }
      }
      if (!any) return;
    }
  }

  private carryOut(peer: Peer, rd: Ready): void {
    const node = peer.node as RaftNode;
    this.inflight.push(...rd.earlyMessages);
    if (peer.crashArmed !== null) {
      this.trace.push(`   ${peer.id} crashes ${peer.crashArmed === 'beforePersist' ? 'before persisting' : 'after persisting'} a Ready`);
      if (peer.crashArmed === 'afterPersist') this.persist(peer, rd);
      peer.crashArmed = null;
      peer.node = null;
      return;
    }
    this.persist(peer, rd);
    this.inflight.push(...rd.messages);
    if (rd.snapshot !== null) peer.app.restore(rd.snapshot.data, rd.snapshot.meta.index);
    for (const e of rd.committedEntries) {
      peer.app.apply(e);
      if (this.observeEachStep) this.monitor.observeApply(peer.id, { index: e.index, term: e.term, digest: entryDigest(e) }, this.stepName());
    }
    for (const rs of rd.readStates) {
      peer.reads.push(rs);
      if (this.observeEachStep) this.monitor.readAnswered(peer.id, rs, this.stepName());
    }
    node.advance(rd);
  }

  private persist(peer: Peer, rd: Ready): void {
    if (rd.snapshot !== null) peer.storage.applySnapshot(rd.snapshot);
    peer.storage.append(rd.entries);
    if (rd.hardState !== null) peer.storage.setHardState(rd.hardState);
  }

  // ---------------------------------------------------------------- steps

  private stepName(): string {
    return `step ${this.steps}`;
  }

  private record(line: string): void {
    this.steps += 1;
    this.trace.push(`${this.steps}: ${line}`);
    if (this.trace.length > TRACE_LINES_MAX) this.trace.shift();
  }

  /** Runs the Readys the step produced, then the observers. */
  private settle(): void {
    this.processReadys();
    if (this.observeEachStep) this.observe();
  }

  observe(): void {
    this.monitor.observe(this.debugStates(), `${this.stepName()} (${this.trace[this.trace.length - 1] ?? 'start'})`);
  }

  /** Every node's picture; a down node's is what it would restart from. */
  debugStates(): RaftDebugState[] {
    return this.ids.map((id) => {
      const p = this.peer(id);
      if (p.node !== null) return p.node.debugState();
      return new RaftNode({ id, storage: p.storage, rng: new SeededRng('debug'), options: this.options }).debugState();
    });
  }

  tick(id: NodeId, times = 1): void {
    for (let i = 0; i < times; i++) {
      const n = this.peer(id).node;
      if (n === null) return;
      this.record(`tick ${id}`);
      n.tick();
      this.settle();
    }
  }

  tickAll(times = 1): void {
    for (let i = 0; i < times; i++) {
      this.record('tick all');
      for (const id of this.ids) this.peer(id).node?.tick();
      this.settle();
    }
  }

  /**
   * Delivers (or loses, if the link is cut or the receiver down) the k-th message in flight.
   * Returns what happened, as the trace says it.
   */
  deliver(k: number): string {
    const [m] = this.inflight.splice(k, 1);
    if (m === undefined) return 'nothing to deliver';
    const to = this.peer(m.to);
    if (to.node === null || this.cut.has(`${m.from}|${m.to}`)) {
      this.record(`lost ${describeMessage(m)}`);
      return `lost ${describeMessage(m)}`;
    }
    this.record(`deliver ${describeMessage(m)}`);
    this.delivered.set(m.type, (this.delivered.get(m.type) ?? 0) + 1);
    to.node.step(m);
    this.settle();
    return `deliver ${describeMessage(m)}`;
  }

  drop(k: number): void {
    const [m] = this.inflight.splice(k, 1);
    if (m !== undefined) this.record(`drop ${describeMessage(m)}`);
  }

  duplicate(k: number): void {
    const m = this.inflight[k];
    if (m === undefined) return;
    this.record(`duplicate ${describeMessage(m)}`);
    this.inflight.push(m);
  }

  /** Drops every message in flight for which `match` holds. */
  dropWhere(match: (m: Message) => boolean): void {
    for (let k = this.inflight.length - 1; k >= 0; k--) if (match(this.inflight[k] as Message)) this.drop(k);
  }

  /** Delivers messages matching `match` (and those they cause that match) until none is left. */
  stabilizeWhere(match: (m: Message) => boolean): void {
    for (let i = 0; ; i++) {
      if (i > STABILIZE_ROUNDS_MAX) throw new Error('stabilizeWhere: the cluster keeps talking');
      const k = this.inflight.findIndex(match);
      if (k < 0) return;
      this.deliver(k);
    }
  }

  /** Delivers messages in flight (and those they cause) until none is left. */
  stabilize(): void {
    for (let i = 0; this.inflight.length > 0; i++) {
      if (i > STABILIZE_ROUNDS_MAX) throw new Error('stabilize: the cluster keeps talking');
      this.deliver(0);
    }
  }

  /** Cuts every link between different groups (both ways); nodes in no group are isolated. */
  partition(groups: readonly (readonly NodeId[])[]): void {
    this.cut.clear();
    const groupOf = new Map<NodeId, number>();
    groups.forEach((g, i) => g.forEach((id) => groupOf.set(id, i)));
    for (const a of this.ids) {
      for (const b of this.ids) {
        if (a === b) continue;
        const ga = groupOf.get(a);
        if (ga === undefined || ga !== groupOf.get(b)) this.cut.add(`${a}|${b}`);
      }
    }
    this.record(`partition ${groups.map((g) => g.join(' ')).join(' | ')}`);
  }

  /** Cuts one direction only. */
  cutLink(from: NodeId, to: NodeId): void {
    this.cut.add(`${from}|${to}`);
    this.record(`cut ${from}->${to}`);
  }

  heal(): void {
    this.cut.clear();
    this.record('heal');
  }

  /** Crashes a node now: it loses everything not in its storage. */
  crash(id: NodeId): void {
    const peer = this.peer(id);
    if (peer.node === null) return;
    this.record(`crash ${id}`);
    peer.node = null;
    peer.crashArmed = null;
    if (this.observeEachStep) this.observe();
  }

  /**
   * Arms a crash in the middle of the next Ready the node carries out, with a disk write under
   * way: 'beforePersist' after its early messages left and before anything was persisted,
   * 'afterPersist' after persisting and before its messages left.
   */
  crashAtNextReady(id: NodeId, at: 'beforePersist' | 'afterPersist'): void {
    const peer = this.peer(id);
    if (peer.node === null) return;
    this.record(`arm crash of ${id} ${at}`);
    peer.crashArmed = at;
  }

  /** The end of a fault phase: links healed, armed crashes called off, every node up. */
  endFaults(): void {
    this.heal();
    for (const id of this.ids) {
      this.peer(id).crashArmed = null;
      this.restart(id);
    }
  }

  restart(id: NodeId): void {
    const peer = this.peer(id);
    if (peer.node !== null) return;
    this.record(`restart ${id}`);
    this.start(peer);
    this.settle();
  }

  propose(id: NodeId, command: string): ProposeResult {
    this.record(`propose ${id} ${command}`);
    const r = this.node(id).propose(bytes(command));
    this.settle();
    return r;
  }

  proposeConfChange(id: NodeId, change: ConfChange): ProposeResult {
    this.record(`confchange ${id} ${change.type} ${change.node}`);
    const r = this.node(id).proposeConfChange(change);
    this.settle();
    return r;
  }

  /** A linearizable read at `id`; its context is returned, its answer lands in peer.reads. */
  read(id: NodeId): { ctx: string; result: ReadIndexResult } {
    const ctx = `r${++this.readCounter}`;
    this.record(`read ${id} ${ctx}`);
    this.monitor.readStarted(id, ctx);
    const result = this.node(id).readIndex(ctx);
    if (!result.ok) this.monitor.readDropped(id, ctx);
    this.settle();
    return { ctx, result };
  }

  transfer(id: NodeId, to: NodeId): TransferResult {
    this.record(`transfer ${id} -> ${to}`);
    const r = this.node(id).transferLeadership(to);
    this.settle();
    return r;
  }

  campaign(id: NodeId): void {
    this.record(`campaign ${id}`);
    this.node(id).campaign();
    this.settle();
  }

  /** The application snapshots its state and the log is compacted, keeping `keep` entries. */
  compact(id: NodeId, keep = 0): boolean {
    const peer = this.peer(id);
    const node = peer.node;
    if (node === null) return false;
    const applied = node.appliedIndex();
    if (applied <= peer.storage.snapshot().meta.index) return false;
    this.record(`compact ${id} at ${applied} keep ${keep}`);
    peer.storage.createSnapshot(node.snapshotMetaAt(applied), peer.app.snapshotData());
    peer.storage.compact(Math.max(peer.storage.firstIndex() - 1, applied - keep));
    this.settle();
    return true;
  }

  // ---------------------------------------------------------------- helpers for tests

  leaders(): NodeId[] {
    return this.ids.filter((id) => this.peer(id).node?.softState().role === 'leader');
  }

  /** The one live leader with the highest term, or null. */
  leader(): NodeId | null {
    let best: NodeId | null = null;
    let bestTerm = -1;
    for (const id of this.leaders()) {
      const t = this.node(id).hardState().term;
      if (t > bestTerm) {
        best = id;
        bestTerm = t;
      }
    }
    return best;
  }

  /** Ticks everyone and delivers everything until a leader exists (bounded). */
  electLeader(maxRounds = 200): NodeId {
    for (let i = 0; i < maxRounds; i++) {
      const l = this.leader();
      if (l !== null && this.inflight.length === 0) return l;
      this.tickAll();
      this.stabilize();
    }
    throw new Error(`no leader after ${maxRounds} rounds\n${this.trace.slice(-40).join('\n')}`);
  }

  commands(id: NodeId): string[] {
    return this.peer(id).app.commands;
  }

  /** Config entries committed in the most advanced node's log. */
  configEntriesCommitted(): number {
    let most = 0;
    for (const s of this.debugStates()) {
      const n = s.entries.filter((e) => e.type === 'config' && e.index <= s.commitIndex).length;
      if (n > most) most = n;
    }
    return most;
  }

  /** Every node's state in a few lines, for failure messages. */
  describe(): string {
    return this.ids
      .map((id) => {
        const n = this.peer(id).node;
        if (n === null) return `${id}: down`;
        const d = n.debugState();
        const log = d.entries.map((e) => `${e.term}/${e.index}${e.type === 'config' ? 'c' : ''}`).join(' ');
        const progress = Object.entries(n.progressSummary()).map(([p, s]) => `\n    ${p}: ${s}`).join('');
        const m = `voters=${d.membership.voters.join(',')}${d.membership.learners.length > 0 ? ` learners=${d.membership.learners.join(',')}` : ''}`;
        return `${id}: ${d.role} term=${d.term} vote=${d.vote} commit=${d.commitIndex} applied=${d.lastApplied} ${m} start=${d.logStart.term}/${d.logStart.index} log=[${log}]${progress}`;
      })
      .join('\n');
  }

  /** A trace excerpt for failure messages. */
  recentTrace(lines = 60): string {
    return this.trace.slice(-lines).join('\n');
  }
}
