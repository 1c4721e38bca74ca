import { assert } from '../../util/assert.js';
import { EMPTY_MEMBERSHIP, encodeMembership, makeMembership } from './membership.js';
import type { RaftStorage } from './storage.js';
import {
  EMPTY_HARD_STATE,
  entryBytes,
  type Entry,
  type HardState,
  type Index,
  type Membership,
  type NodeId,
  type Snapshot,
  type SnapshotMeta,
  type Term,
} from './types.js';

/**
 * RaftStorage in memory, for tests and the harness: the "disk" a crashed node restarts from. The
 * write methods are the operations a runtime performs on its WAL while carrying out a Ready.
 *
 * Index convention: entries[i] has log position offsetIndex + 1 + i; offsetIndex = firstIndex - 1,
 * whose term is offsetTerm.
 */
export class MemoryRaftStorage implements RaftStorage {
  private hard: HardState = EMPTY_HARD_STATE;
  private snap: Snapshot = emptySnapshot();
  private offsetIndex: Index = 0;
  private offsetTerm: Term = 0;
  private ents: Entry[] = [];

  /**
   * The storage of an original member of a new cluster: one config entry at index 1, term 1,
   * holding the initial voters, committed. Every original member must start from the same one, so
   * that their logs match at index 1; a node that joins later starts empty and receives it from
   * the leader (as etcd bootstraps its clusters).
   */
  static bootstrap(voters: readonly NodeId[]): MemoryRaftStorage {
    const s = new MemoryRaftStorage();
    const [first, hard] = bootstrapState(makeMembership(voters));
    s.append([first]);
    s.setHardState(hard);
    return s;
  }

  /**
   * A storage rebuilt from a checkpoint: the snapshot, the compaction boundary (which may sit
   * below the snapshot, keeping a tail of entries for slow followers), the entries after it and
   * the hard state. What a WAL-backed storage recovers from its checkpoint record.
   */
  static restore(parts: { snapshot: Snapshot; offsetIndex: Index; offsetTerm: Term; entries: readonly Entry[]; hardState: HardState }): MemoryRaftStorage {
    const s = new MemoryRaftStorage();
    assert(parts.offsetIndex <= parts.snapshot.meta.index, () => `compaction boundary ${parts.offsetIndex} is past the snapshot at ${parts.snapshot.meta.index}`);
    parts.entries.forEach((e, i) => assert(e.index === parts.offsetIndex + 1 + i, () => `restored entry ${e.index} is not at position ${parts.offsetIndex + 1 + i}`));
    assert(parts.offsetIndex + parts.entries.length >= parts.snapshot.meta.index, 'restored entries end before the snapshot');
    s.snap = parts.snapshot;
    s.offsetIndex = parts.offsetIndex;
    s.offsetTerm = parts.offsetTerm;
    s.ents = parts.entries.slice();
    s.hard = parts.hardState;
    return s;
  }

  /** The compaction boundary: its position and term (the entry itself is gone). */
  boundary(): { index: Index; term: Term } {
    return { index: this.offsetIndex, term: this.offsetTerm };
  }

  /** Every stored entry, in order (for a checkpoint): a copy, since append() works in place. */
  allEntries(): readonly Entry[] {
    return this.ents.slice();
  }

  hardState(): HardState {
    return this.hard;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  firstIndex(): Index {
    return this.offsetIndex + 1;
  }

  lastIndex(): Index {
    return this.offsetIndex + this.ents.length;
  }

  term(index: Index): Term {
    assert(index >= this.offsetIndex && index <= this.lastIndex(), () => `storage.term(${index}) outside [${this.offsetIndex}, ${this.lastIndex()}]`);
    return index === this.offsetIndex ? this.offsetTerm : (this.ents[index - this.offsetIndex - 1] as Entry).term;
  }

  entries(lo: Index, hi: Index, maxBytes: number): readonly Entry[] {
    assert(lo >= this.firstIndex() && lo < hi && hi <= this.lastIndex() + 1, () => `storage.entries(${lo}, ${hi}) outside [${this.firstIndex()}, ${this.lastIndex() + 1})`);
    if (maxBytes === Infinity) return this.ents.slice(lo - this.offsetIndex - 1, hi - this.offsetIndex - 1);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.ents[i - this.offsetIndex - 1] as Entry;
      bytes += entryBytes(e);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  // ---- writes: what a runtime does with a Ready ----

  setHardState(hs: HardState): void {
    assert(hs.term >= this.hard.term, () => `hard state term going back from ${this.hard.term} to ${hs.term}`);
    this.hard = hs;
  }

  /**
   * Appends entries, first dropping every stored entry at or after entries[0].index (a Ready's
   * entries replace a conflicting tail). Entries at or below the compaction boundary are skipped:
   * they are already covered by a snapshot.
   */
  append(entries: readonly Entry[]): void {
    const live = entries.filter((e) => e.index > this.offsetIndex);
    const first = live[0];
    if (first === undefined) return;
    assert(first.index <= this.lastIndex() + 1, () => `append at ${first.index} leaves a gap after ${this.lastIndex()}`);
    for (let i = 1; i < live.length; i++) {
      assert((live[i] as Entry).index === (live[i - 1] as Entry).index + 1, 'appended entries not contiguous');
    }
    // In place: copying the whole log at every Ready cost O(log length) per Ready (tens of
    // thousands of entries between snapshots) in time and in garbage.
    const keep = first.index - this.offsetIndex - 1;
    if (keep < this.ents.length) this.ents.length = keep;
    for (const e of live) this.ents.push(e);
  }

  /** Replaces the whole log by a snapshot received from the leader. */
  applySnapshot(snapshot: Snapshot): void {
    const { index, term } = snapshot.meta;
    assert(index > this.snap.meta.index, () => `snapshot at ${index} is not newer than ${this.snap.meta.index}`);
    this.snap = snapshot;
    this.offsetIndex = index;
    this.offsetTerm = term;
    this.ents = [];
  }

  /**
   * Records a snapshot the application took of its state machine at meta.index (an applied,
   * hence committed, position). It does not drop entries: compact() does.
   */
  createSnapshot(meta: SnapshotMeta, data: Uint8Array): void {
    assert(meta.index > this.snap.meta.index, () => `snapshot at ${meta.index} is not newer than ${this.snap.meta.index}`);
    assert(meta.index <= this.lastIndex() && meta.index >= this.offsetIndex, () => `snapshot at ${meta.index} outside the log`);
    assert(this.term(meta.index) === meta.term, () => `snapshot term ${meta.term} is not the log's at ${meta.index}`);
    this.snap = { meta, data };
  }

  /** The same snapshot position with other data (the runtime's: a snapshot whose file was lost). */
  replaceSnapshotData(data: Uint8Array): void {
    assert(this.snap.meta.index > 0, 'replacing the data of no snapshot');
    this.snap = { meta: this.snap.meta, data };
  }

  /** Drops the entries at positions up to `index`, which must be covered by the snapshot. */
  compact(index: Index): void {
    if (index <= this.offsetIndex) return;
    assert(index <= this.snap.meta.index, () => `compacting to ${index} past the snapshot at ${this.snap.meta.index}`);
    this.offsetTerm = this.term(index);
    this.ents = this.ents.slice(index - this.offsetIndex);
    this.offsetIndex = index;
  }

  /** A copy that shares no mutable state: what a disk image would be. */
  clone(): MemoryRaftStorage {
    const c = new MemoryRaftStorage();
    c.hard = this.hard;
    c.snap = this.snap;
    c.offsetIndex = this.offsetIndex;
    c.offsetTerm = this.offsetTerm;
    c.ents = this.ents.slice();
    return c;
  }
}

export function emptySnapshot(membership: Membership = EMPTY_MEMBERSHIP): Snapshot {
  return { meta: { index: 0, term: 0, membership }, data: new Uint8Array(0) };
}

/**
 * The first entry and hard state of an original member of a new cluster (see
 * MemoryRaftStorage.bootstrap); a WAL-backed storage writes the same two records.
 */
export function bootstrapState(m: Membership): [Entry, HardState] {
  assert(m.voters.length > 0, 'a cluster needs at least one voter');
  const entry: Entry = { term: 1, index: 1, type: 'config', data: encodeMembership(m) };
  return [entry, { term: 1, vote: null, commit: 1 }];
}
