import { type ByteWriter, readU32, writeU32 } from '../util/bytes.js';
import { crc32 } from '../util/crc32.js';
import { crc32c } from '../util/crc32c.js';

/**
 * The SSTable file (FORMAT.md has the whole picture):
 *
 *   data block 0 | trailer
 *   ...
 *   data block n | trailer
 *   filter block | trailer      (the table's Bloom filter; absent when bitsPerKey is 0)
 *   index block  | trailer      (per data block: its last key -> varint offset, varint size)
 *   footer (36 bytes)
 *
 *   trailer: u8 block type | u32 checksum of (block contents, block type)
 *   footer:  u32 filter offset | u32 filter size | u32 index offset | u32 index size |
 *            u32 entry count | u32 format version | u32 checksum of the 24 bytes before |
 *            8-byte magic "kvlabSST"
 *
 * The checksum is CRC-32 in format 2 (what this code writes: computed natively, a third of the
 * time of CRC-32C in JavaScript on every cache miss; ../util/crc32.ts) and CRC-32C in format 1,
 * which is still read.
 *
 * Sizes in handles exclude the trailer. The block type in the trailer catches a handle that points
 * at the wrong kind of block, which a checksum alone would not. Offsets are 32-bit: a table is at
 * most 4 GiB (tables are a few MiB).
 */

export const BLOCK_TRAILER_BYTES = 5;
export const FOOTER_BYTES = 36;
/** The table format this code writes; FORMAT_VERSION_CRC32C tables are still read. */
export const FORMAT_VERSION = 2;
export const FORMAT_VERSION_CRC32C = 1;
export const MAGIC = new Uint8Array([0x6b, 0x76, 0x6c, 0x61, 0x62, 0x53, 0x53, 0x54]); // "kvlabSST"

export const BLOCK_DATA = 1;
export const BLOCK_INDEX = 2;
export const BLOCK_FILTER = 3;

export const TABLE_BYTES_MAX = 0xffffffff;

export interface Footer {
  /** FORMAT_VERSION or FORMAT_VERSION_CRC32C: says which checksum the table's blocks carry. */
  version: number;
  filterOffset: number;
  filterSize: number;
  indexOffset: number;
  indexSize: number;
  entries: number;
}

/** The checksum of data[start, end) in a table of the given format version. */
export function tableChecksum(version: number, data: Uint8Array, start: number, end: number): number {
  return version === FORMAT_VERSION_CRC32C ? crc32c(data, start, end) : crc32(data, start, end);
}

/** Appends a block's contents and its trailer (format FORMAT_VERSION). */
export function writeBlock(out: ByteWriter, contents: Uint8Array, type: number): void {
  const at = out.length;
  out.bytes(contents);
  out.u8(type);
  out.u32(crc32(out.buf, at, at + contents.length + 1));
}

/** Checks a block read with its trailer; returns why it is bad, or null. */
export function checkBlock(withTrailer: Uint8Array, size: number, type: number, version: number): string | null {
  return checkBlockIn(withTrailer, withTrailer.length, size, type, version);
}

/** checkBlock of a block read into buf[0, got) (buf may be longer). */
export function checkBlockIn(buf: Uint8Array, got: number, size: number, type: number, version: number): string | null {
  if (got !== size + BLOCK_TRAILER_BYTES) return `block cut short: ${got} of ${size + BLOCK_TRAILER_BYTES} bytes`;
  if (tableChecksum(version, buf, 0, size + 1) !== readU32(buf, size + 1)) return 'block checksum mismatch';
  if (buf[size] !== type) return `block type ${buf[size]} where ${type} was expected`;
  return null;
}

export function encodeFooter(f: Omit<Footer, 'version'>): Uint8Array {
  const out = new Uint8Array(FOOTER_BYTES);
  writeU32(out, 0, f.filterOffset);
  writeU32(out, 4, f.filterSize);
  writeU32(out, 8, f.indexOffset);
  writeU32(out, 12, f.indexSize);
  writeU32(out, 16, f.entries);
  writeU32(out, 20, FORMAT_VERSION);
  writeU32(out, 24, crc32(out, 0, 24));
  out.set(MAGIC, 28);
  return out;
}

/** Decodes a footer; returns a string saying what is wrong when it is not one. */
export function decodeFooter(b: Uint8Array, fileSize: number): Footer | string {
  if (b.length !== FOOTER_BYTES) return `file of ${fileSize} bytes is too short for a footer`;
  for (let i = 0; i < MAGIC.length; i++) if (b[28 + i] !== MAGIC[i]) return 'bad magic number (not a table, or its end is lost)';
  // The version is covered by the checksum it selects: a flipped version fails the other one.
  const version = readU32(b, 20);
  if (version !== FORMAT_VERSION && version !== FORMAT_VERSION_CRC32C) return `unknown table format version ${version}`;
  if (tableChecksum(version, b, 0, 24) !== readU32(b, 24)) return 'footer checksum mismatch';
  const f: Footer = { version, filterOffset: readU32(b, 0), filterSize: readU32(b, 4), indexOffset: readU32(b, 8), indexSize: readU32(b, 12), entries: readU32(b, 16) };
  const body = fileSize - FOOTER_BYTES;
  if (f.indexOffset + f.indexSize + BLOCK_TRAILER_BYTES !== body) return 'index block does not end where the footer starts';
  if (f.filterSize > 0 && f.filterOffset + f.filterSize + BLOCK_TRAILER_BYTES !== f.indexOffset) return 'filter block does not end where the index starts';
  return f;
}
