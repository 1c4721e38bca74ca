import { BATCH_BYTES_MAX, BATCH_OPS_MAX } from '../keys.js';
import { ByteWriter, isZero, readU32, readU64, utf8Decode, utf8EncodeInto, writeU32 } from '../util/bytes.js';
import { crc32c } from '../util/crc32c.js';

/**
 * Bitcask's data files (README.md). A write batch is one record, so that a crash can never keep
 * part of a batch:
 *
 *   batch header (25 bytes):
 *     u32 header CRC-32C (of the 21 bytes that follow) | u32 body CRC-32C | u8 magic 0xB7 |
 *     u32 entry count | u32 body bytes | u64 sequence number
 *   body: the entries, each
 *     u32 CRC-32C (of the rest of the entry) | u8 kind (1 put, 0 delete) | u32 key bytes |
 *     u32 value bytes | key | value
 *
 * The header's own checksum lets recovery look for valid records after a bad one cheaply; the
 * body checksum makes the batch atomic; each entry's checksum lets a read verify the one entry it
 * reads (the keydir points at entries), so a flipped bit is caught on the read path too.
 *
 * A merge marker lists the data files a merge consumed: u32 count | u32 file id, ... | u32 CRC-32C
 * of what precedes. It is made durable before the first input is deleted, so that a crash which
 * keeps some inputs (their deletions not yet durable) cannot bring back values whose tombstones the
 * merge dropped: recovery deletes every file a marker lists.
 *
 * Hint files (Bitcask's "hint files") list a closed data file's entries without their values, for a
 * fast start: per entry
 *     u8 kind | u64 sequence | u32 offset | u32 entry bytes | u32 key bytes | key
 * then a 20-byte footer: u64 data file bytes | u32 entry count | u32 CRC-32C (of the entries and
 * the 12 footer bytes before it) | u32 magic "kvlH". A hint that does not verify, or describes a data
 * file of another size, is ignored and the data file scanned instead.
 */

export const BATCH_HEADER_BYTES = 25;
export const ENTRY_HEADER_BYTES = 13;
export const BATCH_MAGIC = 0xb7;
export const KIND_DELETE = 0;
export const KIND_PUT = 1;
const HINT_FOOTER_BYTES = 20;
const HINT_MAGIC = 0x486c766b; // "kvlH" little-endian
/** The largest body a batch can have: its ops' bytes plus an entry header each. */
const BODY_BYTES_MAX = BATCH_BYTES_MAX * 3 + BATCH_OPS_MAX * ENTRY_HEADER_BYTES;

export interface EntryRef {
  kind: number;
  key: string;
  /** Offset of the entry in its data file and its size (header included). */
  offset: number;
  size: number;
  seq: number;
}

/**
 * Encodes a batch record into out (which is reset first). Calls onEntry with each entry's offset
 * within the record and its size, in order.
 */
export function encodeBatchRecord(
  out: ByteWriter,
  seq: number,
  ops: readonly (readonly [string, string | null])[],
  onEntry: (i: number, offset: number, size: number) => void,
): void {
  out.reset();
  out.reserve(BATCH_HEADER_BYTES);
  out.length = BATCH_HEADER_BYTES;
  for (let i = 0; i < ops.length; i++) {
    const [key, value] = ops[i] as readonly [string, string | null];
    const at = out.length;
    out.reserve(ENTRY_HEADER_BYTES + (key.length + (value?.length ?? 0)) * 3);
    const keyAt = at + ENTRY_HEADER_BYTES;
    const keyBytes = utf8EncodeInto(key, out.buf, keyAt);
    const valueBytes = value === null ? 0 : utf8EncodeInto(value, out.buf, keyAt + keyBytes);
    out.buf[at + 4] = value === null ? KIND_DELETE : KIND_PUT;
    writeU32(out.buf, at + 5, keyBytes);
    writeU32(out.buf, at + 9, valueBytes);
    const end = keyAt + keyBytes + valueBytes;
    writeU32(out.buf, at, crc32c(out.buf, at + 4, end));
    out.length = end;
    onEntry(i, at, end - at);
  }
  const b = out.buf;
  const bodyBytes = out.length - BATCH_HEADER_BYTES;
  writeU32(b, 4, crc32c(b, BATCH_HEADER_BYTES, out.length));
  b[8] = BATCH_MAGIC;
  writeU32(b, 9, ops.length);
  writeU32(b, 13, bodyBytes);
  writeU32(b, 17, seq % 0x100000000);
  writeU32(b, 21, Math.floor(seq / 0x100000000));
  writeU32(b, 0, crc32c(b, 4, BATCH_HEADER_BYTES));
}

/** Checks one entry at offset (size bytes); returns why it is bad, or null. */
export function checkEntry(data: Uint8Array, offset: number, size: number): string | null {
  if (size < ENTRY_HEADER_BYTES || offset + size > data.length) return 'entry cut short';
  const keyBytes = readU32(data, offset + 5);
  const valueBytes = readU32(data, offset + 9);
  if (ENTRY_HEADER_BYTES + keyBytes + valueBytes !== size) return 'entry lengths do not add up';
  const kind = data[offset + 4];
  if (kind !== KIND_PUT && kind !== KIND_DELETE) return `entry of unknown kind ${kind}`;
  if (crc32c(data, offset + 4, offset + size) !== readU32(data, offset)) return 'entry checksum mismatch';
  return null;
}

export function entryKey(data: Uint8Array, offset: number): string {
  const keyBytes = readU32(data, offset + 5);
  return utf8Decode(data, offset + ENTRY_HEADER_BYTES, offset + ENTRY_HEADER_BYTES + keyBytes);
}

/** The value of a checked entry (data holds just that entry, from offset 0 when read by a get). */
export function entryValue(data: Uint8Array, offset: number): string {
  const keyBytes = readU32(data, offset + 5);
  const valueBytes = readU32(data, offset + 9);
  const at = offset + ENTRY_HEADER_BYTES + keyBytes;
  return utf8Decode(data, at, at + valueBytes);
}

export type BadKind = 'incomplete' | 'zeroed' | 'checksum' | 'malformed';

export interface DataScan {
  validEnd: number;
  bad: { offset: number; kind: BadKind; detail: string; validAfter: boolean } | null;
}

/** Whether a batch header that verifies starts at p. */
function headerAt(data: Uint8Array, p: number): boolean {
  return p + BATCH_HEADER_BYTES <= data.length && data[p + 8] === BATCH_MAGIC && crc32c(data, p + 4, p + BATCH_HEADER_BYTES) === readU32(data, p);
}

/**
 * Reads the batch records of a data file's bytes, calling onEntry for each entry of each complete,
 * verified batch, in file order. Stops at the first bad record and says where and why.
 */
export function scanDataFile(data: Uint8Array, onEntry: (e: EntryRef) => void): DataScan {
  let pos = 0;
  const bad = (kind: BadKind, detail: string): DataScan => {
    let validAfter = false;
    for (let p = pos + 1; p + BATCH_HEADER_BYTES <= data.length && !validAfter; p++) validAfter = headerAt(data, p);
    return { validEnd: pos, bad: { offset: pos, kind, detail, validAfter } };
  };
  while (pos < data.length) {
    if (pos + BATCH_HEADER_BYTES > data.length) return isZero(data, pos, data.length) ? bad('zeroed', 'zeros at the end') : bad('incomplete', 'batch header cut short');
    if (isZero(data, pos, pos + BATCH_HEADER_BYTES)) return bad('zeroed', 'zeros where a batch header should be');
    if (!headerAt(data, pos)) return bad('checksum', 'batch header checksum mismatch');
    const count = readU32(data, pos + 9);
    const bodyBytes = readU32(data, pos + 13);
    const seq = readU64(data, pos + 17);
    if (count > BATCH_OPS_MAX || bodyBytes > BODY_BYTES_MAX || !Number.isSafeInteger(seq)) return bad('malformed', 'batch header out of range');
    const end = pos + BATCH_HEADER_BYTES + bodyBytes;
    if (end > data.length) return bad('incomplete', 'batch body cut short');
    if (crc32c(data, pos + BATCH_HEADER_BYTES, end) !== readU32(data, pos + 4)) return bad('checksum', 'batch body checksum mismatch');
    const entries: EntryRef[] = [];
    let p = pos + BATCH_HEADER_BYTES;
    for (let i = 0; i < count; i++) {
      if (p + ENTRY_HEADER_BYTES > end) return bad('malformed', 'entries overrun the batch body');
      const size = ENTRY_HEADER_BYTES + readU32(data, p + 5) + readU32(data, p + 9);
      const why = p + size > end ? 'entry overruns the batch body' : checkEntry(data, p, size);
      if (why !== null) return bad('malformed', why);
      let key: string;
      try {
        key = entryKey(data, p);
      } catch {
        return bad('malformed', 'key is not UTF-8');
      }
      entries.push({ kind: data[p + 4] as number, key, offset: p, size, seq });
      p += size;
    }
    if (p !== end) return bad('malformed', 'batch body longer than its entries');
    for (const e of entries) onEntry(e);
    pos = end;
  }
  return { validEnd: pos, bad: null };
}

export function encodeHint(entries: readonly EntryRef[], dataFileBytes: number): Uint8Array {
  const out = new ByteWriter(64 + entries.length * 40);
  for (const e of entries) {
    out.u8(e.kind);
    out.u64(e.seq);
    out.u32(e.offset);
    out.u32(e.size);
    const at = out.length;
    out.u32(0);
    const n = out.utf8(e.key);
    out.setU32At(at, n);
  }
  out.u64(dataFileBytes);
  out.u32(entries.length);
  out.u32(crc32c(out.buf, 0, out.length));
  out.u32(HINT_MAGIC);
  return out.copy();
}

/** The entries a hint lists, or a string saying why it cannot be used. */
export function decodeHint(data: Uint8Array, dataFileBytes: number): EntryRef[] | string {
  if (data.length < HINT_FOOTER_BYTES) return 'too short';
  const f = data.length - HINT_FOOTER_BYTES;
  if (readU32(data, f + 16) !== HINT_MAGIC) return 'bad magic';
  if (crc32c(data, 0, f + 12) !== readU32(data, f + 12)) return 'checksum mismatch';
  const describes = readU64(data, f);
  if (describes !== dataFileBytes) return `describes ${describes} bytes of data, the file has ${dataFileBytes}`;
  const count = readU32(data, f + 8);
  const out: EntryRef[] = [];
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 21 > f) return 'entries overrun the footer';
    const kind = data[p] as number;
    const seq = readU64(data, p + 1);
    const offset = readU32(data, p + 9);
    const size = readU32(data, p + 13);
    const keyBytes = readU32(data, p + 17);
    if (p + 21 + keyBytes > f) return 'key overruns the footer';
    let key: string;
    try {
      key = utf8Decode(data, p + 21, p + 21 + keyBytes);
    } catch {
      return 'key is not UTF-8';
    }
    if ((kind !== KIND_PUT && kind !== KIND_DELETE) || offset + size > dataFileBytes) return 'entry out of range';
    out.push({ kind, key, offset, size, seq });
    p += 21 + keyBytes;
  }
  return p === f ? out : 'entries do not fill the file';
}

/** Encodes a batch of one already-encoded entry (merge output keeps each entry's sequence). */
export function encodeSingleEntryBatch(out: ByteWriter, seq: number, entry: Uint8Array): void {
  const at = out.length;
  out.reserve(BATCH_HEADER_BYTES + entry.length);
  out.length += BATCH_HEADER_BYTES;
  out.bytes(entry);
  const b = out.buf;
  writeU32(b, at + 4, crc32c(entry));
  b[at + 8] = BATCH_MAGIC;
  writeU32(b, at + 9, 1);
  writeU32(b, at + 13, entry.length);
  writeU32(b, at + 17, seq % 0x100000000);
  writeU32(b, at + 21, Math.floor(seq / 0x100000000));
  writeU32(b, at, crc32c(b, at + 4, at + BATCH_HEADER_BYTES));
}

/** The body size a batch header at data[0..25) announces (valid only after the header verified). */
export function batchBodyBytes(header: Uint8Array): number {
  return readU32(header, 13);
}

export function encodeMergeMarker(consumed: readonly number[]): Uint8Array {
  const out = new ByteWriter(8 + 4 * consumed.length);
  out.u32(consumed.length);
  for (const id of consumed) out.u32(id);
  out.u32(crc32c(out.buf, 0, out.length));
  return out.copy();
}

/** The ids a marker lists, or a string saying why it does not verify. */
export function decodeMergeMarker(data: Uint8Array): number[] | string {
  if (data.length < 8) return 'too short';
  const count = readU32(data, 0);
  if (data.length !== 8 + 4 * count) return `length ${data.length} does not match ${count} ids`;
  if (crc32c(data, 0, data.length - 4) !== readU32(data, data.length - 4)) return 'checksum mismatch';
  const ids: number[] = [];
  for (let i = 0; i < count; i++) ids.push(readU32(data, 4 + 4 * i));
  return ids;
}
