import type { Rng } from '../../env/rng.js';
import { assert } from '../../util/assert.js';
import { BroadcastQueue } from './broadcast.js';
import { decodeMessage, encodeMessage, headerSize, snapshotSize, updateSize, validateMeta, validMemberId, UPDATES_PER_FRAME_MAX } from './codec.js';
import { isLive, MemberTable, type Member } from './members.js';
import {
  DEFAULT_GOSSIP_OPTIONS, expectedConfirmations, pushPullIntervalFor, retransmitLimit, suspicionTimeoutMs, validateGossipOptions, type GossipOptions,
} from './options.js';
import type { GossipReady, Outbound } from './ready.js';
import { LocalHealth, Suspicion } from './suspicion.js';
import type { GossipMessage, MemberEvent, MemberId, MemberMeta, MemberSnapshot, MemberState, Update } from './types.js';

/**
 * SWIM membership with Lifeguard, as a pure state machine (see ready.ts for the contract and
 * README.md for the protocol). Inputs: receive(), tick(), join(), leave(), updateMeta(), each
 * with the monotonic now. Outputs: ready(). Randomness comes only from the Rng given.
 */

export interface GossipNodeInit {
  readonly id: MemberId;
  readonly meta: MemberMeta;
  /** Probe order, gossip targets, helpers, start-up stagger: give each node its own stream. */
  readonly rng: Rng;
  readonly nowMs: number;
  readonly options?: GossipOptions;
  /** Members already known (tests, a simulator starting a converged cluster); none: join() to meet them. */
  readonly members?: readonly MemberSnapshot[];
  /** The incarnation to start at (0 after a restart: refutation raises it, ready.ts step 1). */
  readonly incarnation?: number;
}

export type SelfStatus = 'alone' | 'joining' | 'member' | 'leaving' | 'left';

export interface GossipStats {
  framesIn: number;
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
  droppedMalformed: number;
  droppedOversized: number;
  droppedMisdirected: number;
  droppedHelpersFull: number;
  droppedMembersFull: number;
  pushPullLimited: number;
  snapshotsTruncated: number;
  probes: number;
  probesFailed: number;
  indirectProbes: number;
  lateAcks: number;
  suspicionsRaised: number;
  /** Probes failed while this node heard nothing at all: it blamed itself instead (deafSince). */
  suspicionsWithheld: number;
  refutations: number;
  deathsDeclared: number;
}

/** A probe this node runs: one member per period (SWIM §4). */
interface Probe {
  readonly seq: number;
  readonly target: MemberId;
  readonly startMs: number;
  readonly timeoutAtMs: number;
  readonly endMs: number;
  acked: boolean;
  indirectSent: boolean;
  nacksExpected: number;
  nacks: number;
}

/** An indirect probe this node runs for another (a ping-req it received). */
interface Helper {
  readonly requester: string;
  readonly requesterSeq: number;
  nackAtMs: number | null;
  readonly expireAtMs: number;
}

const U32_MAX = 0xffffffff;

/** The kinds of deadline a node keeps (findDue). */
const enum Due {
  None,
  Nack,
  HelperExpired,
  ProbeTimeout,
  Suspicion,
  Probe,
  Gossip,
  PushPull,
  Reconnect,
  JoinRetry,
  LeaveDeadline,
  Reap,
}
/** A bound on the work one input may cause; reaching it is a bug, not a load. */
const DUE_STEPS_MAX = 100_000;
const OUTBOX_MAX = 1_000_000;
const REAP_INTERVAL_MS = 60_000;

export class GossipNode {
  readonly id: MemberId;
  readonly options: GossipOptions;
  private readonly rng: Rng;
  private readonly members: MemberTable;
  private readonly queue = new BroadcastQueue();
  private readonly health: LocalHealth;
  readonly stats: GossipStats = {
    framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, droppedMalformed: 0, droppedOversized: 0, droppedMisdirected: 0,
    droppedHelpersFull: 0, droppedMembersFull: 0, pushPullLimited: 0, snapshotsTruncated: 0, probes: 0, probesFailed: 0,
    indirectProbes: 0, lateAcks: 0, suspicionsRaised: 0, suspicionsWithheld: 0, refutations: 0, deathsDeclared: 0,
  };

  private incarnation_: number;
  private meta_: MemberMeta;
  private status_: SelfStatus;
  private nowMs_: number;
  private seqNext = 0;

  private probe: Probe | null = null;
  /** When a well-formed frame last arrived from anyone (-Infinity: never). */
  private lastFrameInMs = -Infinity;
  private probeAtMs: number;
  private gossipAtMs: number;
  private pushPullAtMs: number;
  private reconnectAtMs: number;
  private reapAtMs: number;
  private readonly helpers = new Map<number, Helper>();
  private readonly suspects = new Set<Member>();
  private seeds: string[] = [];
  private joinAttempts = 0;
  private joinRetryAtMs: number | null = null;
  private leaveDeadlineMs: number | null = null;
  private replyTokens: number;
  private replyTokensAtMs: number;

  private outbox: Outbound[] = [];
  private events: MemberEvent[] = [];

  constructor(init: GossipNodeInit) {
    const o = init.options ?? DEFAULT_GOSSIP_OPTIONS;
    const problem = validateGossipOptions(o) ?? validateMeta(init.meta);
    if (problem !== null) throw new RangeError(`gossip node ${init.id}: ${problem}`);
    if (!validMemberId(init.id)) throw new RangeError(`gossip node id ${JSON.stringify(init.id)} is not 1-64 letters, digits or _.:@-`);
    this.id = init.id;
    this.options = o;
    this.rng = init.rng;
    this.members = new MemberTable(init.rng);
    this.health = new LocalHealth(o.awarenessMax, o.lifeguard.localHealth);
    this.incarnation_ = init.incarnation ?? 0;
    this.meta_ = init.meta;
    this.nowMs_ = init.nowMs;
    // Staggered starts: nodes started together must not probe and gossip in lockstep.
    this.probeAtMs = init.nowMs + this.rng.int(o.probeIntervalMs);
    this.gossipAtMs = init.nowMs + this.rng.int(o.gossipIntervalMs);
    this.pushPullAtMs = init.nowMs + (o.pushPullIntervalMs > 0 ? this.rng.int(o.pushPullIntervalMs) : 0);
    this.reconnectAtMs = init.nowMs + (o.reconnectIntervalMs > 0 ? this.rng.int(o.reconnectIntervalMs) + o.reconnectIntervalMs : 0);
    this.reapAtMs = init.nowMs + REAP_INTERVAL_MS;
    this.replyTokens = o.pushPullRepliesPerSecondMax;
    this.replyTokensAtMs = init.nowMs;
    for (const s of init.members ?? []) if (s.id !== this.id) this.addMember(s.id, s.incarnation, s.meta, s.state === 'left' ? 'left' : s.state === 'dead' ? 'dead' : 'alive');
    this.status_ = this.members.size > 0 ? 'member' : 'alone';
    // A node that starts alone announces itself to whoever it meets; one started among known
    // members (init.members) is already known to them.
    if (this.status_ === 'alone') this.queue.enqueue(this.selfAlive());
  }

  // ---------------------------------------------------------------- views

  get status(): SelfStatus {
    return this.status_;
  }

  get incarnation(): number {
    return this.incarnation_;
  }

  get meta(): MemberMeta {
    return this.meta_;
  }

  /** Lifeguard's local health score (0 = healthy). */
  get localHealth(): number {
    return this.health.score;
  }

  /** Cluster size as this node estimates it: itself and the members it believes up. */
  get clusterSize(): number {
    return this.members.live + 1;
  }

  member(id: MemberId): Readonly<Member> | undefined {
    return this.members.get(id);
  }

  /** Every member this node knows, itself included, sorted by id. */
  snapshot(): MemberSnapshot[] {
    const out: MemberSnapshot[] = [{ id: this.id, incarnation: this.incarnation_, state: this.status_ === 'left' || this.status_ === 'leaving' ? 'left' : 'alive', meta: this.meta_ }];
    for (const m of this.members.all()) out.push({ id: m.id, incarnation: m.incarnation, state: m.state, meta: m.meta });
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  // ---------------------------------------------------------------- inputs

  /** Meets the cluster through `seeds` (Net addresses): a full-state exchange with each. */
  join(seeds: readonly string[], nowMs: number): void {
    this.advance(nowMs);
    if (this.status_ === 'leaving' || this.status_ === 'left') return;
    this.seeds = seeds.filter((s) => s !== this.id).slice(0, this.options.seedsMax);
    if (this.seeds.length === 0) return;
    if (this.status_ === 'alone') this.status_ = 'joining';
    this.joinAttempts = 0;
    this.sendJoin();
  }

  /** Leaves gracefully: announces it, keeps gossiping until the news is out, then stops. */
  leave(nowMs: number): void {
    this.advance(nowMs);
    if (this.status_ === 'leaving' || this.status_ === 'left') return;
    assert(this.incarnation_ < U32_MAX, 'incarnation exhausted');
    this.incarnation_++;
    this.status_ = 'leaving';
    this.probe = null;
    this.joinRetryAtMs = null;
    this.enqueue({ kind: 'dead', id: this.id, incarnation: this.incarnation_, from: this.id, left: true });
    this.leaveDeadlineMs = nowMs + this.options.leaveTimeoutMs;
    if (this.members.live === 0) this.finishLeave();
  }

  /** New metadata for this node: a higher incarnation carries it to everyone. */
  updateMeta(meta: MemberMeta, nowMs: number): void {
    const problem = validateMeta(meta);
    if (problem !== null) throw new RangeError(`gossip node ${this.id}: ${problem}`);
    this.advance(nowMs);
    if (this.status_ === 'leaving' || this.status_ === 'left') return;
    assert(this.incarnation_ < U32_MAX, 'incarnation exhausted');
    this.meta_ = meta;
    this.incarnation_++;
    this.enqueue(this.selfAlive());
  }

  /** Runs whatever is due at `nowMs` (ready.ts step 3). */
  tick(nowMs: number): void {
    this.advance(nowMs);
  }

  /** A frame from the Net. Malformed, oversized or misdirected frames are dropped and counted. */
  receive(from: string, frame: Uint8Array, nowMs: number): void {
    this.advance(nowMs);
    if (this.status_ === 'left') return;
    this.stats.framesIn++;
    this.stats.bytesIn += frame.length;
    const r = decodeMessage(frame, this.options);
    if (!r.ok) {
      if (r.oversized) this.stats.droppedOversized++;
      else this.stats.droppedMalformed++;
      return;
    }
    const m = r.message;
    if (m.source === this.id) {
      this.stats.droppedMisdirected++;
      return;
    }
    const sender = this.members.get(m.source);
    if (sender !== undefined) sender.lastContactMs = nowMs;
    this.lastFrameInMs = nowMs;
    if (m.type !== 'push-pull') for (const u of m.updates) this.apply(u);
    this.handle(from, m);
  }

  // ---------------------------------------------------------------- outputs

  hasReady(): boolean {
    return this.outbox.length > 0 || this.events.length > 0;
  }

  /** What to send, tell and wake for (ready.ts). */
  ready(): GossipReady {
    const rd: GossipReady = { messages: this.outbox, events: this.events, wakeAtMs: this.wakeAtMs() };
    this.outbox = [];
    this.events = [];
    assert(rd.wakeAtMs === null || Number.isFinite(rd.wakeAtMs), 'wake time is not finite');
    return rd;
  }

  // ---------------------------------------------------------------- time

  private advance(nowMs: number): void {
    assert(Number.isFinite(nowMs), () => `now ${nowMs} is not finite`);
    // A monotonic clock never goes back; a runtime passing an older time is tolerated as "now".
    if (nowMs > this.nowMs_) this.nowMs_ = nowMs;
    this.runDue();
  }

  private runDue(): void {
    const now = this.nowMs_;
    for (let steps = 0; ; steps++) {
      assert(steps < DUE_STEPS_MAX, 'runDue did not settle');
      if (this.findDue() > now) return;
      this.runFound();
    }
  }

  private wakeAtMs(): number | null {
    const at = this.findDue();
    return at === Infinity ? null : at;
  }

  // What findDue() found: kept in fields, not closures, because it runs after every input of
  // every node (a thousand simulated nodes call it millions of times).
  private foundKind: Due = Due.None;
  private foundHelper = 0;
  private foundSuspect: Member | null = null;

  /** The earliest pending deadline (Infinity: none), remembered for runFound(). Ties go to the first checked. */
  private findDue(): number {
    let at = Infinity;
    let kind = Due.None;
    if (this.status_ === 'left') {
      this.foundKind = Due.None;
      return at;
    }
    for (const [seq, h] of this.helpers) {
      if (h.nackAtMs !== null && h.nackAtMs < at) [at, kind, this.foundHelper] = [h.nackAtMs, Due.Nack, seq];
      if (h.expireAtMs < at) [at, kind, this.foundHelper] = [h.expireAtMs, Due.HelperExpired, seq];
    }
    const p = this.probe;
    if (p !== null && !p.acked && !p.indirectSent && p.timeoutAtMs < at) [at, kind] = [p.timeoutAtMs, Due.ProbeTimeout];
    for (const m of this.suspects) if (m.suspicion!.deadlineMs < at) [at, kind, this.foundSuspect] = [m.suspicion!.deadlineMs, Due.Suspicion, m];
    if (this.status_ !== 'leaving' && this.probeAtMs < at) [at, kind] = [this.probeAtMs, Due.Probe];
    if (this.queue.size > 0 && this.gossipAtMs < at) [at, kind] = [this.gossipAtMs, Due.Gossip];
    if (this.options.pushPullIntervalMs > 0 && this.status_ === 'member' && this.pushPullAtMs < at) [at, kind] = [this.pushPullAtMs, Due.PushPull];
    if (this.options.reconnectIntervalMs > 0 && this.status_ === 'member' && this.reconnectAtMs < at) [at, kind] = [this.reconnectAtMs, Due.Reconnect];
    if (this.joinRetryAtMs !== null && this.joinRetryAtMs < at) [at, kind] = [this.joinRetryAtMs, Due.JoinRetry];
    if (this.leaveDeadlineMs !== null && this.leaveDeadlineMs < at) [at, kind] = [this.leaveDeadlineMs, Due.LeaveDeadline];
    if (this.reapAtMs < at) [at, kind] = [this.reapAtMs, Due.Reap];
    this.foundKind = kind;
    return at;
  }

  private runFound(): void {
    switch (this.foundKind) {
      case Due.Nack: {
        const h = this.helpers.get(this.foundHelper);
        assert(h !== undefined, 'a due nack of a gone helper');
        return this.sendNack(this.foundHelper, h);
      }
      case Due.HelperExpired:
        this.helpers.delete(this.foundHelper);
        return;
      case Due.ProbeTimeout:
        return this.probeIndirectly(this.probe!);
      case Due.Suspicion:
        return this.suspicionExpired(this.foundSuspect!);
      case Due.Probe:
        return this.probeTick();
      case Due.Gossip:
        return this.gossipTick();
      case Due.PushPull:
        return this.pushPullTick();
      case Due.Reconnect:
        return this.reconnectTick();
      case Due.JoinRetry:
        return this.joinRetry();
      case Due.LeaveDeadline:
        return this.finishLeave();
      case Due.Reap:
        return this.reap();
      case Due.None:
        assert(false, 'runFound with nothing due');
    }
  }

  // ---------------------------------------------------------------- probing (SWIM §3, §4.3)

  private probeTick(): void {
    this.concludeProbe();
    const target = this.members.nextProbeTarget();
    const periodMs = this.health.scale(this.options.probeIntervalMs);
    this.probeAtMs = this.nowMs_ + periodMs;
    if (target === null) return;
    const seq = this.nextSeq();
    this.probe = {
      seq, target: target.id, startMs: this.nowMs_, timeoutAtMs: this.nowMs_ + this.health.scale(this.options.probeTimeoutMs), endMs: this.probeAtMs,
      acked: false, indirectSent: false, nacksExpected: 0, nacks: 0,
    };
    this.stats.probes++;
    this.send(target.id, { type: 'ping', seq, source: this.id, target: target.id, updates: [] }, this.buddy(target));
  }

  /**
   * Buddy system (Lifeguard §IV-C): a ping to a member this node suspects carries the suspicion,
   * so the suspect learns of it from the ping itself and refutes at once. Our helpers' pings
   * (ping-req) carry it as well: they reach the suspect just as surely.
   */
  private buddy(target: Member | undefined): Update | null {
    if (!this.options.lifeguard.buddySystem || target === undefined || target.state !== 'suspect') return null;
    return { kind: 'suspect', id: target.id, incarnation: target.incarnation, from: target.suspicion?.accuser ?? this.id };
  }

  /** The period is over: an ack (direct or relayed) clears the target, anything else suspects it. */
  private concludeProbe(): void {
    const p = this.probe;
    this.probe = null;
    if (p === null) return;
    if (p.acked) {
      this.health.apply(-1);
      return;
    }
    this.stats.probesFailed++;
    // Lifeguard §IV-A: helpers' nacks prove this node's own messages get through; each missing
    // one is a sign that the failure is ours. Without helpers, the failure itself counts once.
    this.health.apply(p.nacksExpected > 0 ? p.nacksExpected - p.nacks : 1);
    const m = this.members.get(p.target);
    if (m === undefined || !isLive(m)) return;
    if (this.deafSince(p.startMs)) {
      // Not one frame from anyone — the target, the helpers, the members whose gossip and probes
      // reach us several times a second — since this probe began: our own receive path is the
      // likelier failure (a stalled process, a full socket buffer, a partition around us).
      // Lifeguard's self-awareness taken one step further: the missing nacks above already
      // count against our health; we accuse no one. (Raising health to its maximum here as well
      // stretched our probing so much after a partition healed that we learnt of suspicions
      // about ourselves too late to refute them: the flapping scenario's false death.) Bounded,
      // so that a node whose peers really all died still declares them dead, awarenessMax probe
      // periods late at most.
      this.stats.suspicionsWithheld++;
      return;
    }
    this.stats.suspicionsRaised++;
    this.apply({ kind: 'suspect', id: m.id, incarnation: m.incarnation, from: this.id });
  }

  /**
   * Whether this node heard nothing at all since `sinceMs`, and has not for longer than
   * awarenessMax probe periods (past that, silence is taken to be the others' failure). Only with
   * Lifeguard's local health, and only once it has heard from someone: a node that never did is
   * joining, and may be alone.
   */
  private deafSince(sinceMs: number): boolean {
    if (!this.options.lifeguard.localHealth || this.lastFrameInMs === -Infinity) return false;
    return this.lastFrameInMs < sinceMs && this.nowMs_ - this.lastFrameInMs <= this.options.awarenessMax * this.options.probeIntervalMs;
  }

  /** No ack within the probe timeout: ask k others to probe the target (SWIM §3.1, ping-req). */
  private probeIndirectly(p: Probe): void {
    p.indirectSent = true;
    // Suspects may help too: a node that suspects everyone (it is the one cut off) still asks.
    const helpers = this.members.pick(this.options.indirectChecks, (m) => isLive(m) && m.id !== p.target);
    const wantNack = this.options.lifeguard.localHealth;
    for (const h of helpers) this.send(h.id, { type: 'ping-req', seq: p.seq, source: this.id, target: p.target, wantNack, updates: [] });
    if (wantNack) p.nacksExpected = helpers.length;
    this.stats.indirectProbes += helpers.length;
  }

  private onAck(seq: number): void {
    const p = this.probe;
    if (p !== null && p.seq === seq) {
      p.acked = true;
      return;
    }
    const h = this.helpers.get(seq);
    if (h !== undefined) {
      this.helpers.delete(seq);
      this.send(h.requester, { type: 'ack', seq: h.requesterSeq, source: this.id, updates: [] });
      return;
    }
    this.stats.lateAcks++;
  }

  private onPingReq(from: string, m: Extract<GossipMessage, { type: 'ping-req' }>): void {
    if (m.target === this.id) {
      this.send(from, { type: 'ack', seq: m.seq, source: this.id, updates: [] });
      return;
    }
    if (this.helpers.size >= this.options.helpersMax) {
      this.stats.droppedHelpersFull++;
      return;
    }
    const seq = this.nextSeq();
    const timeoutMs = this.health.scale(this.options.probeTimeoutMs);
    const nackAtMs = m.wantNack ? this.nowMs_ + Math.floor((timeoutMs * this.options.nackTimeoutPercent) / 100) : null;
    this.helpers.set(seq, { requester: from, requesterSeq: m.seq, nackAtMs, expireAtMs: this.nowMs_ + timeoutMs });
    this.send(m.target, { type: 'ping', seq, source: this.id, target: m.target, updates: [] }, this.buddy(this.members.get(m.target)));
  }

  private sendNack(seq: number, h: Helper): void {
    h.nackAtMs = null;
    this.send(h.requester, { type: 'nack', seq: h.requesterSeq, source: this.id, updates: [] });
  }

  private handle(from: string, m: GossipMessage): void {
    switch (m.type) {
      case 'ping':
        if (m.target !== this.id) this.stats.droppedMisdirected++;
        else this.send(from, { type: 'ack', seq: m.seq, source: this.id, updates: [] });
        return;
      case 'ack':
        return this.onAck(m.seq);
      case 'ping-req':
        return this.onPingReq(from, m);
      case 'nack':
        if (this.probe !== null && this.probe.seq === m.seq) this.probe.nacks++;
        return;
      case 'gossip':
        return;
      case 'push-pull':
        return this.onPushPull(from, m);
    }
  }

  // ---------------------------------------------------------------- dissemination (SWIM §4.1)

  private gossipTick(): void {
    this.gossipAtMs = this.alignedAfter(this.gossipAtMs, this.options.gossipIntervalMs);
    const now = this.nowMs_;
    // Recently dead members too, so that one wrongly declared dead hears it and refutes.
    const targets = this.members.pick(this.options.gossipNodes, (m) => isLive(m) || (m.state === 'dead' && now - m.stateChangeMs <= this.options.gossipToTheDeadMs));
    for (const t of targets) {
      if (this.queue.size === 0) break;
      this.send(t.id, { type: 'gossip', source: this.id, updates: [] });
    }
    // A leave is done once its announcement has been sent its full number of times.
    if (this.status_ === 'leaving' && this.queue.peek(this.id) === undefined) this.finishLeave();
  }

  private enqueue(u: Update): void {
    // A gossip round starts on the next tick of the gossip clock, not at once.
    if (this.queue.size === 0) this.gossipAtMs = this.alignedAfter(this.gossipAtMs, this.options.gossipIntervalMs);
    this.queue.enqueue(u);
  }

  /** The first tick of a clock of period `periodMs` through `at` that is after now. */
  private alignedAfter(at: number, periodMs: number): number {
    if (at > this.nowMs_) return at;
    const next = at + periodMs * (Math.floor((this.nowMs_ - at) / periodMs) + 1);
    assert(next > this.nowMs_, 'aligned tick is not in the future');
    return next;
  }

  /** Sends `m` with as many queued updates as fit in a packet (`first` ahead of them). */
  private send(to: string, m: GossipMessage, first: Update | null = null): void {
    let full = m;
    if (m.type !== 'push-pull') {
      const fixed = headerSize(m) + (first === null ? 0 : updateSize(first));
      const taken = this.queue.take(this.options.packetBytesMax - fixed, UPDATES_PER_FRAME_MAX - (first === null ? 0 : 1), retransmitLimit(this.options, this.clusterSize), updateSize);
      // `first` goes ahead, unless the queue's own news about that member is already aboard.
      const lead = first !== null && !taken.some((u) => u.id === first.id) ? [first] : [];
      full = { ...m, updates: [...lead, ...taken] };
    }
    const frame = encodeMessage(full);
    assert(full.type === 'push-pull' ? frame.length <= this.options.stateBytesMax : frame.length <= this.options.packetBytesMax, () => `a ${full.type} frame of ${frame.length} bytes`);
    this.outbox.push({ to, frame, message: full });
    assert(this.outbox.length <= OUTBOX_MAX, 'outbox overflow: ready() is not being called');
    this.stats.framesOut++;
    this.stats.bytesOut += frame.length;
  }

  // ---------------------------------------------------------------- updates (SWIM §4.2)

  private apply(u: Update): void {
    if (u.id === this.id) return this.aboutSelf(u);
    if (u.kind === 'alive') this.onAlive(u.id, u.incarnation, u.meta);
    else if (u.kind === 'suspect') this.onSuspect(u.id, u.incarnation, u.from);
    else this.onDead(u.id, u.incarnation, u.from, u.left);
  }

  /** `quiet`: learnt from the state of the cluster we are joining, which is no news to it. */
  private onAlive(id: MemberId, incarnation: number, meta: MemberMeta, quiet = false): void {
    const m = this.members.get(id);
    if (m === undefined) {
      if (this.addMember(id, incarnation, meta, 'alive') && !quiet) this.enqueue({ kind: 'alive', id, incarnation, meta });
      return;
    }
    // Only a higher incarnation overrides: at equal ones, suspect and dead beat alive.
    if (incarnation <= m.incarnation) return;
    const was = m.state;
    const metaChanged = !sameMeta(m.meta, meta);
    m.incarnation = incarnation;
    if (!this.options.bugs.dropMetaUpdates) m.meta = meta;
    this.clearSuspicion(m);
    if (was !== 'alive') this.members.setState(m, 'alive', this.nowMs_);
    this.enqueue({ kind: 'alive', id, incarnation, meta });
    if (was === 'dead' || was === 'left') this.emit('join', m, null);
    else if (was === 'suspect') this.emit('alive', m, null);
    else if (metaChanged) this.emit('update', m, null);
  }

  /**
   * `fromTable`: the suspicion came in a push-pull table, which says what the sender believes, not
   * that it probed anyone: it neither confirms a suspicion nor travels on as an accusation (else one
   * accusation, synced around, would count as Lifeguard's independent confirmations).
   */
  private onSuspect(id: MemberId, incarnation: number, from: MemberId, fromTable = false): void {
    const m = this.members.get(id);
    if (m === undefined || incarnation < m.incarnation || !isLive(m)) return;
    if (m.state === 'suspect' && m.suspicion !== null && incarnation === m.incarnation) {
      // Lifeguard §IV-B: another member's own accusation confirms it; pass new ones on.
      if (!fromTable && m.suspicion.confirm(from)) this.enqueue({ kind: 'suspect', id, incarnation, from });
      return;
    }
    // Alive at this incarnation or below, or suspect at a lower one (we missed its refutation):
    // a new suspicion, with its own timer.
    m.incarnation = incarnation;
    if (m.state !== 'suspect') this.members.setState(m, 'suspect', this.nowMs_);
    const n = this.clusterSize;
    const minMs = suspicionTimeoutMs(this.options, n);
    const dynamic = this.options.lifeguard.dynamicSuspicion;
    const maxMs = dynamic ? minMs * this.options.suspicionMaxTimeoutMult : minMs;
    m.suspicion = new Suspicion(incarnation, from, this.nowMs_, minMs, maxMs, dynamic ? expectedConfirmations(this.options, n) : 0);
    this.suspects.add(m);
    if (!fromTable) this.enqueue({ kind: 'suspect', id, incarnation, from });
    this.emit('suspect', m, from);
  }

  private onDead(id: MemberId, incarnation: number, from: MemberId, left: boolean): void {
    const m = this.members.get(id);
    if (m === undefined || incarnation < m.incarnation || !isLive(m)) return;
    m.incarnation = incarnation;
    this.clearSuspicion(m);
    this.members.setState(m, left ? 'left' : 'dead', this.nowMs_);
    this.enqueue({ kind: 'dead', id, incarnation, from, left });
    this.emit(left ? 'left' : 'dead', m, from);
  }

  private suspicionExpired(m: Member): void {
    assert(m.state === 'suspect' && m.suspicion !== null, () => `suspicion of ${m.id} expired while ${m.state}`);
    this.stats.deathsDeclared++;
    this.onDead(m.id, m.incarnation, this.id, false);
  }

  private clearSuspicion(m: Member): void {
    m.suspicion = null;
    this.suspects.delete(m);
  }

  /** Something said about this node: refute what is false, with a higher incarnation. */
  private aboutSelf(u: Update): void {
    if (this.status_ === 'leaving' || this.status_ === 'left') return;
    if (u.kind === 'alive') {
      // A view of us newer than ours (our previous life, before a restart): outbid it.
      if (u.incarnation > this.incarnation_ || (u.incarnation === this.incarnation_ && !sameMeta(u.meta, this.meta_))) this.refute(u.incarnation);
      return;
    }
    if (u.incarnation >= this.incarnation_) this.refute(u.incarnation);
    else if (this.queue.peek(this.id) === undefined) this.enqueue(this.selfAlive());
  }

  private refute(accused: number): void {
    if (this.options.bugs.noRefute) return;
    if (accused >= U32_MAX) return; // Cannot outbid: the incarnation space is exhausted.
    this.incarnation_ = Math.max(this.incarnation_, accused) + 1;
    this.stats.refutations++;
    // Lifeguard §IV-A: being suspected is a sign this node is slow to answer.
    this.health.apply(1);
    this.enqueue(this.selfAlive());
  }

  private selfAlive(): Update {
    return { kind: 'alive', id: this.id, incarnation: this.incarnation_, meta: this.meta_ };
  }

  private addMember(id: MemberId, incarnation: number, meta: MemberMeta, state: MemberState): boolean {
    if (this.members.size >= this.options.membersMax) {
      this.stats.droppedMembersFull++;
      return false;
    }
    const m: Member = { id, incarnation, state, meta, stateChangeMs: this.nowMs_, lastContactMs: null, suspicion: null, reconnectTriedMs: null };
    this.members.add(m);
    if (state === 'alive') this.emit('join', m, null);
    if (this.status_ === 'alone') this.status_ = 'member';
    return true;
  }

  private emit(type: MemberEvent['type'], m: Member, by: MemberId | null): void {
    this.events.push({ type, id: m.id, incarnation: m.incarnation, meta: m.meta, atMs: this.nowMs_, by });
  }

  // ---------------------------------------------------------------- push-pull and join (memberlist's anti-entropy)

  private pushPullTick(): void {
    this.pushPullAtMs = this.nowMs_ + pushPullIntervalFor(this.options, this.clusterSize);
    const [peer] = this.members.pick(1, (m) => m.state === 'alive');
    if (peer !== undefined) this.sendState(peer.id, false, false);
  }

  /** Serf's reconnect: a full-state exchange with a member believed dead, in case it is not. */
  private reconnectTick(): void {
    this.reconnectAtMs = this.nowMs_ + this.options.reconnectIntervalMs;
    const now = this.nowMs_;
    // The one tried longest ago: with many truly dead members, a live one among them still gets
    // its turn within (dead members × interval).
    const peer = this.members.leastRecentlyTried((m) => m.state === 'dead' && now - m.stateChangeMs <= this.options.reconnectTimeoutMs);
    if (peer === null) return;
    peer.reconnectTriedMs = now;
    this.sendState(peer.id, false, false);
  }

  private onPushPull(from: string, m: Extract<GossipMessage, { type: 'push-pull' }>): void {
    this.merge(m.members, m.source, m.reply && this.status_ === 'joining');
    if (m.reply) {
      if (this.status_ === 'joining') this.status_ = 'member';
      if (this.seeds.length > 0) this.joinRetryAtMs = null;
      return;
    }
    if (!this.takeReplyToken()) {
      this.stats.pushPullLimited++;
      return;
    }
    this.sendState(from, false, true);
  }

  private merge(members: readonly MemberSnapshot[], source: MemberId, quiet: boolean): void {
    for (const s of members) {
      if (s.id === this.id) {
        if (s.state === 'alive') this.aboutSelf({ kind: 'alive', id: s.id, incarnation: s.incarnation, meta: s.meta });
        else this.aboutSelf({ kind: 'suspect', id: s.id, incarnation: s.incarnation, from: source });
        continue;
      }
      const known = this.members.get(s.id);
      if (s.state === 'left') this.onDead(s.id, s.incarnation, source, true);
      else if (s.state === 'alive' || known === undefined) {
        // Another's suspicion of a member we never met is no evidence for us: meet it as alive
        // and let our own probes judge it. A dead one we never met stays unknown.
        if (s.state !== 'dead') this.onAlive(s.id, s.incarnation, s.meta, quiet);
      } else {
        // A remote "dead" is a suspicion here (as memberlist does): the member may still refute.
        this.onSuspect(s.id, s.incarnation, source, true);
      }
    }
  }

  private sendState(to: string, join: boolean, reply: boolean): void {
    const budget = this.options.stateBytesMax - headerSize({ type: 'push-pull', source: this.id, join, reply, members: [] });
    const all = this.snapshot();
    const members: MemberSnapshot[] = [];
    let bytes = 0;
    for (const s of all) {
      bytes += snapshotSize(s);
      if (bytes > budget) {
        this.stats.snapshotsTruncated++;
        break;
      }
      members.push(s);
    }
    this.send(to, { type: 'push-pull', source: this.id, join, reply, members });
  }

  private takeReplyToken(): boolean {
    const rate = this.options.pushPullRepliesPerSecondMax;
    this.replyTokens = Math.min(rate, this.replyTokens + ((this.nowMs_ - this.replyTokensAtMs) * rate) / 1000);
    this.replyTokensAtMs = this.nowMs_;
    if (this.replyTokens < 1) return false;
    this.replyTokens -= 1;
    return true;
  }

  private sendJoin(): void {
    this.joinAttempts++;
    for (const seed of this.seeds) this.sendState(seed, true, false);
    this.joinRetryAtMs = this.joinAttempts < this.options.joinAttemptsMax ? this.nowMs_ + this.options.joinRetryIntervalMs : null;
  }

  private joinRetry(): void {
    this.joinRetryAtMs = null;
    if (this.status_ === 'joining') this.sendJoin();
  }

  private finishLeave(): void {
    this.leaveDeadlineMs = null;
    this.status_ = 'left';
    this.helpers.clear();
  }

  /** Forgets members dead for longer than the tombstone time; ends a leave whose news is out. */
  private reap(): void {
    this.reapAtMs = this.nowMs_ + REAP_INTERVAL_MS;
    const old = this.members.all().filter((m) => !isLive(m) && this.nowMs_ - m.stateChangeMs >= this.options.tombstoneMs);
    for (const m of old) this.members.remove(m.id);
  }

  private nextSeq(): number {
    const s = this.seqNext;
    this.seqNext = (this.seqNext + 1) >>> 0;
    return s;
  }
}

function sameMeta(a: MemberMeta, b: MemberMeta): boolean {
  if (a === b) return true;
  if (a.zone !== b.zone || a.version !== b.version || a.weight !== b.weight || a.addresses.length !== b.addresses.length) return false;
  return a.addresses.every(([n, v], i) => b.addresses[i]![0] === n && b.addresses[i]![1] === v);
}
