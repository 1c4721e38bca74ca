import type { Disk } from '../../env/disk.js';
import { StorageCorruptionError } from '../errors.js';
import { decodeLogicalHeader, LOGICAL_HEADER_BYTES, type LogicalHeader } from './logical-record.js';
import { type BadKind, scanRecords } from './record-format.js';
import { parseSegmentName, segmentPath } from './segments.js';

/**
 * Reading a WAL directory back: which segments hold the log, which records to deliver, where
 * appends continue, and what was dropped. Pure over the Disk's reads (it changes nothing), so the
 * `kv-lab wal dump` tool and Wal.open share it.
 *
 * The rules, and why they are safe:
 * - A segment is sealed (fsynced, with its directory) before the next segment receives a byte
 *   (append-log.ts), so every segment but the last must be valid to its end. Bad data in one is
 *   corruption: an error naming the file and offset.
 * - In the last segment, a bad record is a torn tail when nothing valid follows it, or when it is
 *   cut short or zeroed (a write that never reached the disk; anything valid after it was written
 *   later and so was never acknowledged under fsync `always`). The tail is dropped and reported.
 *   A record that fails its checksum with valid records after it is corruption.
 * - LSNs must run on without gaps from each segment's first (its name) to its last record.
 * - Segments are only ever removed from the front (truncatePrefix). A segment followed by one whose
 *   first LSN is <= fromLsn holds nothing the owner needs: it is stale (an interrupted truncation
 *   left it behind) and is not even read. Without fromLsn, the log is the newest run of segments
 *   whose LSNs are contiguous; older segments before a gap are stale.
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

interface SegmentInfo {
  id: number;
  path: string;
  data: Uint8Array;
  /** LSN of the last valid record; id - 1 when it holds none. */
  last: number;
  validEnd: number;
  tail: DroppedTail | null;
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
  const infos: SegmentInfo[] = [];
  for (let i = start; i < ids.length; i++) infos.push(readSegment(disk, dir, ids[i] as number, blockBytes, i === ids.length - 1));
  const newest = infos[infos.length - 1];
  // The log is the newest run of contiguous segments; an empty segment can only be the newest.
  const run: SegmentInfo[] = [];
  if (newest !== undefined) {
    run.push(newest);
    for (let i = infos.length - 2; i >= 0; i--) {
      const s = infos[i] as SegmentInfo;
      if (s.last < s.id) continue;
      if (s.last + 1 !== (run[0] as SegmentInfo).id) break;
      run.unshift(s);
    }
  }
  const nextLsn = Math.max(fromLsn ?? 1, newest === undefined ? 1 : newest.last + 1);
  const resume = newest !== undefined && newest.last + 1 === nextLsn ? newest : null;
  const kept = run.filter((s) => s === resume || fromLsn === null || s.last >= fromLsn);
  for (const s of infos) if (!kept.includes(s)) stale.push(s.path);
  const first = kept[0];
  if (fromLsn !== null && first !== undefined && first.id > fromLsn) {
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
    report: {
      segments: kept.map((s) => s.path),
      records,
      firstLsn,
      lastLsn,
      nextLsn,
      droppedTail: newest?.tail ?? null,
      staleSegments: stale.sort(),
    },
    resume: resume === null ? null : { id: resume.id, validBytes: resume.validEnd },
  };
}

/** Validates one segment: fragments, record headers and LSN contiguity. */
function readSegment(disk: Disk, dir: string, id: number, blockBytes: number, isLast: boolean): SegmentInfo {
  const path = segmentPath(dir, id);
  const data = disk.readFile(path);
  let expect = id;
  const scan = scanRecords(data, blockBytes, (payload, offset) => {
    const h = decodeLogicalHeader(payload);
    if (h === null) throw new StorageCorruptionError(path, offset, `record of ${payload.length} bytes is shorter than its ${LOGICAL_HEADER_BYTES}-byte header`);
    if (h.lsn !== expect) throw new StorageCorruptionError(path, offset, `record has LSN ${h.lsn} where ${expect} was expected`);
    expect++;
  });
  let tail: DroppedTail | null = null;
  if (scan.bad !== null) {
    const b = scan.bad;
    const torn = b.kind === 'incomplete' || b.kind === 'zeroed' || !b.validAfter;
    if (!isLast) throw new StorageCorruptionError(path, b.fragmentOffset, `${b.kind} record (${b.detail}) in a sealed segment`);
    if (!torn) throw new StorageCorruptionError(path, b.fragmentOffset, `${b.detail}, with valid records after it`);
    tail = { segment: path, offset: b.offset, bytes: data.length - b.offset, kind: b.kind, detail: b.detail };
  } else if (scan.validEnd < data.length) {
    // Only block padding after the last record: a write cut between the padding and its fragment.
    tail = { segment: path, offset: scan.validEnd, bytes: data.length - scan.validEnd, kind: 'incomplete', detail: 'padding without a record' };
  }
  return { id, path, data, last: expect - 1, validEnd: scan.validEnd, tail };
}
