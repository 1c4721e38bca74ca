import { assert } from '../../util/assert.js';

/**
 * Byte encoding helpers shared by every on-disk format in storage/: a growable writer, little-endian
 * fixed-width integers and LEB128 varints (LevelDB's coding.h, in TypeScript).
 *
 * Numbers are JavaScript numbers: 64-bit quantities (LSNs, file numbers, sizes) are integers below
 * 2^53, which is far beyond what a node will ever write and is asserted on encode.
 */

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

/** A growable output buffer. The views it returns stay valid until the next write or reset. */
export class ByteWriter {
  buf: Uint8Array;
  length = 0;
  private view: DataView;

  constructor(initialBytes = 256) {
    this.buf = new Uint8Array(initialBytes);
    this.view = new DataView(this.buf.buffer);
  }

  reset(): void {
    this.length = 0;
  }

  /** Makes room for n more bytes. */
  reserve(n: number): void {
    const need = this.length + n;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): void {
    this.reserve(1);
    this.buf[this.length++] = v;
  }

  u32(v: number): void {
    this.reserve(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
  }

  /** Writes v (an integer in [0, 2^53)) as 8 little-endian bytes. */
  u64(v: number): void {
    assert(Number.isSafeInteger(v) && v >= 0, () => `u64: not a safe non-negative integer: ${v}`);
    this.reserve(8);
    this.view.setUint32(this.length, v % 0x100000000, true);
    this.view.setUint32(this.length + 4, Math.floor(v / 0x100000000), true);
    this.length += 8;
  }

  /** Overwrites 4 bytes at an earlier position (for lengths and checksums known only later). */
  setU32At(offset: number, v: number): void {
    assert(offset + 4 <= this.length, 'setU32At: past the end');
    this.view.setUint32(offset, v, true);
  }

  varint(v: number): void {
    assert(Number.isSafeInteger(v) && v >= 0, () => `varint: not a safe non-negative integer: ${v}`);
    this.reserve(8);
    while (v >= 0x80) {
      this.buf[this.length++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.length++] = v;
  }

  bytes(data: Uint8Array, start = 0, end = data.length): void {
    const n = end - start;
    this.reserve(n);
    this.buf.set(start === 0 && end === data.length ? data : data.subarray(start, end), this.length);
    this.length += n;
  }

  /** Writes the UTF-8 encoding of s and returns its length in bytes. */
  utf8(s: string): number {
    // A UTF-16 code unit never needs more than 3 bytes of UTF-8 (a surrogate pair, 2 units, needs 4).
    this.reserve(s.length * 3);
    const { written } = textEncoder.encodeInto(s, this.buf.subarray(this.length));
    this.length += written;
    return written;
  }

  /**
   * Writes s as a varint byte length followed by its UTF-8 bytes (encoded once, in place: the
   * length prefix is guessed at one byte and the bytes moved if it needs more). Returns the length.
   */
  lengthPrefixedUtf8(s: string): number {
    this.reserve(8 + s.length * 3);
    const at = this.length;
    const { written } = textEncoder.encodeInto(s, this.buf.subarray(at + 1));
    const prefix = varintSize(written);
    if (prefix > 1) this.buf.copyWithin(at + prefix, at + 1, at + 1 + written);
    this.varint(written);
    this.length = at + prefix + written;
    return written;
  }

  /** A view of what was written. */
  written(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }

  /** A copy of what was written. */
  copy(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

export function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
}

/** Reading positions of varints; `varintEnd` receives the offset just past the last one read. */
export let varintEnd = 0;

/**
 * Decodes a varint at offset, ending before limit. Returns -1 on a malformed or truncated varint.
 * Sets varintEnd (a module variable, to decode without allocating on hot paths).
 */
export function readVarint(data: Uint8Array, offset: number, limit: number): number {
  let result = 0;
  let scale = 1;
  for (let i = offset; i < limit && i < offset + 8; i++) {
    const b = data[i] as number;
    result += (b & 0x7f) * scale;
    if (b < 0x80) {
      varintEnd = i + 1;
      return result;
    }
    scale *= 0x80;
  }
  return -1;
}

export function readU32(data: Uint8Array, offset: number): number {
  return ((data[offset] as number) | ((data[offset + 1] as number) << 8) | ((data[offset + 2] as number) << 16)) + (data[offset + 3] as number) * 0x1000000;
}

export function writeU32(data: Uint8Array, offset: number, v: number): void {
  data[offset] = v & 0xff;
  data[offset + 1] = (v >>> 8) & 0xff;
  data[offset + 2] = (v >>> 16) & 0xff;
  data[offset + 3] = (v >>> 24) & 0xff;
}

export function readU64(data: Uint8Array, offset: number): number {
  return readU32(data, offset) + readU32(data, offset + 4) * 0x100000000;
}

export function readU16(data: Uint8Array, offset: number): number {
  return (data[offset] as number) | ((data[offset + 1] as number) << 8);
}

/** Decodes UTF-8 strictly: malformed bytes throw instead of turning into U+FFFD. */
export function utf8Decode(data: Uint8Array, start = 0, end = data.length): string {
  return textDecoder.decode(start === 0 && end === data.length ? data : data.subarray(start, end));
}

export function utf8Encode(s: string): Uint8Array {
  return textEncoder.encode(s);
}

/** Encodes s into out at offset (which must have room for 3 bytes per code unit); returns the length. */
export function utf8EncodeInto(s: string, out: Uint8Array, offset: number): number {
  return textEncoder.encodeInto(s, offset === 0 ? out : out.subarray(offset)).written;
}

/**
 * A strict parser over a byte range for the formats' decoders: every read checks bounds and a
 * failure throws a FormatError with the offset, which the caller turns into a corruption error
 * naming the file.
 */
export class FormatError extends Error {
  constructor(
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`${reason} at offset ${offset}`);
    this.name = 'FormatError';
  }
}

export class ByteReader {
  pos: number;

  constructor(
    readonly data: Uint8Array,
    start = 0,
    readonly end = data.length,
  ) {
    this.pos = start;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, what: string): void {
    if (this.pos + n > this.end) throw new FormatError(this.pos, `truncated ${what}`);
  }

  u8(): number {
    this.need(1, 'byte');
    return this.data[this.pos++] as number;
  }

  u32(): number {
    this.need(4, 'u32');
    const v = readU32(this.data, this.pos);
    this.pos += 4;
    return v;
  }

  u64(): number {
    this.need(8, 'u64');
    const v = readU64(this.data, this.pos);
    if (!Number.isSafeInteger(v)) throw new FormatError(this.pos, 'u64 beyond 2^53');
    this.pos += 8;
    return v;
  }

  varint(): number {
    const v = readVarint(this.data, this.pos, this.end);
    if (v < 0) throw new FormatError(this.pos, 'malformed varint');
    this.pos = varintEnd;
    return v;
  }

  bytes(n: number): Uint8Array {
    this.need(n, `${n}-byte field`);
    const out = this.data.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** A varint length followed by that many bytes. */
  lengthPrefixed(): Uint8Array {
    return this.bytes(this.varint());
  }

  utf8(n: number): string {
    const at = this.pos;
    const b = this.bytes(n);
    try {
      return utf8Decode(b);
    } catch {
      throw new FormatError(at, 'malformed UTF-8');
    }
  }
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** memcmp order: the order of keys in every table and log of storage/. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** compareBytes(a, b[bStart, bEnd)) without making a view. */
export function compareBytesTo(a: Uint8Array, b: Uint8Array, bStart: number, bEnd: number): number {
  const bLen = bEnd - bStart;
  const n = a.length < bLen ? a.length : bLen;
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[bStart + i] as number);
    if (d !== 0) return d;
  }
  return a.length - bLen;
}

/** True when every byte of data[start, end) is zero: what a lost write leaves in a file. */
export function isZero(data: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (data[i] !== 0) return false;
  return true;
}
