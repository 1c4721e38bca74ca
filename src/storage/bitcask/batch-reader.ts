import type { DiskFile } from '../../env/disk.js';
import { StorageCorruptionError } from '../errors.js';
import { BATCH_HEADER_BYTES, batchBodyBytes, type EntryRef, scanDataFile } from './format.js';

export interface ReadBatch {
  /** Entries with offsets in the file. */
  entries: EntryRef[];
  /** The record's bytes; entry i is at entries[i].offset - start. */
  raw: Uint8Array;
  start: number;
  end: number;
}

/**
 * Reads the batch record at pos of a closed data file (merges and hint jobs walk files this way,
 * a record per read). A closed file must be valid throughout: anything bad is corruption.
 */
export function readBatchAt(file: DiskFile, path: string, pos: number, fileBytes: number): ReadBatch {
  const header = file.read(pos, BATCH_HEADER_BYTES);
  const bodyBytes = header.length === BATCH_HEADER_BYTES ? batchBodyBytes(header) : 0;
  const raw = file.read(pos, Math.min(BATCH_HEADER_BYTES + bodyBytes, fileBytes - pos));
  const entries: EntryRef[] = [];
  const scan = scanDataFile(raw.length >= BATCH_HEADER_BYTES + bodyBytes ? raw.subarray(0, BATCH_HEADER_BYTES + bodyBytes) : raw, (e) => entries.push({ ...e, offset: e.offset + pos }));
  if (scan.bad !== null || scan.validEnd === 0) {
    throw new StorageCorruptionError(path, pos, scan.bad === null ? 'empty batch record' : `${scan.bad.detail} in a closed data file`);
  }
  return { entries, raw, start: pos, end: pos + scan.validEnd };
}
