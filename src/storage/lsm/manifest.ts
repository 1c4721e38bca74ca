import { StorageCorruptionError } from '../errors.js';
import { ByteReader, ByteWriter, FormatError, utf8Decode, utf8Encode } from '../util/bytes.js';
import { crc32c } from '../util/crc32c.js';
import { parseManifestName } from './files.js';
import { emptyEdit, LEVELS, newFileMeta, type VersionEdit } from './version.js';

/**
 * The manifest: a log of version edits (LevelDB's MANIFEST), in the WAL's record format
 * (wal/record-format.ts), one edit per record. Replaying the edits from the first gives the current
 * version. An edit is encoded as tagged fields:
 *
 *   1 checkpoint LSN       varint
 *   2 next file number     varint
 *   3 compact pointer      varint level, varint length + key
 *   4 deleted table        varint level, varint number
 *   5 added table          varint level, varint number, varint size, varint entries,
 *                          varint length + smallest key, varint length + largest key
 *   6 WAL block size       varint
 *   7 log mode             varint: 0 the engine's WAL (also when absent), 1 the caller's log,
 *                          whose applied index the checkpoint (1) then is
 *
 * CURRENT holds the live manifest's name and a CRC-32C of it, "MANIFEST-000007 1c2d3e4f\n", so that
 * a damaged CURRENT cannot silently name another (older) manifest.
 */

const TAG_CHECKPOINT = 1;
const TAG_NEXT_FILE = 2;
const TAG_COMPACT_POINTER = 3;
const TAG_DELETED = 4;
const TAG_ADDED = 5;
const TAG_WAL_BLOCK = 6;
const TAG_LOG_MODE = 7;

/** Log modes as the manifest records them. */
export const LOG_MODE_WAL = 0;
export const LOG_MODE_APPLIED_INDEX = 1;

export function encodeEdit(edit: VersionEdit): Uint8Array {
  const out = new ByteWriter(256);
  if (edit.checkpointLsn !== undefined) {
    out.varint(TAG_CHECKPOINT);
    out.varint(edit.checkpointLsn);
  }
  if (edit.nextFileNumber !== undefined) {
    out.varint(TAG_NEXT_FILE);
    out.varint(edit.nextFileNumber);
  }
  if (edit.walBlockBytes !== undefined) {
    out.varint(TAG_WAL_BLOCK);
    out.varint(edit.walBlockBytes);
  }
  if (edit.logMode !== undefined) {
    out.varint(TAG_LOG_MODE);
    out.varint(edit.logMode);
  }
  for (const p of edit.compactPointers) {
    out.varint(TAG_COMPACT_POINTER);
    out.varint(p.level);
    out.varint(p.key.length);
    out.bytes(p.key);
  }
  for (const d of edit.deleted) {
    out.varint(TAG_DELETED);
    out.varint(d.level);
    out.varint(d.number);
  }
  for (const { level, file } of edit.added) {
    out.varint(TAG_ADDED);
    out.varint(level);
    out.varint(file.number);
    out.varint(file.sizeBytes);
    out.varint(file.entries);
    out.varint(file.smallest.length);
    out.bytes(file.smallest);
    out.varint(file.largest.length);
    out.bytes(file.largest);
  }
  return out.copy();
}

export function decodeEdit(data: Uint8Array): VersionEdit {
  const r = new ByteReader(data);
  const edit = emptyEdit();
  const level = () => {
    const at = r.pos;
    const l = r.varint();
    if (l >= LEVELS) throw new FormatError(at, `level ${l} out of range`);
    return l;
  };
  while (r.remaining > 0) {
    const at = r.pos;
    const tag = r.varint();
    switch (tag) {
      case TAG_CHECKPOINT:
        edit.checkpointLsn = r.varint();
        break;
      case TAG_NEXT_FILE:
        edit.nextFileNumber = r.varint();
        break;
      case TAG_WAL_BLOCK:
        edit.walBlockBytes = r.varint();
        break;
      case TAG_LOG_MODE:
        edit.logMode = r.varint();
        if (edit.logMode !== LOG_MODE_WAL && edit.logMode !== LOG_MODE_APPLIED_INDEX) throw new FormatError(at, `unknown log mode ${edit.logMode}`);
        break;
      case TAG_COMPACT_POINTER:
        edit.compactPointers.push({ level: level(), key: r.lengthPrefixed().slice() });
        break;
      case TAG_DELETED:
        edit.deleted.push({ level: level(), number: r.varint() });
        break;
      case TAG_ADDED: {
        const l = level();
        const number = r.varint();
        const size = r.varint();
        const entries = r.varint();
        const smallest = r.lengthPrefixed().slice();
        const largest = r.lengthPrefixed().slice();
        edit.added.push({ level: l, file: newFileMeta(number, size, entries, smallest, largest) });
        break;
      }
      default:
        throw new FormatError(at, `unknown manifest field tag ${tag}`);
    }
  }
  return edit;
}

export function encodeCurrent(manifest: string): Uint8Array {
  return utf8Encode(`${manifest} ${crc32c(utf8Encode(manifest)).toString(16).padStart(8, '0')}\n`);
}

/** The manifest name CURRENT holds; throws StorageCorruptionError when it does not verify. */
export function decodeCurrent(path: string, data: Uint8Array): string {
  let text: string;
  try {
    text = utf8Decode(data);
  } catch {
    throw new StorageCorruptionError(path, 0, 'not UTF-8');
  }
  const m = /^(MANIFEST-\d{6,}) ([0-9a-f]{8})\n$/.exec(text);
  if (m === null || parseManifestName(m[1] as string) === null) throw new StorageCorruptionError(path, 0, `malformed: ${JSON.stringify(text.slice(0, 60))}`);
  if (crc32c(utf8Encode(m[1] as string)).toString(16).padStart(8, '0') !== m[2]) throw new StorageCorruptionError(path, 0, 'checksum mismatch');
  return m[1] as string;
}
