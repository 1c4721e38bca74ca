import type { Env } from '../../env/env.js';
import type { Timer } from '../../env/clock.js';
import type { EngineDeps } from '../../storage/engine.js';
import { FSYNC_ALWAYS } from '../../storage/fsync-policy.js';
import { Wal, WAL_DEFAULTS } from '../../storage/wal/wal.js';
import { assert } from '../../util/assert.js';
import { decodeJson, encodeJson } from '../raft-runtime/codec.js';

/**
 * Leader→follower log shipping, the seed projects' replication, kept as a lab subject.
 *
 * The leader appends each command to its write-ahead log with a sequence number, applies it,
 * answers the client — and only afterwards ships records to the followers, in batches,
 * asynchronously. A follower appends what it receives to its own log and applies it; after a
 * restart it asks for everything after its last sequence number. Failover is explicit: an operator promotes a
 * follower, which starts a new epoch; nodes follow the highest epoch they have seen.
 *
 * What this design gives up, and the lab shows (scenarios/primary/):
 * - acknowledged writes the leader had not shipped are lost when a follower is promoted;
 * - followers answer reads from whatever they have applied: stale reads;
 * - after a failover, a follower that had received records the new leader never had keeps them
 *   (its sequence numbers are "ahead"), so replicas diverge silently.
 * Raft (src/replication/raft) closes each of these holes.
 */

/** A shipped record: its sequence number (the leader's LSN) and the command's bytes. */
export interface ShippedRecord {
  seq: number;
  data: Uint8Array;
}

/** On the wire and in the log, a record's data is base64. */
interface WireRecord {
  seq: number;
  data: string;
}

const toWire = (r: ShippedRecord): WireRecord => ({ seq: r.seq, data: Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength).toString('base64') });
const fromWire = (w: WireRecord): ShippedRecord => ({ seq: w.seq, data: new Uint8Array(Buffer.from(w.data, 'base64')) });

export type ShippingMessage =
  | { kind: 'ship'; epoch: number; leader: string; records: WireRecord[] }
  | { kind: 'catchup'; epoch: number; from: number };

export interface ShippingOptions {
  /** The leader ships pending records this often (and heartbeats when there are none). */
  shipIntervalMs: number;
  /** Most records in one shipment. */
  batchRecordsMax: number;
  dir: string;
}

export interface ShippingHooks {
  /** Applies a command, in sequence order; called for the leader's own commands too (at append). */
  apply(seq: number, data: Uint8Array): void;
  /** Role or leader changed. */
  onRole(role: 'leader' | 'follower', leader: string | null, epoch: number): void;
  onFatal(err: Error): void;
}

const RECORD_COMMAND = 1;
const RECORD_EPOCH = 2;

export class LogShipping {
  role: 'leader' | 'follower';
  leader: string | null;
  epoch = 0;
  /** Sequence number of the last command applied (= last LSN of a command record). */
  lastSeq = 0;
  private timer: Timer | null = null;
  private stopped = false;
  /** Per follower, the next sequence number to send (leaders only). */
  private readonly nextSeq = new Map<string, number>();
  /**
   * Every command this node holds, by sequence number (records[seq - 1]): what a leader ships and
   * what a follower catching up is sent. In memory, which bounds the log this lab subject keeps.
   */
  private readonly records: Uint8Array[] = [];
  /** Sequence number of the first command not yet shipped to anyone. */
  private firstUnshipped = 1;

  private constructor(
    private readonly env: Env,
    private readonly options: ShippingOptions,
    private readonly members: readonly string[],
    private readonly wal: Wal,
    private readonly hooks: ShippingHooks,
    initialLeader: string,
  ) {
    this.leader = initialLeader;
    this.role = initialLeader === env.id ? 'leader' : 'follower';
  }

  /**
   * Recovers the log, re-applying every command in it (the state machine is rebuilt from the log
   * on every start), then starts shipping or following.
   */
  static start(env: Env, options: ShippingOptions, members: readonly string[], initialLeader: string, hooks: ShippingHooks, done: (err: Error | null, s?: LogShipping) => void): void {
    const deps: EngineDeps = { disk: env.disk, clock: env.clock, log: env.log };
    const replay: { type: number; body: unknown }[] = [];
    Wal.open(
      deps,
      { dir: options.dir, fsync: FSYNC_ALWAYS, fromLsn: null, ...WAL_DEFAULTS },
      (r) => replay.push({ type: r.type, body: decodeJson(r.data) }),
      (err, wal) => {
        if (err !== null || wal === undefined) return done(err ?? new Error('shipping log did not open'));
        const s = new LogShipping(env, options, members, wal, hooks, initialLeader);
        for (const r of replay) {
          if (r.type === RECORD_EPOCH) {
            const e = r.body as { epoch: number; leader: string };
            s.epoch = e.epoch;
            s.leader = e.leader;
            s.role = e.leader === env.id ? 'leader' : 'follower';
          } else {
            const c = fromWire(r.body as WireRecord);
            assert(c.seq === s.lastSeq + 1, () => `shipping log: command ${c.seq} after ${s.lastSeq}`);
            s.hold(c);
            hooks.apply(c.seq, c.data);
          }
        }
        s.firstUnshipped = s.lastSeq + 1;
        s.schedule();
        hooks.onRole(s.role, s.leader, s.epoch);
        if (s.role === 'follower' && s.leader !== null) s.send(s.leader, { kind: 'catchup', epoch: s.epoch, from: s.lastSeq + 1 });
        done(null, s);
      },
    );
  }

  /**
   * The leader's write path: append the command durably, apply it, then call done (the client is
   * answered there). Shipping happens later, on the timer.
   */
  append(data: Uint8Array, done: (err: Error | null, seq: number) => void): void {
    assert(this.role === 'leader', 'only the leader appends');
    const record = { seq: this.lastSeq + 1, data };
    this.wal.append(RECORD_COMMAND, encodeJson(toWire(record)), (err) => {
      if (err !== null) this.hooks.onFatal(err);
      done(err, record.seq);
    });
    this.hold(record);
    this.hooks.apply(record.seq, data);
  }

  private hold(r: ShippedRecord): void {
    assert(r.seq === this.records.length + 1, () => `holding command ${r.seq} after ${this.records.length}`);
    this.records.push(r.data);
    this.lastSeq = r.seq;
  }

  receive(from: string, m: ShippingMessage): void {
    if (this.stopped) return;
    switch (m.kind) {
      case 'ship':
        return this.onShip(from, m);
      case 'catchup':
        return this.onCatchup(from, m);
    }
  }

  private onShip(from: string, m: Extract<ShippingMessage, { kind: 'ship' }>): void {
    if (m.epoch < this.epoch) return;
    if (m.epoch > this.epoch || this.leader !== m.leader) this.follow(m.epoch, m.leader);
    for (const w of m.records) {
      const r = fromWire(w);
      // Records at or below what we hold are skipped, even when the new leader's content differs:
      // the seeds' design has no way to notice. That is the divergence the lab shows.
      if (r.seq <= this.lastSeq) continue;
      if (r.seq > this.lastSeq + 1) {
        this.send(from, { kind: 'catchup', epoch: this.epoch, from: this.lastSeq + 1 });
        return;
      }
      this.wal.append(RECORD_COMMAND, encodeJson(w), (err) => {
        if (err !== null) this.hooks.onFatal(err);
      });
      this.hold(r);
      this.hooks.apply(r.seq, r.data);
    }
  }

  private onCatchup(from: string, m: Extract<ShippingMessage, { kind: 'catchup' }>): void {
    if (this.role !== 'leader' || !this.members.includes(from)) return;
    this.nextSeq.set(from, Math.max(1, m.from));
  }

  /** An operator's failover: this node leads a new epoch. */
  promote(): void {
    this.epoch++;
    this.leader = this.env.id;
    this.role = 'leader';
    this.wal.append(RECORD_EPOCH, encodeJson({ epoch: this.epoch, leader: this.env.id }));
    this.nextSeq.clear();
    this.firstUnshipped = this.lastSeq + 1;
    this.env.log.log('info', 'primary.promoted', { epoch: this.epoch, lastSeq: this.lastSeq });
    this.hooks.onRole('leader', this.env.id, this.epoch);
  }

  private follow(epoch: number, leader: string): void {
    this.epoch = epoch;
    this.leader = leader;
    if (this.role === 'leader') this.env.log.log('info', 'primary.demoted', { epoch, leader });
    this.role = 'follower';
    this.wal.append(RECORD_EPOCH, encodeJson({ epoch, leader }));
    this.hooks.onRole('follower', leader, epoch);
  }

  private schedule(): void {
    this.timer = this.env.clock.timer(this.options.shipIntervalMs, () => {
      if (this.stopped) return;
      if (this.role === 'leader') this.ship();
      this.schedule();
    });
  }

  private ship(): void {
    for (const peer of this.members) {
      if (peer === this.env.id) continue;
      // Fire and forget: a follower that misses a shipment notices the gap and asks (catchup).
      const from = this.nextSeq.get(peer) ?? this.firstUnshipped;
      const to = Math.min(this.lastSeq, from + this.options.batchRecordsMax - 1);
      const records: WireRecord[] = [];
      for (let seq = from; seq <= to; seq++) records.push(toWire({ seq, data: this.records[seq - 1] as Uint8Array }));
      this.nextSeq.set(peer, to + 1);
      this.send(peer, { kind: 'ship', epoch: this.epoch, leader: this.env.id, records });
    }
    this.firstUnshipped = this.lastSeq + 1;
  }

  private send(to: string, m: ShippingMessage): void {
    this.env.net.send(to, encodeJson(m));
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.wal.close(() => {});
  }
}
