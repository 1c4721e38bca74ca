import * as zlib from 'node:zlib';

/**
 * CRC-32 (IEEE 802.3, the checksum of zlib, gzip and PNG): the checksum of table blocks since
 * table format 2 (lsm/FORMAT.md). Node computes it natively (zlib.crc32, Node 20.15 and later,
 * with the carry-less multiply instructions where the CPU has them): about 1 µs for a 4 KiB
 * block on this machine, against 3.2–3.8 µs for CRC-32C in JavaScript (crc32c.ts), and a table
 * read verifies a whole block on every cache miss. CRC-32 detects every burst of up to 32 bits
 * and every odd number of flipped bits, as CRC-32C does; CRC-32C's advantage is a larger minimum
 * Hamming distance at some message lengths (Castagnoli 1993), which a 32-bit check per 4 KiB
 * block does not need to detect the bit flips and torn writes it guards against.
 *
 * Where Node lacks zlib.crc32, a slicing-by-8 JavaScript version computes the same value.
 */

const POLY_REVERSED = 0xedb88320;

const TABLE: Int32Array = (() => {
  const t = new Int32Array(8 * 256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY_REVERSED : c >>> 1;
    t[i] = c;
  }
  for (let i = 0; i < 256; i++) {
    let c = t[i] as number;
    for (let s = 1; s < 8; s++) {
      c = (t[c & 0xff] as number) ^ (c >>> 8);
      t[s * 256 + i] = c;
    }
  }
  return t;
})();

/** CRC-32 of data[start, end) in JavaScript (the fallback, and the reference the tests compare). */
export function crc32Js(data: Uint8Array, start = 0, end = data.length): number {
  const t = TABLE;
  let c = -1;
  let i = start;
  const end8 = end - ((end - start) & 7);
  for (; i < end8; i += 8) {
    const a = c ^ ((data[i] as number) | ((data[i + 1] as number) << 8) | ((data[i + 2] as number) << 16) | ((data[i + 3] as number) << 24));
    c =
      (t[1792 + (a & 0xff)] as number) ^
      (t[1536 + ((a >>> 8) & 0xff)] as number) ^
      (t[1280 + ((a >>> 16) & 0xff)] as number) ^
      (t[1024 + (a >>> 24)] as number) ^
      (t[768 + (data[i + 4] as number)] as number) ^
      (t[512 + (data[i + 5] as number)] as number) ^
      (t[256 + (data[i + 6] as number)] as number) ^
      (t[data[i + 7] as number] as number);
  }
  for (; i < end; i++) c = (t[(c ^ (data[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return ~c >>> 0;
}

const native: ((data: Uint8Array) => number) | null = typeof zlib.crc32 === 'function' ? (data) => zlib.crc32(data) : null;

/** CRC-32 of data[start, end), as an unsigned 32-bit number. */
export function crc32(data: Uint8Array, start = 0, end = data.length): number {
  if (native === null) return crc32Js(data, start, end);
  return native(start === 0 && end === data.length ? data : data.subarray(start, end)) >>> 0;
}
