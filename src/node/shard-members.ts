import { changeMembers, decodeMemberSet, encodeMemberSet, initialMemberSet, memberSetProblem, type MemberChange, type MemberSet } from '../cluster/placement/members.js';
import { ShardMap } from '../cluster/placement/shard-map.js';
import type { Env } from '../env/env.js';
import { assert } from '../util/assert.js';
import { MEMBER_SET_KEY } from './keyspace.js';
import type { Result } from './protocol.js';
import type { RaftReplica } from './raft-replica.js';
import type { Reply } from './replica.js';
import type { EngineStore } from './store.js';

/**
 * A sharded node's knowledge of the cluster's member set (src/cluster/placement/members.ts) and
 * the placement it implies. The record lives in shard 0's replicated state (MEMBER_SET_KEY), so
 * it survives any minority of failures and moves with shard 0 like any data; an operator's join
 * or remove is a write to it, made by shard 0's leader. Every node adopts the highest epoch it
 * hears of — from its own replica of shard 0, or pushed by a peer — and since only committed
 * records are ever read or pushed, an epoch once seen is final; placement follows from it.
 *
 * Push: every PUSH_MS a node that knows a record sends it to PUSH_FANOUT peers at random, and a
 * node that adopts a new epoch sends it to every peer it knows at once (epidemic spreading: every
 * node learns within a few rounds, even those that hold no replica of shard 0).
 *
 * `learned`: false until this life of the node has seen a record. A node that has not may not
 * move replicas: its configured first member set could be many epochs old.
 */
export const PUSH_MS = 300;
export const PUSH_FANOUT = 2;

export interface MembersHost {
  /** Shard 0's replica and store here, if hosted and running. */
  shard0(): { replica: RaftReplica; store: EngineStore } | null;
}

export class ShardMembers {
  private current: MemberSet;
  /** The founding member set (epoch 0); null on a node that joined by gossip and never knew it. */
  private readonly firstSet: MemberSet | null;
  private placement: ShardMap;
  learned = false;
  /** Every node ever seen in a member set: peers whose frames this node accepts. */
  private readonly known = new Set<string>();

  /**
   * `first` null: a node that joins by gossip (`serve --shards --join`) and knows neither the
   * founding members nor the member set yet. Until it learns one (a member's push, after it asked
   * to join: ShardedReplica.askToJoin) it holds a placeholder set of itself at epoch -1 — any
   * record is newer — whose placement is never used: such a node routes nothing (`unavailable`)
   * and moves nothing (`learned` is false).
   */
  constructor(
    private readonly env: Env,
    first: readonly string[] | null,
    private readonly options: { shards: number; replicas: number },
    private readonly host: MembersHost,
  ) {
    if (first === null) {
      this.current = { epoch: -1, members: [env.id] };
      this.placement = ShardMap.build([env.id], { shards: options.shards, replicas: 1 });
      this.firstSet = null;
    } else {
      this.current = initialMemberSet(first);
      this.placement = ShardMap.build(this.current.members, options);
      this.firstSet = this.current;
      for (const n of first) this.known.add(n);
    }
  }

  get map(): ShardMap {
    return this.placement;
  }

  get epoch(): number {
    return this.current.epoch;
  }

  get members(): readonly string[] {
    return this.current.members;
  }

  /** Nodes this node accepts peer frames from (every member of any epoch seen), sorted. */
  peers(): string[] {
    return [...this.known].sort();
  }

  /** Adopts `m` if newer; whether placement changed. */
  adopt(m: MemberSet, source: string): boolean {
    assert(memberSetProblem(m) === null, 'an adopted member set is valid');
    for (const n of m.members) this.known.add(n);
    this.learned = true;
    if (m.epoch <= this.current.epoch) return false;
    this.current = { epoch: m.epoch, members: [...m.members] };
    this.placement = ShardMap.build(this.current.members, this.options);
    this.env.log.log('info', 'shards.members', { epoch: m.epoch, members: m.members.join(','), from: source });
    this.pushAll();
    return true;
  }

  /** Reads the record in this node's replica of shard 0, if any (called after applies, cheaply). */
  readLocal(): void {
    const s0 = this.host.shard0();
    const raw = s0?.store.view.get(MEMBER_SET_KEY);
    if (raw === undefined || raw === null) return;
    const m = decodeMemberSet(raw);
    if (m.epoch > this.current.epoch || !this.learned) this.adopt(m, 'shard 0');
  }

  // ---- push ----

  /** A push of this node's member set to one node (a joiner that asked: ShardedReplica.joinRequest). */
  pushTo(to: string): void {
    if (this.learned && to !== this.env.id) this.env.net.send(to, this.frame());
  }

  private frame(): Uint8Array {
    return utf8.encode(`{"kind":"placement","set":${encodeMemberSet(this.current)}}`);
  }

  /** One round of spreading: a few peers at random. */
  pushSome(): void {
    if (!this.learned) return;
    const others = this.peers().filter((n) => n !== this.env.id);
    const frame = this.frame();
    for (const to of this.env.rng.shuffled(others).slice(0, PUSH_FANOUT)) this.env.net.send(to, frame);
  }

  private pushAll(): void {
    const frame = this.frame();
    for (const to of this.peers()) if (to !== this.env.id) this.env.net.send(to, frame);
  }

  /** A peer's push: `{kind: 'placement', set: {epoch, members}}`. */
  receive(from: string, body: Record<string, unknown>): void {
    let m: MemberSet;
    try {
      m = decodeMemberSet(JSON.stringify(body.set));
    } catch (err) {
      this.env.log.log('warn', 'shards.bad_members', { from, error: (err as Error).message });
      return;
    }
    this.adopt(m, from);
  }

  // ---- operators ----

  /**
   * An operator's join or remove: made by shard 0's leader, which writes the next record over the
   * one it has applied (placement.set, applied only over the epoch it builds on); elsewhere
   * refused `not_leader` naming shard 0's leader or one of its replicas.
   */
  request(change: MemberChange, reply: Reply): void {
    const s0 = this.host.shard0();
    const soft = s0?.replica.raftNode?.softState() ?? null;
    if (s0 === null || soft === null || soft.role !== 'leader') {
      const leader = soft?.leader ?? this.placement.replicas(0).find((n) => n !== this.env.id) ?? null;
      return reply({ ok: false, code: 'not_leader', message: `the member set is changed by shard 0's leader${leader !== null ? `; try ${leader}` : ''}`, ...(leader !== null ? { leader } : {}) });
    }
    const raw = s0.store.view.get(MEMBER_SET_KEY);
    const applied = raw === undefined || raw === null ? this.firstSet : decodeMemberSet(raw);
    // A node that joined by gossip holds shard 0 only after a record was written (its own join wrote one).
    if (applied === null) return reply({ ok: false, code: 'unavailable', message: `${this.env.id} does not know the founding members and shard 0 holds no member set yet` });
    const r = changeMembers(applied, change, this.options);
    if (!r.ok) return reply({ ok: false, code: 'bad_request', message: r.error });
    if (!r.changed) return reply(answer(applied));
    s0.replica.submit({ kind: 'req', client: '', seq: 0, ackSeq: 0, db: '', op: { f: 'placement.set', epoch: r.next.epoch, members: [...r.next.members] }, once: true }, (res) => {
      if (res.ok) this.adopt(r.next, 'operator');
      reply(res.ok ? answer(r.next) : res);
    });
  }
}

function answer(m: MemberSet): Result {
  return { ok: true, value: { epoch: m.epoch, members: [...m.members] } };
}

const utf8 = new TextEncoder();
