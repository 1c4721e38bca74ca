import { type ByteWriter, readU32, writeU32 } from '../util/bytes.js';
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
 *   trailer: u8 block type | u32 CRC-32C of (block contents, block type)
 *   footer:  u32 filter offset | u32 filter size | u32 index offset | u32 index size |
 *            u32 entry count | u32 format version | u32 CRC-32C of the 24 bytes before |
 *            8-byte magic "kvlabSST"
 *
 * Sizes in handles exclude the trailer. The block type in the trailer catches a handle that points
 * at the wrong kind of block, which a checksum alone would not. Offsets are 32-bit: a table is at
 * most 4 GiB (tables are a few MiB).
 */

export const BLOCK_TRAILER_BYTES = 5;
export const FOOTER_BYTES = 36;
export const FORMAT_VERSION = 1;
export const MAGIC = new Uint8Array([0x6b, 0x76, 0x6c, 0x61, 0x62, 0x53, 0x53, 0x54]); // "kvlabSST"

export const BLOCK_DATA = 1;
export const BLOCK_INDEX = 2;
export const BLOCK_FILTER = 3;

export const TABLE_BYTES_MAX = 0xffffffff;

export interface Footer {
  filterOffset: number;
  filterSize: number;
  indexOffset: number;
  indexSize: number;
  entries: number;
}

/** Appends a block's contents and its trailer. */
export function writeBlock(out: ByteWriter, contents: Uint8Array, type: number): void {
  const at = out.length;
  out.bytes(contents);
  out.u8(type);
  out.u32(crc32c(out.buf, at, at + contents.length + 1));
}

/** Checks a block read with its trailer; returns why it is bad, or null. */
export function checkBlock(withTrailer: Uint8Array, size: number, type: number): string | null {
  return checkBlockIn(withTrailer, withTrailer.length, size, type);
}

/** checkBlock of a block read into buf[0, got) (buf may be longer). */
export function checkBlockIn(buf: Uint8Array, got: number, size: number, type: number): string | null {
  if (got !== size + BLOCK_TRAILER_BYTES) return `block cut short: ${got} of ${size + BLOCK_TRAILER_BYTES} bytes`;
  if (crc32c(buf, 0, size + 1) !== readU32(buf, size + 1)) return 'block checksum mismatch';
  if (buf[size] !== type) return `block type ${buf[size]} where ${type} was expected`;
  return null;
}

export function encodeFooter(f: Footer): Uint8Array {
  const out = new Uint8Array(FOOTER_BYTES);
  writeU32(out, 0, f.filterOffset);
  writeU32(out, 4, f.filterSize);
  writeU32(out, 8, f.indexOffset);
  writeU32(out, 12, f.indexSize);
  writeU32(out, 16, f.entries);
  writeU32(out, 20, FORMAT_VERSION);
  writeU32(out, 24, crc32c(out, 0, 24));
  out.set(MAGIC, 28);
  return out;
}

/** Decodes a footer; returns a string saying what is wrong when it is not one. */
export function decodeFooter(b: Uint8Array, fileSize: number): Footer | string {
  if (b.length !== FOOTER_BYTES) return `file of ${fileSize} bytes is too short for a footer`;
  for (let i = 0; i < MAGIC.length; i++) if (b[28 + i] !== MAGIC[i]) return 'bad magic number (not a table, or its end is lost)';
  if (crc32c(b, 0, 24) !== readU32(b, 24)) return 'footer checksum mismatch';
  const version = readU32(b, 20);
  if (version !== FORMAT_VERSION) return `unknown table format version ${version}`;
  const f: Footer = { filterOffset: readU32(b, 0), filterSize: readU32(b, 4), indexOffset: readU32(b, 8), indexSize: readU32(b, 12), entries: readU32(b, 16) };
  const body = fileSize - FOOTER_BYTES;
  if (f.indexOffset + f.indexSize + BLOCK_TRAILER_BYTES !== body) return 'index block does not end where the footer starts';
  if (f.filterSize > 0 && f.filterOffset + f.filterSize + BLOCK_TRAILER_BYTES !== f.indexOffset) return 'filter block does not end where the index starts';
  return f;
}
