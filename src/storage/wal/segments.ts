import { joinPath } from '../../env/disk.js';

/**
 * WAL segment files are named by the LSN of their first record, zero-padded to 20 digits so that
 * names sort as numbers: 00000000000000000001.wal holds records 1, 2, ...
 */
const SEGMENT_RE = /^(\d{20})\.wal$/;

export function segmentName(firstLsn: number): string {
  return `${String(firstLsn).padStart(20, '0')}.wal`;
}

export function segmentPath(dir: string, firstLsn: number): string {
  return joinPath(dir, segmentName(firstLsn));
}

/** The first LSN of a segment file name, or null when the name is not a segment's. */
export function parseSegmentName(name: string): number | null {
  const m = SEGMENT_RE.exec(name);
  if (m === null) return null;
  const lsn = Number(m[1]);
  return Number.isSafeInteger(lsn) && lsn >= 1 ? lsn : null;
}
