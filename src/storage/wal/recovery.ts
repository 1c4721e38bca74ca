import type { Disk } from '../../env/disk.js';
import { StorageCorruptionError } from '../errors.js';
import { decodeLogicalHeader, LOGICAL_HEADER_BYTES, type LogicalHeader } from './logical-record.js';
import { type BadKind, type BadTail, scanRecords } from './record-format.js';
import { parseSegmentName, segmentPath } from './segments.js';

/**
 * Reading a WAL directory back: which segments hold the log, which records to deliver, where
 * appends continue, and what was dropped. Pure over the Disk's reads (it changes nothing), so the
 * `kv-lab wal dump` tool and Wal.open share it.
 *
 * The rules, and why they are safe:
 * - A segment is sealed (fsynced, with its directory) before the next segment receives a byte
 *   (append-log.ts). So every segment before the last one holding records must be valid to its
 *   end: bad data in one is corruption, an error naming the file and offset. Segments after it
 *   are empty: a rotation creates the next file before the seal finishes.
 * - In that last segment with records (the tail), a bad record is a torn tail when nothing valid
 *   follows it, or when it is cut short or zeroed (a write that never reached the disk; anything
 *   valid after it was written later and so was never acknowledged under fsync `always`). The
 *   tail is dropped and reported. A record that fails its checksum with valid records after it is
 *   corruption.
 * - LSNs must run on without gaps from each segment's first (its name) to its last record.
 * - Segments are only ever removed from the front (truncatePrefix). A segment followed by one whose
 *   first LSN is <= fromLsn holds nothing the owner needs: it is stale (an interrupted truncation
 *   left it behind) and is not even read. Without fromLsn, the log is the newest run of segments
 *   whose LSNs are contiguous; older segments before a gap are stale. Empty segments other than
 *   the one appends continue in are stale too.
 * - With fromLsn, the log must start at or before it: if the first kept segment starts after
 *   fromLsn, records the owner needs are missing, which is an error.
 */

export interface WalRecord {
  lsn: number;
  type: number;
  /** The record's bytes: a view valid only during the callback; copy to keep. */
  data: Uint8Array;
  /** Segment file (path relative to the Disk's root) and offset of the record's first fragment. */
  segment: string;
  offset: number;
}

export interface DroppedTail {
  segment: string;
  offset: number;
  bytes: number;
  kind: BadKind;
  detail: string;
}

/**
 * Whether a dropped tail may be rot rather than a torn write: its bad fragment is whole and fails
 * its checksum, or is malformed (non-zero block padding, a fragment out of sequence, or one that
 * crosses its block). A crash does not make those: a torn write ends the file part way through a
 * fragment, and a write that never reached the disk leaves zeros or nothing (the failure model of
 * sim/disk.ts; on a real disk a torn sector inside a fragment can, rarely). So its records were
 * written whole and changed since, and they may have been synced: for an owner that made promises
 * on them (a Raft member's acknowledgements), a possible loss. A bit flipped in a fragment's length
 * field that makes it claim bytes past the end of the file reads as a checksum failure too (the
 * flip undone, the fragment verifies: lengthBeforeFlip in record-format.ts); wider damage to a
 * length field can still look like a torn write ('incomplete'), which CTRL's persist records
 * (Alagappan et al., FAST 2018) would tell apart.
 */
export function tailMayBeRot(tail: DroppedTail): boolean {
  return tail.kind === 'checksum' || tail.kind === 'malformed';
}

export interface WalRecoveryReport {
  /** Segments kept, oldest first. */
  segments: string[];
  /** Records delivered to the owner. */
  records: number;
  firstLsn: number | null;
  lastLsn: number | null;
  /** The LSN the next append gets. */
  nextLsn: number;
  droppedTail: DroppedTail | null;
  /** Segments the owner no longer needs or that an interrupted truncation left behind. */
  staleSegments: string[];
}

export interface WalRecoveryPlan {
  report: WalRecoveryReport;
  /** The segment appends continue in and its valid length, or null to start a segment at nextLsn. */
  resume: { id: number; validBytes: number } | null;
}

/**
 * Reads the WAL in dir. Calls onRecord for every record with lsn >= fromLsn (all when null), in
 * LSN order. Throws StorageCorruptionError on corruption.
 */
export function recoverWal(
  disk: Disk,
  dir: string,
  blockBytes: number,
  fromLsn: number | null,
  onRecord: (r: WalRecord) => void,
): WalRecoveryPlan {
  const ids = (disk.exists(dir) ? disk.list(dir) : [])
    .map(parseSegmentName)
    .filter((id): id is number => id !== null)
    .sort((a, b) => a - b);
  const stale: string[] = [];
  // By name alone: a segment whose successor starts at or before fromLsn is wholly below it.
  let start = 0;
  if (fromLsn !== null) while (start + 1 < ids.length && (ids[start + 1] as number) <= fromLsn) stale.push(segmentPath(dir, ids[start++] as number));
  const infos = ids.slice(start).map((id) => readSegment(disk, dir, id, blockBytes));
  // The last segment holding any bytes is the log's tail: the segments after it are empty, created
  // by a rotation whose seal (the fsync of this one) may not have finished, so this one may be
  // torn. Every segment before it was sealed, so it must be whole.
  let tailIndex = infos.length - 1;
  while (tailIndex >= 0 && (infos[tailIndex] as SegmentInfo).data.length === 0) tailIndex--;
  for (let i = 0; i < tailIndex; i++) {
    const b = (infos[i] as SegmentInfo).bad;
    if (b !== null) throw new StorageCorruptionError((infos[i] as SegmentInfo).path, b.fragmentOffset, `${b.kind} record (${b.detail}) in a sealed segment`);
  }
  const tail = tailIndex >= 0 ? (infos[tailIndex] as SegmentInfo) : undefined;
  let droppedTail: DroppedTail | null = null;
  if (tail !== undefined && tail.bad !== null) {
    const b = tail.bad;
    if (b.kind !== 'incomplete' && b.kind !== 'zeroed' && b.validAfter) throw new StorageCorruptionError(tail.path, b.fragmentOffset, `${b.detail}, with valid records after it`);
    droppedTail = { segment: tail.path, offset: b.offset, bytes: tail.data.length - b.offset, kind: b.kind, detail: b.detail };
  }
  // Appends continue in an empty segment named by the next LSN, else in the tail if its records
  // end right before it, else in a new segment. The next LSN follows the tail's last record, never
  // goes below fromLsn, and (with no record and no fromLsn) keeps the newest empty segment's name,
  // so LSNs stay monotonic after a truncation emptied the log. An empty segment beyond that is
  // stale: a rotation created it but the tail's last records never became durable.
  const empties = infos.slice(tailIndex + 1);
  const newestEmpty = empties[empties.length - 1];
  const nextLsn = Math.max(
    fromLsn ?? 1,
    tail !== undefined ? tail.last + 1 : 1,
    tail === undefined && fromLsn === null && newestEmpty !== undefined ? newestEmpty.id : 1,
  );
  const resume = empties.find((s) => s.id === nextLsn) ?? (tail !== undefined && tail.last + 1 === nextLsn ? tail : null);
  for (const s of empties) if (s !== resume) stale.push(s.path);
  // The log is the newest run of contiguous segments with records, ending at the tail.
  const run: SegmentInfo[] = [];
  if (tail !== undefined) {
    run.push(tail);
    for (let i = tailIndex - 1; i >= 0; i--) {
      const s = infos[i] as SegmentInfo;
      if (s.data.length === 0) {
        stale.push(s.path);
        continue;
      }
      if (s.last + 1 !== (run[0] as SegmentInfo).id) {
        for (let j = i; j >= 0; j--) stale.push((infos[j] as SegmentInfo).path);
        break;
      }
      run.unshift(s);
    }
  }
  const kept = run.filter((s) => s === resume || fromLsn === null || s.last >= fromLsn);
  for (const s of run) if (!kept.includes(s)) stale.push(s.path);
  if (resume !== null && !kept.includes(resume)) kept.push(resume);
  const first = kept[0];
  if (fromLsn !== null && first !== undefined && first.id > fromLsn && first.last >= first.id) {
    throw new StorageCorruptionError(first.path, 0, `log records ${fromLsn}..${first.id - 1} are missing: the log starts at ${first.id} but its owner needs it from ${fromLsn}`);
  }
  let records = 0;
  let firstLsn: number | null = null;
  let lastLsn: number | null = null;
  for (const s of kept) {
    scanRecords(s.data.subarray(0, s.validEnd), blockBytes, (payload, offset) => {
      const h = decodeLogicalHeader(payload) as LogicalHeader;
      if (fromLsn !== null && h.lsn < fromLsn) return;
      records++;
      firstLsn ??= h.lsn;
      lastLsn = h.lsn;
      onRecord({ lsn: h.lsn, type: h.type, data: payload.subarray(LOGICAL_HEADER_BYTES), segment: s.path, offset });
    });
  }
  return {
    report: { segments: kept.map((s) => s.path), records, firstLsn, lastLsn, nextLsn, droppedTail, staleSegments: [...new Set(stale)].sort() },
    resume: resume === null ? null : { id: resume.id, validBytes: resume.validEnd },
  };
}

interface SegmentInfo {
  id: number;
  path: string;
  data: Uint8Array;
  /** LSN of the last valid record; id - 1 when it holds none. */
  last: number;
  validEnd: number;
  bad: BadTail | null;
}

/** Reads one segment: its valid records (headers and LSN contiguity checked) and what follows. */
function readSegment(disk: Disk, dir: string, id: number, blockBytes: number): SegmentInfo {
  const path = segmentPath(dir, id);
  const data = disk.readFile(path);
  let expect = id;
  const scan = scanRecords(data, blockBytes, (payload, offset) => {
    const h = decodeLogicalHeader(payload);
    if (h === null) throw new StorageCorruptionError(path, offset, `record of ${payload.length} bytes is shorter than its ${LOGICAL_HEADER_BYTES}-byte header`);
    if (h.lsn !== expect) throw new StorageCorruptionError(path, offset, `record has LSN ${h.lsn} where ${expect} was expected`);
    expect++;
  });
  let bad = scan.bad;
  if (bad === null && scan.validEnd < data.length) {
    // Only block padding after the last record: a write cut between the padding and its fragment.
    bad = { offset: scan.validEnd, fragmentOffset: scan.validEnd, kind: 'incomplete', detail: 'padding without a record', validAfter: false };
  }
  return { id, path, data, last: expect - 1, validEnd: scan.validEnd, bad };
}
