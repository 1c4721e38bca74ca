import { assert } from '../../util/assert.js';
import { ByteWriter, isZero, readU16, readU32, writeU32 } from '../util/bytes.js';
import { crc32c, crc32cUpdate } from '../util/crc32c.js';

/**
 * The physical format of a log file (the WAL's segments, the LSM manifest), after LevelDB's
 * doc/log_format.md. A file is a sequence of blocks of blockBytes; a record is written as one or
 * more fragments, each inside one block:
 *
 *   +-----------+-----------+--------+------------------+
 *   | crc32c u32| length u16| type u8| payload (length) |
 *   +-----------+-----------+--------+------------------+
 *
 * crc32c covers length, type and payload. type is FULL (the whole record), or FIRST, MIDDLE...,
 * LAST for a record split across blocks. A block's last bytes, when fewer than a header, are zero.
 *
 * Why blocks: after a bad fragment, a reader can find the next block boundary and look for valid
 * data beyond it. That is how recovery tells a torn tail (nothing valid follows: the crash cut the
 * last write) from corruption in the middle (valid records follow: stored data went bad).
 */

export const HEADER_BYTES = 7;
export const BLOCK_BYTES_DEFAULT = 32 * 1024;
/** The length field is 16 bits, so a block may hold at most a 65535-byte fragment plus its header. */
export const BLOCK_BYTES_MAX = 65535 + HEADER_BYTES;
export const BLOCK_BYTES_MIN = 32;

export const FULL = 1;
export const FIRST = 2;
export const MIDDLE = 3;
export const LAST = 4;

export function checkBlockBytes(blockBytes: number): void {
  assert(
    Number.isInteger(blockBytes) && blockBytes >= BLOCK_BYTES_MIN && blockBytes <= BLOCK_BYTES_MAX,
    () => `log block size must be an integer in [${BLOCK_BYTES_MIN}, ${BLOCK_BYTES_MAX}], got ${blockBytes}`,
  );
}

/** Bytes that framing `payloadBytes` at `offset` adds to a file, padding and headers included. */
export function framedSize(payloadBytes: number, offset: number, blockBytes: number): number {
  let pos = offset;
  let left = payloadBytes;
  let first = true;
  while (first || left > 0) {
    let room = blockBytes - (pos % blockBytes);
    if (room < HEADER_BYTES) {
      pos += room;
      room = blockBytes;
    }
    const n = Math.min(left, room - HEADER_BYTES);
    pos += HEADER_BYTES + n;
    left -= n;
    first = false;
  }
  return pos - offset;
}

/**
 * Appends the fragments of one record to out, for a file whose next byte is at `offset`.
 * Returns the file offset after the record.
 */
export function frameRecord(out: ByteWriter, payload: Uint8Array, offset: number, blockBytes: number): number {
  let pos = offset;
  let at = 0;
  let first = true;
  while (first || at < payload.length) {
    let room = blockBytes - (pos % blockBytes);
    if (room < HEADER_BYTES) {
      out.reserve(room);
      out.buf.fill(0, out.length, out.length + room);
      out.length += room;
      pos += room;
      room = blockBytes;
    }
    const n = Math.min(payload.length - at, room - HEADER_BYTES);
    const end = at + n === payload.length;
    const type = first ? (end ? FULL : FIRST) : end ? LAST : MIDDLE;
    const h = out.length;
    out.reserve(HEADER_BYTES + n);
    out.length += HEADER_BYTES;
    out.buf[h + 4] = n & 0xff;
    out.buf[h + 5] = n >>> 8;
    out.buf[h + 6] = type;
    out.bytes(payload, at, at + n);
    writeU32(out.buf, h, crc32c(out.buf, h + 4, h + HEADER_BYTES + n));
    pos += HEADER_BYTES + n;
    at += n;
    first = false;
  }
  return pos;
}

/**
 * Why a scan stopped before the end of the file:
 * - `incomplete`: a header or payload runs past the end of the file (a write cut short);
 * - `zeroed`: zeros where a header should be (a write that never reached the disk, with a later
 *   write of the same file that did: the gap reads as zeros);
 * - `checksum`: a complete fragment whose checksum does not match, or one whose length field
 *   rotted so that it claims bytes past the end of the file (lengthBeforeFlip);
 * - `malformed`: a fragment that cannot be (bad type, crossing its block, out of sequence, or
 *   non-zero padding).
 */
export type BadKind = 'incomplete' | 'zeroed' | 'checksum' | 'malformed';

export interface BadTail {
  /** Offset of the record the bad fragment belongs to: everything from here is not valid. */
  offset: number;
  /** Offset of the bad fragment itself. */
  fragmentOffset: number;
  kind: BadKind;
  detail: string;
  /** Whether a valid fragment starts at some later block boundary of the file. */
  validAfter: boolean;
}

export interface ScanResult {
  /** End of the last complete valid record. */
  validEnd: number;
  records: number;
  bad: BadTail | null;
}

/**
 * Reads the records of a log file's bytes in order, calling onRecord with each payload (a view into
 * data, valid during the call) and the offset of its first fragment. Stops at the first bad
 * fragment and says where and why; the caller decides whether that is a torn tail or corruption.
 */
export function scanRecords(
  data: Uint8Array,
  blockBytes: number,
  onRecord: (payload: Uint8Array, offset: number) => void,
): ScanResult {
  checkBlockBytes(blockBytes);
  let pos = 0;
  let validEnd = 0;
  let records = 0;
  let recordStart = -1;
  const parts: Uint8Array[] = [];
  // A bad fragment whose own header was read (its length then may be rotten) is looked past at
  // every offset of its block (validFragmentInBlock), not only at the next fragment and the
  // following block boundaries.
  const bad = (kind: BadKind, detail: string, nextFragment = -1, headerRead = false): ScanResult => ({
    validEnd,
    records,
    bad: {
      offset: recordStart >= 0 ? recordStart : pos,
      fragmentOffset: pos,
      kind,
      detail,
      validAfter: (nextFragment >= 0 && validFragmentAt(data, nextFragment, blockBytes)) || validFragmentAfter(data, pos, blockBytes) || (headerRead && validFragmentInBlock(data, pos + 1, blockBytes)),
    },
  });
  while (pos < data.length) {
    const room = blockBytes - (pos % blockBytes);
    if (room < HEADER_BYTES) {
      const end = Math.min(pos + room, data.length);
      if (!isZero(data, pos, end)) return bad('malformed', 'non-zero block padding');
      pos = end;
      continue;
    }
    if (pos + HEADER_BYTES > data.length) {
      return isZero(data, pos, data.length) && recordStart < 0 ? bad('zeroed', 'zeros at the end') : bad('incomplete', 'header cut short');
    }
    if (isZero(data, pos, pos + HEADER_BYTES)) return bad('zeroed', 'zeros where a fragment header should be');
    const len = readU16(data, pos + 4);
    const type = data[pos + 6] as number;
    if (HEADER_BYTES + len > room) return bad('malformed', `fragment of ${len} bytes crosses its block`, -1, true);
    if (pos + HEADER_BYTES + len > data.length) {
      const whole = lengthBeforeFlip(data, pos, len, type, room);
      if (whole !== null) return bad('checksum', `fragment length field rotten: it claims ${len} bytes past the end of the file, and ${whole} verify`, pos + HEADER_BYTES + whole, true);
      return bad('incomplete', `fragment of ${len} bytes cut short`, -1, true);
    }
    // A damaged payload leaves the length intact: the next fragment is then right after this one.
    if (crc32c(data, pos + 4, pos + HEADER_BYTES + len) !== readU32(data, pos)) return bad('checksum', 'fragment checksum mismatch', pos + HEADER_BYTES + len, true);
    const payload = data.subarray(pos + HEADER_BYTES, pos + HEADER_BYTES + len);
    switch (type) {
      case FULL:
        if (recordStart >= 0) return bad('malformed', 'FULL fragment inside a split record');
        onRecord(payload, pos);
        break;
      case FIRST:
        if (recordStart >= 0) return bad('malformed', 'FIRST fragment inside a split record');
        recordStart = pos;
        parts.length = 0;
        parts.push(payload);
        break;
      case MIDDLE:
      case LAST:
        if (recordStart < 0) return bad('malformed', `${type === LAST ? 'LAST' : 'MIDDLE'} fragment outside a split record`);
        parts.push(payload);
        if (type === LAST) {
          onRecord(concat(parts), recordStart);
          recordStart = -1;
        }
        break;
      default:
        return bad('malformed', `unknown fragment type ${type}`);
    }
    pos += HEADER_BYTES + len;
    if (recordStart < 0) {
      validEnd = pos;
      records++;
    }
  }
  if (recordStart >= 0) return bad('incomplete', 'split record without its LAST fragment');
  return { validEnd, records, bad: null };
}

/**
 * The length a fragment at p had before one bit of its length field flipped, when that is how it
 * came to claim bytes past the end of the file: the length with one bit changed fits its block and
 * the file, and with it the fragment verifies. Null when no such length exists. A write cut short
 * claims its true length with too few bytes after it; a fragment that was written whole and whose
 * length field rotted upward looks just like it, except that one of these sixteen lengths makes its
 * checksum agree, which a cut write does only by a CRC-32C's chance. So the last record of a log,
 * synced and then rotten in its length, reads as rot (tailMayBeRot) and not as a torn write; a
 * flip of one bit is what a failing sector most often does, and what the simulator's corrupt fault
 * does. Wider damage to the length field still reads as torn: CTRL's persist records (Alagappan et
 * al., FAST 2018) would tell every case apart, at a write per fsync.
 */
function lengthBeforeFlip(data: Uint8Array, p: number, len: number, type: number, room: number): number | null {
  if (type < FULL || type > LAST) return null;
  const stored = readU32(data, p);
  const header = new Uint8Array(3);
  header[2] = type;
  for (let bit = 0; bit < 16; bit++) {
    const n = len ^ (1 << bit);
    if (HEADER_BYTES + n > room || p + HEADER_BYTES + n > data.length) continue;
    header[0] = n & 0xff;
    header[1] = n >>> 8;
    if (crc32cUpdate(crc32cUpdate(0, header), data, p + HEADER_BYTES, p + HEADER_BYTES + n) === stored) return n;
  }
  return null;
}

/** Whether a fragment that verifies starts at p. */
function validFragmentAt(data: Uint8Array, p: number, blockBytes: number): boolean {
  if (p + HEADER_BYTES > data.length || blockBytes - (p % blockBytes) < HEADER_BYTES || isZero(data, p, p + HEADER_BYTES)) return false;
  const len = readU16(data, p + 4);
  const type = data[p + 6] as number;
  if (type < FULL || type > LAST || HEADER_BYTES + len > blockBytes - (p % blockBytes) || p + HEADER_BYTES + len > data.length) return false;
  return crc32c(data, p + 4, p + HEADER_BYTES + len) === readU32(data, p);
}

/**
 * Whether a fragment that verifies starts at any offset from `from` to the end of its block. A
 * rotten length field hides where the next fragment starts (or claims bytes past the end of the
 * file, like a write cut short), and in a log shorter than a block no boundary follows: without
 * this, a rotten record followed by good ones in the last block read as a torn tail, and the
 * records after it, acknowledged, were dropped silently (raft/rot-bitcask seed 1). A write really
 * cut short has nothing after it but its own payload's first bytes; a match inside them (a value
 * that holds a framed record) only makes a torn tail read as corruption: the member then holds its
 * votes until a later term, never loses data. A match by chance needs a CRC-32C to agree.
 */
function validFragmentInBlock(data: Uint8Array, from: number, blockBytes: number): boolean {
  const end = Math.min(data.length, (Math.floor(from / blockBytes) + 1) * blockBytes);
  for (let p = from; p + HEADER_BYTES <= end; p++) {
    const type = data[p + 6] as number;
    if (type < FULL || type > LAST) continue;
    if (validFragmentAt(data, p, blockBytes)) return true;
  }
  return false;
}

/** Whether any block boundary after `from` starts with a fragment that verifies. */
function validFragmentAfter(data: Uint8Array, from: number, blockBytes: number): boolean {
  for (let b = (Math.floor(from / blockBytes) + 1) * blockBytes; b + HEADER_BYTES <= data.length; b += blockBytes) {
    if (validFragmentAt(data, b, blockBytes)) return true;
  }
  return false;
}

function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
