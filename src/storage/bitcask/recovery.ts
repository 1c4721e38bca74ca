import { joinPath, type Disk } from '../../env/disk.js';
import { StorageCorruptionError } from '../errors.js';
import { compareKeys } from '../keys.js';
import { BTree } from '../util/btree.js';
import { dataPath, hintPath, mergeMarkerPath, parseDataName, parseHintName, parseMergeMarkerName } from './files.js';
import { decodeHint, decodeMergeMarker, type EntryRef, KIND_PUT, scanDataFile } from './format.js';

/** Where a key's newest entry is: data file, offset and size of the entry, its batch's sequence. */
export interface Loc {
  file: number;
  offset: number;
  size: number;
  seq: number;
}

export interface FileInfo {
  id: number;
  /** Bytes in the file. */
  bytes: number;
  /** Bytes of entries the keydir points at; the rest is dead (overwritten, deleted, headers). */
  liveBytes: number;
  hasHint: boolean;
}

export interface BitcaskRecovery {
  keydir: BTree<string, Loc>;
  files: Map<number, FileInfo>;
  /** The newest data file, where appends continue, and its valid length; null for a new store. */
  active: { id: number; validBytes: number } | null;
  nextSeq: number;
  nextFileId: number;
  droppedTail: { path: string; offset: number; bytes: number; detail: string } | null;
  hintsUsed: number;
  hintsRejected: { path: string; reason: string }[];
  /** Files removed: leftovers of interrupted merges and hint writes, files merges consumed. */
  garbage: string[];
  /** Merge markers found; removable once the deletions they caused are durable. */
  markers: number[];
}

/**
 * Rebuilds the keydir from the data files (Bitcask's startup): from each closed file's hint when
 * it verifies, else by scanning the file. For every key the entry with the highest sequence number
 * wins (a tombstone removes the key), whatever file it is in: merge output keeps its entries'
 * sequence numbers, so the order of files does not matter. Within a batch, later entries win.
 *
 * Every data file before the last one holding bytes was fsynced before the next was written
 * (append-log.ts), so bad data in one is corruption; the last may end in a torn batch, which is
 * dropped and reported, as in the WAL (wal/recovery.ts gives the reasoning).
 */
export function recoverBitcask(disk: Disk, dir: string): BitcaskRecovery {
  const names = disk.list(dir);
  const garbage: string[] = [];
  let ids: number[] = [];
  const hints = new Set<number>();
  const markers: number[] = [];
  for (const name of names) {
    const d = parseDataName(name);
    const h = parseHintName(name);
    const m = parseMergeMarkerName(name);
    if (d !== null) ids.push(d);
    else if (h !== null) hints.add(h);
    else if (m !== null) markers.push(m);
    else if (name.endsWith('.tmp')) garbage.push(name);
  }
  // Files a completed merge consumed are garbage, even if a crash undid their deletion.
  const consumed = new Set<number>();
  for (const m of markers) {
    const path = mergeMarkerPath(dir, m);
    const listed = decodeMergeMarker(disk.readFile(path));
    if (typeof listed === 'string') throw new StorageCorruptionError(path, 0, `merge marker: ${listed}`);
    for (const id of listed) consumed.add(id);
  }
  for (const id of ids) {
    if (!consumed.has(id)) continue;
    garbage.push(dataPath(dir, id).slice(dir.length + 1));
    if (hints.has(id)) garbage.push(hintPath(dir, id).slice(dir.length + 1));
    hints.delete(id);
  }
  ids = ids.filter((id) => !consumed.has(id));
  ids.sort((a, b) => a - b);
  for (const h of hints) if (!ids.includes(h)) garbage.push(hintPath(dir, h).slice(dir.length + 1));
  for (const g of garbage) disk.remove(joinPath(dir, g));

  const newest = new Map<string, { seq: number; loc: Loc | null }>();
  const files = new Map<number, FileInfo>();
  const result: BitcaskRecovery = {
    keydir: new BTree<string, Loc>(compareKeys),
    files,
    active: null,
    nextSeq: 1,
    nextFileId: Math.max(ids[ids.length - 1] ?? 0, ...markers, ...consumed) + 1,
    markers,
    droppedTail: null,
    hintsUsed: 0,
    hintsRejected: [],
    garbage,
  };
  const take = (file: number) => (e: EntryRef) => {
    const cur = newest.get(e.key);
    // >=: a later entry of the same batch wins; equal sequences across files are merge copies.
    if (cur !== undefined && e.seq < cur.seq) return;
    newest.set(e.key, { seq: e.seq, loc: e.kind === KIND_PUT ? { file, offset: e.offset, size: e.size, seq: e.seq } : null });
    if (e.seq >= result.nextSeq) result.nextSeq = e.seq + 1;
  };
  const sizes = new Map<number, number>();
  for (const id of ids) {
    const f = disk.open(dataPath(dir, id), 'read');
    sizes.set(id, f.size());
    f.close();
  }
  // The last file holding bytes is the tail: files after it are empty, created by a rotation whose
  // seal (the fsync of the tail) may not have finished, so the tail may be torn. Every file before
  // it was sealed and must be whole. Empty files other than the newest are leftovers.
  const nonEmpty = ids.filter((id) => (sizes.get(id) as number) > 0);
  const tailId = nonEmpty[nonEmpty.length - 1];
  const newestId = ids[ids.length - 1];
  let emptyNewest: number | null = newestId !== undefined && newestId !== tailId ? newestId : null;
  for (const id of ids) {
    if ((sizes.get(id) as number) === 0 && id !== emptyNewest) {
      disk.remove(dataPath(dir, id));
      garbage.push(dataPath(dir, id).slice(dir.length + 1));
    }
  }
  for (const id of nonEmpty) {
    const path = dataPath(dir, id);
    const bytes = sizes.get(id) as number;
    const isTail = id === tailId;
    files.set(id, { id, bytes, liveBytes: 0, hasHint: hints.has(id) });
    if (!isTail && hints.has(id)) {
      const decoded = decodeHint(disk.readFile(hintPath(dir, id)), bytes);
      if (typeof decoded !== 'string') {
        decoded.forEach(take(id));
        result.hintsUsed++;
        continue;
      }
      result.hintsRejected.push({ path: hintPath(dir, id), reason: decoded });
      (files.get(id) as FileInfo).hasHint = false;
    }
    const data = disk.readFile(path);
    const scan = scanDataFile(data, take(id));
    if (scan.bad !== null) {
      const b = scan.bad;
      const torn = b.kind === 'incomplete' || b.kind === 'zeroed' || !b.validAfter;
      if (!isTail) throw new StorageCorruptionError(path, b.offset, `${b.detail} in a sealed data file`);
      if (!torn) throw new StorageCorruptionError(path, b.offset, `${b.detail}, with valid records after it`);
      result.droppedTail = { path, offset: b.offset, bytes: data.length - b.offset, detail: `${b.kind}: ${b.detail}` };
      (files.get(id) as FileInfo).bytes = scan.validEnd;
      // Appends must continue right after the last whole batch: in the tail, not the empty file.
      if (emptyNewest !== null) {
        disk.remove(dataPath(dir, emptyNewest));
        garbage.push(dataPath(dir, emptyNewest).slice(dir.length + 1));
        emptyNewest = null;
      }
    }
    if (isTail && emptyNewest === null) result.active = { id, validBytes: scan.validEnd };
  }
  if (emptyNewest !== null) {
    files.set(emptyNewest, { id: emptyNewest, bytes: 0, liveBytes: 0, hasHint: false });
    result.active = { id: emptyNewest, validBytes: 0 };
  }
  for (const [key, { loc }] of newest) {
    if (loc === null) continue;
    result.keydir.set(key, loc);
    (files.get(loc.file) as FileInfo).liveBytes += loc.size;
  }
  return result;
}
