import { assert } from '../../util/assert.js';
import { type ByteWriter, readU64 } from '../util/bytes.js';

/**
 * A WAL record as its owner sees it: a log sequence number, a type and bytes. Inside the physical
 * record (record-format.ts) it is laid out as
 *
 *   +------------+---------+----------------+
 *   | lsn u64 LE | type u8 | data           |
 *   +------------+---------+----------------+
 *
 * LSNs start at 1 and grow by one per record, with no gaps, across segments and restarts; the
 * recovery checks that, so a missing or misplaced record is detected, not skipped.
 */
export const LOGICAL_HEADER_BYTES = 9;

export const LSN_MAX = Number.MAX_SAFE_INTEGER;

export function encodeLogical(out: ByteWriter, lsn: number, type: number, data: Uint8Array): void {
  assert(Number.isSafeInteger(lsn) && lsn >= 1, () => `WAL: bad LSN ${lsn}`);
  assert(Number.isInteger(type) && type >= 0 && type <= 255, () => `WAL: record type must be a byte, got ${type}`);
  out.u64(lsn);
  out.u8(type);
  out.bytes(data);
}

export interface LogicalHeader {
  lsn: number;
  type: number;
}

/** Null when the payload is too short to hold a header. */
export function decodeLogicalHeader(payload: Uint8Array): LogicalHeader | null {
  if (payload.length < LOGICAL_HEADER_BYTES) return null;
  return { lsn: readU64(payload, 0), type: payload[8] as number };
}
