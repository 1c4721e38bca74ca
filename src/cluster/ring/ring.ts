import { assert } from '../../util/assert.js';
import { hashText } from './hash.js';

/**
 * A consistent-hash ring with virtual nodes (Karger et al. 1997; Dynamo §4.2): every member owns
 * `vnodes × weight` tokens, points on a 32-bit circle placed by hashing "<id>#<i>"; a key belongs
 * to the token at or after its position, and its preference list is the first `n` distinct
 * members from there on (Dynamo §4.3). Tokens depend on the member alone, so any process that
 * knows the member list (from gossip) builds the same ring, and a join or leave moves only the
 * keys of the tokens that appear or disappear.
 *
 * Multi-probe lookup (Appleton and O'Reilly, "Multi-probe consistent hashing", 2015): a key is
 * hashed `probes` times; it takes the probe that lands closest before a token. Random tokens alone
 * leave each member's share with a relative spread of about 1/sqrt(vnodes) (6% at 256 vnodes:
 * the sum of 256 random arc lengths); with several probes a long arc no longer wins in proportion
 * to its length, and the spread at 10 members × 256 vnodes falls from ~6% to ~2.5% with 3 probes
 * (measured by `kv-lab ring`, README.md). The lookup stays consistent: a new token can only win
 * keys (they move to the new member), a removed one only lose them. probes = 1 is the classic ring.
 *
 * Position conventions: token positions and key hashes are uint32; token indexes are into the
 * sorted token table; member indexes are into `members`, which is sorted by id.
 */

export interface RingMember {
  readonly id: string;
  /** Relative capacity; the member gets round(vnodes × weight) tokens (at least one). Default 1. */
  readonly weight?: number;
  /** Failure domain for zone-aware preference lists. Default ''. */
  readonly zone?: string;
}

export interface RingOptions {
  /** Tokens per member of weight 1. */
  readonly vnodes: number;
  /** Hashes per key; the closest wins (see above). 1 = a classic ring. */
  readonly probes: number;
}

export const DEFAULT_RING_OPTIONS: RingOptions = Object.freeze({ vnodes: 256, probes: 3 });

export const RING_MEMBERS_MAX = 10_000;
export const RING_VNODES_MAX = 4096;
export const RING_PROBES_MAX = 16;
export const RING_WEIGHT_MAX = 100;
/** Token positions and indexes are packed into one float64 for sorting: index < 2^21. */
export const RING_TOKENS_MAX = (1 << 21) - 1;
const MEMBER_ID = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$/;
const TWO_32 = 0x1_0000_0000;

/** The hashes of one key, one per probe: compute once, look up in many rings. */
export function keyProbes(key: string, probes: number): Uint32Array {
  const out = new Uint32Array(probes);
  for (let p = 0; p < probes; p++) out[p] = hashText(key, p);
  return out;
}

export class Ring {
  /** Sorted by id. */
  readonly members: readonly Required<RingMember>[];
  readonly options: RingOptions;
  /** Token positions, ascending. */
  private readonly positions: Uint32Array;
  /** The member index of each token. */
  private readonly owners: Int32Array;
  private readonly indexById: Map<string, number>;

  private constructor(members: Required<RingMember>[], options: RingOptions, positions: Uint32Array, owners: Int32Array) {
    this.members = members;
    this.options = options;
    this.positions = positions;
    this.owners = owners;
    this.indexById = new Map(members.map((m, i) => [m.id, i]));
  }

  /** Builds the ring of `members`. Throws RangeError, naming the problem, on bad input. */
  static build(members: readonly RingMember[], options: Partial<RingOptions> = {}): Ring {
    const o: RingOptions = { ...DEFAULT_RING_OPTIONS, ...options };
    const problem = validateRing(members, o);
    if (problem !== null) throw new RangeError(`invalid ring: ${problem}`);
    const sorted = members.map((m) => ({ id: m.id, weight: m.weight ?? 1, zone: m.zone ?? '' })).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const counts = sorted.map((m) => tokenCount(o.vnodes, m.weight));
    const total = counts.reduce((a, b) => a + b, 0);
    // Pack (position, global token number) into one exact float64 so a numeric sort orders by
    // position and breaks ties the same way everywhere (by member id, then token number).
    const packed = new Float64Array(total);
    const memberOf = new Int32Array(total);
    let g = 0;
    sorted.forEach((m, mi) => {
      for (let i = 0; i < (counts[mi] as number); i++, g++) {
        packed[g] = hashText(`${m.id}#${i}`) * (RING_TOKENS_MAX + 1) + g;
        memberOf[g] = mi;
      }
    });
    packed.sort();
    const positions = new Uint32Array(total);
    const owners = new Int32Array(total);
    for (let t = 0; t < total; t++) {
      const v = packed[t] as number;
      const gi = v % (RING_TOKENS_MAX + 1);
      positions[t] = (v - gi) / (RING_TOKENS_MAX + 1);
      owners[t] = memberOf[gi] as number;
    }
    assert(total === 0 || positions[0]! <= positions[total - 1]!, 'ring tokens are not sorted');
    return new Ring(sorted, Object.freeze(o), positions, owners);
  }

  get tokenCount(): number {
    return this.positions.length;
  }

  indexOf(id: string): number | undefined {
    return this.indexById.get(id);
  }

  /** The token a key (given by its probe hashes) lands on. REQUIRES: a non-empty ring. */
  locate(probes: Uint32Array): number {
    assert(probes.length >= this.options.probes, () => `locate needs ${this.options.probes} probe hashes, got ${probes.length}`);
    return this.locateAt(probes, 0);
  }

  /** locate() of the probe hashes at hashes[offset …] (a KeySet's layout, without a subarray). */
  locateAt(hashes: Uint32Array, offset: number): number {
    assert(this.positions.length > 0, 'locate on an empty ring');
    let best = 0;
    let bestDistance = Infinity;
    for (let p = 0; p < this.options.probes; p++) {
      const h = hashes[offset + p] as number;
      const t = this.successor(h);
      let d = (this.positions[t] as number) - h;
      if (d < 0) d += TWO_32;
      if (d < bestDistance) {
        bestDistance = d;
        best = t;
      }
    }
    return best;
  }

  /** The member index owning a token. */
  ownerOfToken(token: number): number {
    return this.owners[token] as number;
  }

  /** The member owning `key`. */
  owner(key: string): string {
    return this.memberAt(this.ownerOfToken(this.locate(keyProbes(key, this.options.probes))));
  }

  memberAt(index: number): string {
    const m = this.members[index];
    assert(m !== undefined, () => `no member at index ${index}`);
    return m.id;
  }

  /**
   * The first `n` distinct members at or after the key's token. With `zones`, members of a zone
   * not yet in the list come first: the walk takes a member only if its zone is new, and only when
   * every zone is used does a second walk fill the list with the remaining members in ring order.
   */
  preferenceList(key: string, n: number, zones = false): string[] {
    return this.preferenceFromToken(this.locate(keyProbes(key, this.options.probes)), n, zones).map((i) => this.memberAt(i));
  }

  /** preferenceList by token, as member indexes. */
  preferenceFromToken(token: number, n: number, zones = false): number[] {
    assert(Number.isInteger(n) && n >= 1, () => `a preference list needs n >= 1, got ${n}`);
    const want = Math.min(n, this.members.length);
    const picked: number[] = [];
    if (zones) this.walk(token, want, picked, true);
    this.walk(token, want, picked, false);
    assert(picked.length === want, () => `preference list has ${picked.length} members, wanted ${want}`);
    return picked;
  }

  private walk(token: number, want: number, picked: number[], newZonesOnly: boolean): void {
    const total = this.positions.length;
    const usedZones = new Set(picked.map((i) => this.members[i]!.zone));
    for (let step = 0; step < total && picked.length < want; step++) {
      const mi = this.owners[(token + step) % total] as number;
      if (picked.includes(mi)) continue;
      const zone = this.members[mi]!.zone;
      if (newZonesOnly && usedZones.has(zone)) continue;
      picked.push(mi);
      usedZones.add(zone);
    }
  }

  /** A short text that two rings share exactly when they place every key the same way. */
  describe(): string {
    const m = this.members.map((x) => `${x.id}:${x.weight}:${x.zone}`).join(',');
    return `v${this.options.vnodes}p${this.options.probes}[${m}]`;
  }

  /** The first token at or after `h`, wrapping to 0. */
  private successor(h: number): number {
    const pos = this.positions;
    let lo = 0;
    let hi = pos.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((pos[mid] as number) < h) lo = mid + 1;
      else hi = mid;
    }
    return lo === pos.length ? 0 : lo;
  }
}

export function tokenCount(vnodes: number, weight: number): number {
  return Math.max(1, Math.round(vnodes * weight));
}

/** What is wrong with a ring of `members` under `o`, or null. */
export function validateRing(members: readonly RingMember[], o: RingOptions): string | null {
  if (!Number.isInteger(o.vnodes) || o.vnodes < 1 || o.vnodes > RING_VNODES_MAX) return `vnodes must be an integer in [1, ${RING_VNODES_MAX}], got ${o.vnodes}`;
  if (!Number.isInteger(o.probes) || o.probes < 1 || o.probes > RING_PROBES_MAX) return `probes must be an integer in [1, ${RING_PROBES_MAX}], got ${o.probes}`;
  if (members.length > RING_MEMBERS_MAX) return `at most ${RING_MEMBERS_MAX} members, got ${members.length}`;
  const seen = new Set<string>();
  let tokens = 0;
  for (const m of members) {
    if (typeof m.id !== 'string' || !MEMBER_ID.test(m.id)) return `member id ${JSON.stringify(m.id)} is not 1-128 letters, digits or _.:@-`;
    if (seen.has(m.id)) return `member ${m.id} appears twice`;
    seen.add(m.id);
    const w = m.weight ?? 1;
    if (typeof w !== 'number' || !(w > 0) || w > RING_WEIGHT_MAX) return `member ${m.id}: weight must be in (0, ${RING_WEIGHT_MAX}], got ${String(w)}`;
    if (m.zone !== undefined && (typeof m.zone !== 'string' || m.zone.length > 64)) return `member ${m.id}: zone must be a string of at most 64 characters`;
    tokens += tokenCount(o.vnodes, w);
  }
  if (tokens > RING_TOKENS_MAX) return `${tokens} tokens in all; at most ${RING_TOKENS_MAX} (fewer members, vnodes or smaller weights)`;
  return null;
}
