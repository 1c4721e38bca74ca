import { KvClient } from '../src/client/client.js';
import { StreamNet } from '../src/client/stream-net.js';
import type { Rng } from '../src/env/rng.js';
import { RaftReplica } from '../src/node/raft-replica.js';
import { assert } from '../src/util/assert.js';
import { FailpointCrash, type FailpointName } from '../src/util/failpoints.js';
import { kvNodeOf } from './node-process.js';
import { NS_PER_MS } from './scheduler.js';
import type { Fault } from './scenario.js';
import type { World } from './world.js';

/**
 * The nemesis carries out a scenario's fault schedule: it starts each fault at its time, undoes
 * it after `for:` if given, and at the end of the run heals everything so the cluster can show it
 * recovers (the liveness phase). `random` node selectors are resolved when the fault starts, from
 * the nemesis's own random stream.
 */

interface Active {
  id: number;
  label: string;
  undo: () => void;
}

/**
 * A fault waiting for its moment at a failpoint: the `hitsLeft`-th time `node` (null: any node)
 * passes `point`, `fire` runs, on that node's own event. Disarmed at `deadlineNs` if not hit.
 */
interface Arm {
  id: number;
  point: FailpointName;
  node: string | null;
  hitsLeft: number;
  deadlineNs: number;
  fault: Fault;
  fire: (node: string) => void;
}

/** A moment a fault began, ended or happened, with how many are in effect after it (the stability and recovery checks read them). */
export interface FaultEvent {
  atNs: number;
  /** Faults in effect just after it. */
  active: number;
  what: string;
}

/** Crash-at fires on the Nth hit, N drawn from 1..this when the fault does not say. */
const CRASH_AT_HITS_MAX = 8;

export class Nemesis {
  private readonly active = new Map<number, Active>();
  private idNext = 1;
  /** Faults applied, for the summary. */
  applied = 0;
  /** Every start and end of a fault, in order: the checks of stability and recovery read it. */
  readonly timeline: FaultEvent[] = [];
  private readonly armed: Arm[] = [];
  /** The operator's client (failover, membership changes), made when first needed. */
  private admin: KvClient | null = null;

  private adminClient(): KvClient {
    if (this.admin === null) {
      // An operator's program: connectKv's client, over the nodes' TCP client ports.
      const ep = this.world.clientEndpoint('admin');
      const net = new StreamNet('admin', new Map(this.world.nodeIds().map((n) => [n, `${n}:line`])), ep.dial);
      this.admin = new KvClient(net, ep.clock, { nodes: this.world.nodeIds(), timeoutMs: 5000, attemptTimeoutMs: 300 });
    }
    return this.admin;
  }

  constructor(
    private readonly world: World,
    private readonly rng: Rng,
  ) {}

  /** Schedules each fault; `endNs` bounds repeated faults that give no `until`. */
  schedule(faults: readonly Fault[], endNs = Infinity): void {
    for (const f of faults) {
      const until = f.untilNs ?? endNs;
      for (let t = f.atNs; ; t += f.everyNs as number) {
        if (f.afterElectionNs === undefined) this.world.sched.at(t, `fault ${f.kind}`, () => this.begin(f));
        else this.world.sched.at(t, `arm ${f.kind}`, () => this.awaitElection(f));
        if (f.everyNs === undefined || t + f.everyNs >= until) break;
      }
    }
    if (faults.some((f) => f.afterElectionNs !== undefined)) {
      // After every event (behind the Raft observer, if any): whether a waiting fault's election came.
      const before = this.world.sched.afterEach;
      this.world.sched.afterEach = (label) => {
        before?.(label);
        if (this.awaiting.length > 0) this.checkElections();
      };
    }
  }

  /** Faults waiting for the next election (afterElection), each with the highest leader term when it began waiting. */
  private readonly awaiting: { fault: Fault; aboveTerm: number }[] = [];

  private awaitElection(f: Fault): void {
    this.awaiting.push({ fault: f, aboveTerm: this.highestLeaderTerm() });
    this.world.trace.record(this.world.nowNs, 'fault-armed', { kind: f.kind, election: 'next', afterNs: f.afterElectionNs });
  }

  /**
   * The highest term any running node leads in; 0 if none leads. Read from the Raft cores
   * themselves, as the safety observer reads them: a node's status is its last Ready's, and
   * between two Readies it pairs an old role with a new term.
   */
  private highestLeaderTerm(): number {
    let term = 0;
    for (const m of this.world.machines.values()) {
      if (m.state === 'down') continue;
      const replica = kvNodeOf(m)?.replicaForInspection;
      const raft = replica instanceof RaftReplica ? replica.raftNode : null;
      if (raft === null || raft.softState().role !== 'leader') continue;
      term = Math.max(term, raft.hardState().term);
    }
    return term;
  }

  /** An election came when some node leads in a term above the one a waiting fault saw: every fault waiting for it starts its countdown. */
  private checkElections(): void {
    const term = this.highestLeaderTerm();
    for (let i = 0; i < this.awaiting.length; ) {
      const w = this.awaiting[i] as (typeof this.awaiting)[number];
      if (term <= w.aboveTerm) {
        i++;
        continue;
      }
      this.awaiting.splice(i, 1);
      const f = w.fault;
      this.world.trace.record(this.world.nowNs, 'election-seen', { kind: f.kind, term });
      this.world.sched.at(this.world.nowNs + (f.afterElectionNs as number), `fault ${f.kind}`, () => this.begin(f));
    }
  }

  /** When each scheduled fault came due (taking effect or arming its failpoint; skipped: it found nothing to act on), in order: the shrinker reads it. */
  readonly due: { fault: Fault; atNs: number; skipped: boolean }[] = [];
  /**
   * The members waiting for a repair now (the runner's RepairWatch), for corrupt faults with
   * whileOthersWhole; null: none known.
   */
  repairsPending: (() => ReadonlySet<string>) | null = null;
  private skips = 0;

  private begin(f: Fault): void {
    const skips = this.skips;
    const a = this.apply(f);
    if (this.due.length < 100_000) this.due.push({ fault: f, atNs: this.world.nowNs, skipped: this.skips > skips });
    this.started(f, a);
  }

  /** A fault took effect (now, or when its failpoint fired): `for:` counts from here. */
  private started(f: Fault, a: Active | null): void {
    if (a !== null && f.forNs !== undefined) {
      this.world.sched.at(this.world.nowNs + f.forNs, `heal ${f.kind}`, () => this.end(a.id));
    }
  }

  /** Whether any fault waits at a failpoint: the runner installs the failpoint handler if so. */
  static needsFailpoints(faults: readonly Fault[]): boolean {
    return faults.some((f) => f.kind === 'crash-at' || (f.kind === 'isolate-leader' && f.afterWrites));
  }

  /**
   * The failpoint handler: counts the hit against the faults armed at this point on the node whose
   * code runs now, and fires the one whose count is reached. Cheap when nothing is armed.
   */
  onFailpoint = (point: FailpointName): void => {
    if (this.armed.length === 0) return;
    const owner = this.world.sched.current;
    if (owner === null) return;
    let node: string | null = null;
    for (const m of this.world.machines.values()) if (m.owner === owner) node = m.id;
    if (node === null || this.world.machine(node).state !== 'up') return;
    let due: Arm | null = null;
    for (const a of this.armed) {
      if (a.point !== point || (a.node !== null && a.node !== node)) continue;
      a.hitsLeft--;
      if (a.hitsLeft === 0 && due === null) due = a;
    }
    if (due === null) return;
    this.armed.splice(this.armed.indexOf(due), 1);
    due.fire(node);
  };

  private arm(f: Fault, point: FailpointName, node: string | null, hits: number, withinNs: number, fire: (node: string) => void): null {
    assert(hits >= 1, 'a failpoint fires on a hit, the first at the earliest');
    const a: Arm = { id: this.idNext++, point, node, hitsLeft: hits, deadlineNs: this.world.nowNs + withinNs, fault: f, fire };
    this.armed.push(a);
    this.world.trace.record(this.world.nowNs, 'fault-armed', { kind: f.kind, point, node: node ?? 'any', hits });
    this.world.sched.at(a.deadlineNs, `disarm ${f.kind}`, () => {
      const i = this.armed.indexOf(a);
      if (i < 0) return;
      this.armed.splice(i, 1);
      this.skip(f, `failpoint ${point} not reached ${hits} time(s) within ${withinNs / NS_PER_MS} ms`);
    });
    return null;
  }

  /** The moment the faults in effect changed (or an instantaneous one happened). */
  private mark(what: string): void {
    this.timeline.push({ atNs: this.world.nowNs, active: this.active.size, what });
  }

  /** Labels of the faults in effect now, for the progress line. */
  activeLabels(): string[] {
    return [...this.active.values()].map((a) => a.label);
  }

  /** Ends every fault in effect and puts every machine back in working order. */
  healAll(): void {
    this.armed.length = 0;
    this.awaiting.length = 0;
    for (const id of [...this.active.keys()].reverse()) this.end(id);
    const w = this.world;
    w.net.heal();
    w.net.lossProbability = 0;
    w.net.duplicateProbability = 0;
    w.net.reorderProbability = 0;
    for (const m of w.machines.values()) {
      if (m.state === 'paused') w.resume(m.id);
      if (m.state === 'down') w.restart(m.id);
      m.disk.syncFailuresPending = 0;
      m.disk.syncFailureProbability = 0;
    }
    w.trace.record(w.nowNs, 'heal-all', {});
    this.mark('heal-all');
  }

  private end(id: number): void {
    const a = this.active.get(id);
    if (a === undefined) return;
    this.active.delete(id);
    a.undo();
    this.world.trace.record(this.world.nowNs, 'fault-end', { fault: a.label });
    this.mark(`end ${a.label}`);
  }

  private pickNode(sel: string, want?: (id: string) => boolean): string | null {
    if (sel === 'leader' || sel === 'meta-leader') {
      const leader = sel === 'leader' ? this.leader() : this.metaLeader();
      return leader !== null && (want === undefined || want(leader)) ? leader : null;
    }
    if (sel !== 'random' && sel !== 'follower') return sel;
    const leader = sel === 'follower' ? this.leader() : null;
    const ids = this.world.nodeIds().filter((id) => id !== leader && (want === undefined || want(id)));
    return ids.length === 0 ? null : this.rng.pick(ids);
  }

  /**
   * The leader of shard 0's group, which keeps a sharded cluster's member set (the highest term's,
   * from the Raft cores); without shards, the leader.
   */
  private metaLeader(): string | null {
    let best: { id: string; term: number } | null = null;
    for (const m of this.world.machines.values()) {
      if (m.state !== 'up') continue;
      const sharded = kvNodeOf(m)?.sharded ?? null;
      if (sharded === null) return this.leader();
      const raft = sharded.group(0)?.raftNode ?? null;
      if (raft === null || raft.softState().role !== 'leader') continue;
      const term = raft.hardState().term;
      if (best === null || term > best.term) best = { id: m.id, term };
    }
    return best?.id ?? null;
  }

  /** The leader of the highest term among running nodes, as they see themselves; null if none. */
  private leader(): string | null {
    let best: { id: string; term: number } | null = null;
    for (const m of this.world.machines.values()) {
      if (m.state !== 'up' || m.node === null) continue;
      const st = (m.node as { status?: () => { role: string; term: number } }).status?.();
      if (st?.role === 'leader' && (best === null || st.term > best.term)) best = { id: m.id, term: st.term };
    }
    return best?.id ?? null;
  }

  private track(label: string, undo: () => void): Active {
    const a: Active = { id: this.idNext++, label, undo };
    this.active.set(a.id, a);
    this.applied++;
    this.world.trace.record(this.world.nowNs, 'fault', { fault: label });
    this.mark(label);
    return a;
  }

  /** A fault that takes effect and is over at once (a restart, a membership request). */
  private instant(label: string, fields: Record<string, unknown> = {}): null {
    this.world.trace.record(this.world.nowNs, 'fault', { fault: label, ...fields });
    this.applied++;
    this.mark(label);
    return null;
  }

  private skip(f: Fault, why: string): null {
    this.skips++;
    this.world.trace.record(this.world.nowNs, 'fault-skipped', { kind: f.kind, line: f.line, why });
    return null;
  }

  private apply(f: Fault): Active | null {
    const w = this.world;
    const up = (id: string) => w.machine(id).state === 'up';
    switch (f.kind) {
      case 'crash': {
        const id = this.pickNode(f.node, (n) => w.machine(n).state !== 'down');
        if (id === null) return this.skip(f, 'no node to crash');
        w.crash(id, f.disk);
        return this.track(`crash ${id}`, () => w.restart(id));
      }
      case 'restart': {
        const id = this.pickNode(f.node, (n) => w.machine(n).state === 'down');
        if (id === null) return this.skip(f, 'no node is down');
        w.restart(id);
        return this.instant(`restart ${id}`);
      }
      case 'pause': {
        const id = this.pickNode(f.node, up);
        if (id === null) return this.skip(f, 'no node is up');
        w.pause(id);
        return this.track(`pause ${id}`, () => w.resume(id));
      }
      case 'resume': {
        const id = this.pickNode(f.node, (n) => w.machine(n).state === 'paused');
        if (id === null) return this.skip(f, 'no node is paused');
        w.resume(id);
        return this.instant(`resume ${id}`);
      }
      case 'partition':
        return this.partition(f);
      case 'partition-one-way': {
        // `others` on one side stands for every node not on the other side.
        const resolve = (sels: readonly string[]) => (sels.includes('others') ? null : sels.map((s) => this.pickNode(s)));
        const from0 = resolve(f.from);
        const to0 = resolve(f.to);
        const others = (side: (string | null)[] | null) => this.world.nodeIds().filter((id) => !(side ?? []).includes(id));
        const from = from0 ?? others(to0);
        const to = to0 ?? others(from0);
        if (from.includes(null) || to.includes(null)) return this.skip(f, 'a named node does not exist now');
        return this.cut(`one-way ${from.join(',')} -/-> ${to.join(',')}`, from as string[], to as string[], false);
      }
      case 'heal':
        w.net.heal();
        for (const [id, a] of this.active) if (a.label.startsWith('partition') || a.label.startsWith('one-way') || a.label.startsWith('isolate-leader')) this.active.delete(id);
        return this.instant('heal');
      case 'clock': {
        const id = this.pickNode(f.node);
        if (id === null) return this.skip(f, 'no such node now');
        const clock = w.machine(id).clock;
        const [skew, drift] = [clock.skewMs, clock.driftPpm];
        if (f.skewNs !== undefined) clock.skewMs = f.skewNs / NS_PER_MS;
        if (f.driftPpm !== undefined) clock.setDriftPpm(f.driftPpm);
        return this.track(`clock ${id} skew ${clock.skewMs}ms drift ${clock.driftPpm}ppm`, () => {
          clock.skewMs = skew;
          clock.setDriftPpm(drift);
        });
      }
      case 'loss':
      case 'duplicate':
      case 'reorder': {
        const field = ({ loss: 'lossProbability', duplicate: 'duplicateProbability', reorder: 'reorderProbability' } as const)[f.kind];
        const before = w.net[field];
        w.net[field] = f.probability;
        return this.track(`${f.kind} ${f.probability}`, () => (w.net[field] = before));
      }
      case 'latency': {
        const before = { ...w.net.latency };
        w.net.latency = { minMs: f.minNs / NS_PER_MS, meanMs: f.meanNs / NS_PER_MS, maxMs: f.maxNs / NS_PER_MS };
        return this.track(`latency ${f.minNs / NS_PER_MS}/${f.meanNs / NS_PER_MS}/${f.maxNs / NS_PER_MS}ms`, () => (w.net.latency = before));
      }
      case 'fsync-fail': {
        const id = this.pickNode(f.node);
        if (id === null) return this.skip(f, 'no such node now');
        const disk = w.machine(id).disk;
        const before = disk.syncFailureProbability;
        disk.syncFailuresPending += f.count;
        disk.syncFailureProbability = f.probability;
        return this.track(`fsync-fail ${id}`, () => {
          disk.syncFailuresPending = 0;
          disk.syncFailureProbability = before;
        });
      }
      case 'corrupt': {
        const id = this.pickNode(f.node);
        if (id === null) return this.skip(f, 'no such node now');
        // Files of a group whose copy on another member still holds rot are spared (read or not:
        // a table nobody has read since its flip is as lost as one found bad), so that no group's
        // rot ever spans a majority.
        let spare: ((path: string) => boolean) | undefined;
        if (f.whileOthersWhole === true) {
          const waiting = [...(this.repairsPending?.() ?? [])].filter((n) => n !== id).sort();
          if (waiting.length > 0) return this.skip(f, `${waiting.join(', ')} still waiting for a repair: corruption stays on one member at a time`);
          const rotten = new Set<string>();
          for (const other of w.nodeIds()) if (other !== id) for (const p of w.machine(other).disk.rotFlipped()) rotten.add(rotGroup(p));
          if (rotten.size > 0) spare = (p) => rotten.has('*') || rotten.has(rotGroup(p)) || rotGroup(p) === '*';
        }
        const flips = [];
        for (let i = 0; i < f.bits; i++) {
          const r = w.machine(id).disk.corrupt(f.path, f.file, spare);
          if (r !== null) flips.push(r);
        }
        if (flips.length === 0 && spare !== undefined) return this.skip(f, 'another member still holds rot in every group this one could rot: corruption stays on one member at a time');
        if (flips.length === 0) return this.skip(f, `${id} holds no ${f.file ?? 'stored'} file${f.path !== undefined ? ` matching ${f.path}` : ''} to rot`);
        return this.instant(`corrupt ${id}`, { flips });
      }
      case 'failover': {
        // The operator's command, through the request path like any other, addressed to the node.
        const id = this.pickNode(f.node, up);
        if (id === null) return this.skip(f, 'no such node is up');
        this.instant(`failover to ${id}`);
        this.adminClient().invoke({ f: 'node.promote' }, (o) => w.trace.record(w.nowNs, 'failover', { node: id, outcome: o.type }), undefined, { node: id });
        return null;
      }
      case 'join':
      case 'leave': {
        // An operator's request to the cluster, through the same client path as any other.
        const id = f.node === 'leader' || f.node === 'follower' || f.node === 'random' ? this.pickNode(f.node) : f.node;
        if (id === null) return this.skip(f, 'no such node now');
        const op = f.kind === 'join' ? ({ f: 'member.add', node: id } as const) : ({ f: 'member.remove', node: id } as const);
        this.instant(`${f.kind} ${id}`);
        this.adminClient().invoke(op, (outcome) => w.trace.record(w.nowNs, 'membership', { change: `${f.kind} ${id}`, outcome: outcome.type, ...(outcome.type === 'ok' ? { members: outcome.value } : outcome.type === 'fail' ? { error: outcome.message } : { error: outcome.reason }) }));
        return null;
      }
      case 'destroy': {
        // The node is gone for good; the operator then removes it from the member set (as
        // `kv-lab cluster remove-node` would), and its replicas are re-created from the survivors.
        const id = this.pickNode(f.node, (n) => !w.machine(n).destroyed);
        if (id === null) return this.skip(f, 'no node left to destroy');
        w.destroy(id);
        this.instant(`destroy ${id}`);
        this.adminClient().invoke({ f: 'member.remove', node: id }, (outcome) => w.trace.record(w.nowNs, 'membership', { change: `remove ${id}`, outcome: outcome.type, ...(outcome.type === 'ok' ? { members: outcome.value } : outcome.type === 'fail' ? { error: outcome.message } : { error: outcome.reason }) }));
        return null;
      }
      case 'crash-at':
        return this.crashAt(f);
      case 'isolate-leader':
        return this.isolateLeader(f);
      case 'delay': {
        const id = this.pickNode(f.node);
        if (id === null) return this.skip(f, 'no such node now');
        const d = { minNs: f.minNs, maxNs: f.maxNs, out: f.direction !== 'in', in: f.direction !== 'out' };
        w.net.setDelay(id, d);
        return this.track(`delay ${id} ${f.direction} ${f.minNs / NS_PER_MS}-${f.maxNs / NS_PER_MS}ms`, () => w.net.setDelay(id, null));
      }
      case 'transfer':
        return this.transfer(f);
      case 'disk-full': {
        const id = this.pickNode(f.node);
        if (id === null) return this.skip(f, 'no such node now');
        const disk = w.machine(id).disk;
        const before = disk.options.capacityBytes;
        disk.options.capacityBytes = disk.usedBytes + f.freeBytes;
        return this.track(`disk-full ${id}`, () => (disk.options.capacityBytes = before));
      }
    }
  }

  /**
   * Arms the failpoint; when the node reaches it, its power is cut right there (the rest of its
   * event does not run: FailpointCrash) and `for:` counts from then.
   */
  private crashAt(f: Extract<Fault, { kind: 'crash-at' }>): null {
    const w = this.world;
    const node = f.node === 'any' ? null : this.pickNode(f.node, (n) => w.machine(n).state === 'up');
    if (node === null && f.node !== 'any') return this.skip(f, 'no such node is up');
    const hits = f.after ?? 1 + this.rng.int(CRASH_AT_HITS_MAX);
    return this.arm(f, f.point, node, hits, f.withinNs, (id) => {
      w.crash(id, f.disk);
      this.started(f, this.track(`crash ${id} at ${f.point}`, () => w.restart(id)));
      throw new FailpointCrash(f.point, id);
    });
  }

  /**
   * Cuts the leader off from the other nodes. With afterWrites, at the moment it has appended a
   * client's write and before its appends leave (failpoint raft.proposed), so that the entry exists
   * on its log alone; with clients keep, the clients connected to it keep writing, and it keeps
   * appending entries no one else has until check-quorum makes it step down. Two of these in a row
   * leave three logs that differ at the same indexes: what a follower's consistency check is for.
   */
  private isolateLeader(f: Extract<Fault, { kind: 'isolate-leader' }>): Active | null {
    const isolate = (id: string): Active => {
      const others = this.world.nodeIds().filter((n) => n !== id);
      const side = f.clients === 'cut' ? [...others, ...this.world.clientAddresses] : others;
      return this.groups(`isolate-leader ${id}${f.clients === 'keep' ? ' (clients keep it)' : ''}`, [[id], side]);
    };
    if (!f.afterWrites) {
      const id = this.leader();
      return id === null ? this.skip(f, 'no leader now') : isolate(id);
    }
    // Only a leader proposes, so whichever node gets there first is the leader of the moment.
    return this.arm(f, 'raft.proposed', null, 1, f.withinNs, (id) => this.started(f, isolate(id)));
  }

  /** Asks the leader to hand its leadership to the target (an operator's command). */
  private transfer(f: Extract<Fault, { kind: 'transfer' }>): null {
    const leader = this.leader();
    if (leader === null) return this.skip(f, 'no leader now');
    const voters = this.raftOf(leader)?.raftNode?.membership().voters ?? [];
    const to = this.pickNode(f.node, (n) => n !== leader && voters.includes(n) && this.world.machine(n).state === 'up');
    if (to === null || to === leader) return this.skip(f, 'no other node is up');
    const replica = this.raftOf(leader);
    if (replica === null) return this.skip(f, 'the leader runs no Raft replica');
    const r = replica.transferLeadership(to);
    return this.instant(`transfer ${leader} -> ${to}`, { outcome: r === null ? 'stopped' : r.ok ? 'ok' : r.reason });
  }

  private raftOf(id: string): RaftReplica | null {
    const replica = kvNodeOf(this.world.machine(id))?.replicaForInspection;
    return replica instanceof RaftReplica ? replica : null;
  }

  private partition(f: Extract<Fault, { kind: 'partition' }>): Active | null {
    const skip = (why: string) => this.skip(f, why);
    const ids = this.world.nodeIds();
    switch (f.shape) {
      case 'groups':
        return this.groups(`partition ${f.groups.map((g) => g.join(',')).join(' | ')}`, f.groups);
      case 'isolate': {
        const id = this.pickNode(f.node);
        if (id === null) return skip('no such node now');
        // Isolated from everyone, clients included: the node is alone on its side of the cut.
        return this.groups(`partition isolate ${id}`, [[id], [...ids.filter((n) => n !== id), ...this.world.clientAddresses]]);
      }
      case 'halves': {
        const s = this.rng.shuffled(ids);
        const half = Math.floor(s.length / 2);
        return this.groups(`partition halves`, [s.slice(0, half), s.slice(half)]);
      }
      case 'majority-minority': {
        const s = this.rng.shuffled(ids);
        const minority = Math.floor((s.length - 1) / 2);
        return this.groups(`partition majority-minority`, [s.slice(0, minority), s.slice(minority)]);
      }
      case 'bridge': {
        // Two sides that cannot talk, and one node that talks to both (Jepsen's bridge): each
        // side may believe it has a majority through the bridge.
        const s = this.rng.shuffled(ids);
        const bridge = s[0] as string;
        const rest = s.slice(1);
        const half = Math.floor(rest.length / 2);
        const a = rest.slice(0, half);
        const b = rest.slice(half);
        return this.cut(`partition bridge ${bridge} between ${a.join(',')} | ${b.join(',')}`, a, b, true);
      }
    }
  }

  private groups(label: string, groups: string[][]): Active {
    const links: [string, string][] = [];
    for (let i = 0; i < groups.length; i++) {
      for (let j = 0; j < groups.length; j++) {
        if (i === j) continue;
        for (const a of groups[i] as string[]) for (const b of groups[j] as string[]) if (a !== b) links.push([a, b]);
      }
    }
    return this.blockLinks(label, links);
  }

  private cut(label: string, from: string[], to: string[], bothWays: boolean): Active {
    const links: [string, string][] = [];
    for (const a of from) for (const b of to) if (a !== b) {
      links.push([a, b]);
      if (bothWays) links.push([b, a]);
    }
    return this.blockLinks(label, links);
  }

  private blockLinks(label: string, links: [string, string][]): Active {
    const net = this.world.net;
    for (const [a, b] of links) net.block(a, b);
    return this.track(label, () => {
      for (const [a, b] of links) net.unblock(a, b);
    });
  }
}

/**
 * Which Raft group a node file belongs to, for spreading rot: a sharded node's shards/<i>/ files
 * are group i's; anything else ('*': a sharded node's shared raftlog/, a single group's files)
 * is every group's.
 */
function rotGroup(path: string): string {
  const m = /^shards\/(\d+)\//.exec(path);
  return m === null ? '*' : (m[1] as string);
}
