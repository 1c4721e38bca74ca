import { assert } from '../../util/assert.js';
import type { MemberId, Update } from './types.js';

/**
 * The updates waiting to be piggybacked, at most one per member (a newer fact about a member
 * replaces the older one: gossiping both would only waste bytes). Each is sent until it has gone
 * out `limit` times (retransmitMult × ceil(log10(N + 1)), SWIM §4.1's λ log N), those sent the
 * fewest times first and, among equals, the newest first, as memberlist's queue orders them:
 * fresh news spreads before old news is repeated.
 *
 * Layout: one stack per transmit count; an entry is live while it is its member's current item at
 * that count. Replaced or moved entries are left behind and skipped when met (lazy deletion); the
 * stacks are compacted when the dead weight grows past the live entries.
 */

interface Item {
  readonly update: Update;
  transmits: number;
}

/** Entries that do not fit the remaining bytes are set aside and retried; at most this many per level. */
const SKIPS_PER_LEVEL_MAX = 8;

export class BroadcastQueue {
  private readonly byMember = new Map<MemberId, Item>();
  private levels: Item[][] = [];
  private entries = 0;

  get size(): number {
    return this.byMember.size;
  }

  /** Queues `update`, replacing anything queued about the same member. */
  enqueue(update: Update): void {
    const item: Item = { update, transmits: 0 };
    this.byMember.set(update.id, item);
    this.push(item);
    if (this.entries > 2 * this.byMember.size + 64) this.compact();
    assert(this.byMember.get(update.id) === item, 'enqueue lost its item');
  }

  /** The queued update about `id`, if any. */
  peek(id: MemberId): Update | undefined {
    return this.byMember.get(id)?.update;
  }

  /**
   * Updates for one frame, at most `budgetBytes` of them by `sizeOf` and at most `countMax`; each
   * counts as transmitted once, and leaves the queue at its `limit`-th transmission.
   */
  take(budgetBytes: number, countMax: number, limit: number, sizeOf: (u: Update) => number): Update[] {
    assert(limit >= 1, () => `retransmit limit ${limit}`);
    const out: Update[] = [];
    // Taken items move up a level only after this frame is full: one frame carries an update once.
    const sent: Item[] = [];
    let budget = budgetBytes;
    for (let level = 0; level < this.levels.length && out.length < countMax && budget > 0; level++) {
      const stack = this.levels[level] as Item[];
      const skipped: Item[] = [];
      while (stack.length > 0 && out.length < countMax && skipped.length < SKIPS_PER_LEVEL_MAX) {
        const item = stack.pop() as Item;
        this.entries--;
        if (!this.live(item, level)) continue;
        if (item.transmits >= limit) {
          // The limit fell (fewer members): this one has been sent enough.
          this.byMember.delete(item.update.id);
          continue;
        }
        const size = sizeOf(item.update);
        if (size > budget) {
          skipped.push(item);
          continue;
        }
        budget -= size;
        out.push(item.update);
        sent.push(item);
      }
      for (let i = skipped.length - 1; i >= 0; i--) this.push(skipped[i] as Item);
    }
    // In reverse, so that the newest lands on top of its next stack again.
    for (let i = sent.length - 1; i >= 0; i--) {
      const item = sent[i] as Item;
      item.transmits++;
      if (item.transmits >= limit) this.byMember.delete(item.update.id);
      else this.push(item);
    }
    assert(budget >= 0, 'take overspent its budget');
    assert(new Set(out).size === out.length, 'a frame carries an update twice');
    return out;
  }

  private live(item: Item, level: number): boolean {
    return item.transmits === level && this.byMember.get(item.update.id) === item;
  }

  private push(item: Item): void {
    while (this.levels.length <= item.transmits) this.levels.push([]);
    (this.levels[item.transmits] as Item[]).push(item);
    this.entries++;
  }

  private compact(): void {
    const levels = this.levels;
    this.levels = [];
    this.entries = 0;
    levels.forEach((stack, level) => {
      for (const item of stack) if (this.live(item, level)) this.push(item);
    });
    assert(this.entries === this.byMember.size, () => `compaction kept ${this.entries} entries for ${this.byMember.size} items`);
  }
}
