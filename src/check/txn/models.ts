/**
 * Anomaly classes and the consistency models that forbid them.
 *
 * Cycle classes follow Adya's thesis ("Weak Consistency: A Generalized Theory and Optimistic
 * Implementations for Distributed Transactions", MIT 1999) as Elle uses them (Kingsbury & Alvaro,
 * VLDB 2020): a cycle of write-write edges only is G0; of write-write and write-read edges is
 * G1c; with exactly one read-write (anti-dependency) edge is G-single; with two or more is
 * G2-item. A cycle that needs a real-time edge to close is the same class with `-realtime`
 * (only strict serializability forbids those). The others are read or history anomalies found
 * without a cycle.
 */

export type CycleAnomaly =
  | 'G0' | 'G1c' | 'G-single' | 'G2-item'
  | 'G0-realtime' | 'G1c-realtime' | 'G-single-realtime' | 'G2-item-realtime';

export type ReadAnomaly =
  /** A committed transaction read a value written by a transaction that aborted (fail). */
  | 'G1a'
  /** It read a version its writer overwrote later in the same transaction. */
  | 'G1b'
  /** A transaction read a key after writing it and did not see its own write. */
  | 'internal'
  /** A transaction read a key twice and saw others' writes appear between (Adya's P2, non-repeatable read). */
  | 'fuzzy-read'
  /** Two reads of a list-append key neither of which is a prefix of the other. */
  | 'incompatible-order'
  /** A value no transaction ever wrote or appended (or a read of the wrong shape). */
  | 'garbage-read'
  /** One appended value twice in a read list. */
  | 'duplicate-append'
  /** An acknowledged append missing from a read that began after its transaction completed. */
  | 'lost-append'
  /** Two committed transactions read one version of a key and both wrote it (Adya's P4). */
  | 'lost-update';

export type AnomalyClass = CycleAnomaly | ReadAnomaly;

/** Report order: the gravest first, as a reader wants them. */
export const ANOMALY_CLASSES: readonly AnomalyClass[] = [
  'garbage-read', 'duplicate-append', 'incompatible-order', 'internal', 'fuzzy-read', 'G1a', 'G1b', 'lost-append', 'lost-update',
  'G0', 'G1c', 'G-single', 'G2-item', 'G0-realtime', 'G1c-realtime', 'G-single-realtime', 'G2-item-realtime',
];

export type Consistency = 'strict-serializable' | 'serializable' | 'snapshot-isolation' | 'read-committed';

export const CONSISTENCY_MODELS: readonly Consistency[] = ['strict-serializable', 'serializable', 'snapshot-isolation', 'read-committed'];

const NOT_RECORDED_RIGHT: readonly AnomalyClass[] = ['garbage-read', 'duplicate-append', 'incompatible-order', 'internal'];
const READ_COMMITTED: readonly AnomalyClass[] = [...NOT_RECORDED_RIGHT, 'G1a', 'G1b', 'G0', 'G1c'];
const SNAPSHOT_ISOLATION: readonly AnomalyClass[] = [...READ_COMMITTED, 'fuzzy-read', 'lost-update', 'G-single'];
const SERIALIZABLE: readonly AnomalyClass[] = [...SNAPSHOT_ISOLATION, 'G2-item'];

/**
 * What each model forbids (the table in HISTORY.md). Read committed is Adya's PL-2 (no G0, no
 * G1); it lets a transaction see others' commits between two of its reads. Snapshot isolation
 * forbids those fuzzy reads, lost updates and G-single besides; it allows write skew (G2-item). This is a
 * necessary condition for SI, as in Elle: without start and commit timestamps a history can pass
 * here and still not be SI. Serializable forbids every dependency cycle (PL-3); strict
 * serializable also every cycle through real time, and an acknowledged append missing from a
 * later read. Every model forbids the anomalies that mean the database (or the recorder) made
 * data up: garbage, duplicates, incompatible orders and a transaction disagreeing with itself.
 */
export const FORBIDDEN: Readonly<Record<Consistency, ReadonlySet<AnomalyClass>>> = {
  'read-committed': new Set(READ_COMMITTED),
  'snapshot-isolation': new Set(SNAPSHOT_ISOLATION),
  serializable: new Set(SERIALIZABLE),
  'strict-serializable': new Set<AnomalyClass>([...SERIALIZABLE, 'lost-append', 'G0-realtime', 'G1c-realtime', 'G-single-realtime', 'G2-item-realtime']),
};

/** Edge kinds of the dependency graph, as bits: one pair of transactions may have several. */
export const WW = 1;
export const WR = 2;
export const RW = 4;
export const RT = 8;
export const PROCESS = 16;

export const EDGE_NAMES: readonly [number, string][] = [[WW, 'ww'], [WR, 'wr'], [RW, 'rw'], [PROCESS, 'process'], [RT, 'rt']];

/** The edges a model's forbidden cycles may use. */
export function edgeMaskOf(consistency: Consistency): number {
  switch (consistency) {
    case 'read-committed':
      return WW | WR;
    case 'snapshot-isolation':
    case 'serializable':
      return WW | WR | RW;
    case 'strict-serializable':
      // Process order is part of real-time order here (a process runs one operation at a time
      // and stops after info), so its edges add no cycle; they are kept as a clearer label.
      return WW | WR | RW | RT | PROCESS;
  }
}
