import type { Rng } from '../../env/rng.js';
import { assert } from '../../util/assert.js';
import type { Suspicion } from './suspicion.js';
import type { MemberId, MemberMeta, MemberState } from './types.js';

/** What this node knows of one other member. */
export interface Member {
  readonly id: MemberId;
  incarnation: number;
  state: MemberState;
  meta: MemberMeta;
  /** When `state` last changed, on this node's monotonic clock. */
  stateChangeMs: number;
  /** When this node last received a frame from the member; null: never. */
  lastContactMs: number | null;
  /** The running suspicion while `state` is 'suspect'. */
  suspicion: Suspicion | null;
  /** When this node last tried to reconnect to the member while it was dead; null: never. */
  reconnectTriedMs: number | null;
}

/** A member that can be probed or gossiped to: believed up. */
export function isLive(m: Member): boolean {
  return m.state === 'alive' || m.state === 'suspect';
}

/**
 * The member table: lookup by id, uniform random picks, and SWIM's randomised round-robin probe
 * order (§4.3: every member is probed once per round, in an order shuffled each round, new
 * members inserted at a random place), which bounds the time until a failed member is first
 * probed by any one prober to 2N − 1 periods.
 */
export class MemberTable {
  private readonly byId = new Map<MemberId, Member>();
  /** Every member, in no particular order, for O(1) random picks; `slot` maps id → index. */
  private readonly list: Member[] = [];
  private readonly slot = new Map<MemberId, number>();
  private probeOrder: MemberId[] = [];
  private probeIndex = 0;
  private readonly inProbeOrder = new Set<MemberId>();
  private live_ = 0;

  constructor(private readonly rng: Rng) {}

  get size(): number {
    return this.list.length;
  }

  /** Members alive or suspect (not counting this node). */
  get live(): number {
    return this.live_;
  }

  get(id: MemberId): Member | undefined {
    return this.byId.get(id);
  }

  all(): readonly Member[] {
    return this.list;
  }

  add(m: Member): void {
    assert(!this.byId.has(m.id), () => `member ${m.id} added twice`);
    this.byId.set(m.id, m);
    this.slot.set(m.id, this.list.length);
    this.list.push(m);
    if (isLive(m)) this.live_++;
    this.enterProbeOrder(m.id);
  }

  /** Changes a member's state, keeping the live count and the probe order right. */
  setState(m: Member, state: MemberState, nowMs: number): void {
    const was = isLive(m);
    m.state = state;
    m.stateChangeMs = nowMs;
    const is = isLive(m);
    if (was !== is) this.live_ += is ? 1 : -1;
    if (is) this.enterProbeOrder(m.id);
    assert(this.live_ >= 0 && this.live_ <= this.list.length, 'live member count out of range');
  }

  remove(id: MemberId): void {
    const m = this.byId.get(id);
    const at = this.slot.get(id);
    assert(m !== undefined && at !== undefined, () => `removing unknown member ${id}`);
    if (isLive(m)) this.live_--;
    const last = this.list.pop() as Member;
    if (last !== m) {
      this.list[at] = last;
      this.slot.set(last.id, at);
    }
    this.byId.delete(id);
    this.slot.delete(id);
    // The probe order drops it at its next reshuffle.
  }

  /**
   * Up to k distinct members satisfying `ok`, at random: first by random draws (cheap when most
   * members qualify, as in memberlist's kRandomNodes), then, if that fell short, by one pass over
   * the table from a random place, so that a qualifying member is never missed by bad luck.
   */
  pick(k: number, ok: (m: Member) => boolean): Member[] {
    const out: Member[] = [];
    const n = this.list.length;
    if (n === 0) return out;
    for (let tries = 0; tries < 2 * k && out.length < k; tries++) {
      const m = this.list[this.rng.int(n)] as Member;
      if (ok(m) && !out.includes(m)) out.push(m);
    }
    if (out.length < k) {
      const start = this.rng.int(n);
      for (let i = 0; i < n && out.length < k; i++) {
        const m = this.list[(start + i) % n] as Member;
        if (ok(m) && !out.includes(m)) out.push(m);
      }
    }
    assert(out.length <= k, 'picked too many members');
    return out;
  }

  /**
   * Of the members satisfying `ok`, the one tried longest ago (never tried first), scanning from a
   * random place so that ties go to a random one. Every candidate gets its turn.
   */
  leastRecentlyTried(ok: (m: Member) => boolean): Member | null {
    const n = this.list.length;
    if (n === 0) return null;
    const start = this.rng.int(n);
    let best: Member | null = null;
    for (let i = 0; i < n; i++) {
      const m = this.list[(start + i) % n] as Member;
      if (!ok(m)) continue;
      if (best === null || (m.reconnectTriedMs ?? -Infinity) < (best.reconnectTriedMs ?? -Infinity)) best = m;
    }
    return best;
  }

  /** The next member to probe, or null when none is live. */
  nextProbeTarget(): Member | null {
    for (let tries = 0; tries <= this.probeOrder.length; tries++) {
      if (this.probeIndex >= this.probeOrder.length && !this.reshuffle()) return null;
      const id = this.probeOrder[this.probeIndex++] as MemberId;
      const m = this.byId.get(id);
      if (m !== undefined && isLive(m)) return m;
    }
    return null;
  }

  private reshuffle(): boolean {
    const keep = this.probeOrder.filter((id) => {
      const m = this.byId.get(id);
      const live = m !== undefined && isLive(m);
      if (!live) this.inProbeOrder.delete(id);
      return live;
    });
    this.probeOrder = this.rng.shuffled(keep);
    this.probeIndex = 0;
    assert(this.inProbeOrder.size === this.probeOrder.length, 'probe order and its index disagree');
    return this.probeOrder.length > 0;
  }

  private enterProbeOrder(id: MemberId): void {
    if (this.inProbeOrder.has(id)) return;
    this.inProbeOrder.add(id);
    // A random place among the rest of this round or the next: appending would put every new
    // member last and lengthen the time to its first probe (SWIM §4.3).
    const at = this.probeIndex + this.rng.int(this.probeOrder.length - this.probeIndex + 1);
    this.probeOrder.splice(at, 0, id);
  }
}
