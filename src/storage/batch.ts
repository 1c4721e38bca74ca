import { assert } from '../util/assert.js';
import { BATCH_BYTES_MAX, BATCH_OPS_MAX, checkString } from './keys.js';
import { ByteReader, type ByteWriter, FormatError } from './util/bytes.js';

/**
 * A write batch: operations applied atomically and in order (a later op on the same key wins).
 * A value of null deletes the key. The tuple shape is the node's StorageWrite, so the node hands
 * its writes over as they are.
 */
export type WriteOp = readonly [key: string, value: string | null];

export const OP_DELETE = 0;
export const OP_PUT = 1;

/**
 * Checks a batch against the contract's limits. Returns the batch's size in UTF-8 bytes of keys and
 * values, or a message saying what is wrong with which op.
 */
export function checkBatch(ops: readonly WriteOp[]): number | string {
  if (!Array.isArray(ops)) return 'a batch must be an array of [key, value] pairs';
  if (ops.length > BATCH_OPS_MAX) return `a batch holds at most ${BATCH_OPS_MAX} operations, got ${ops.length}`;
  let bytes = 0;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    if (!Array.isArray(op) || op.length !== 2) return `op ${i}: must be a [key, value] pair`;
    const keyErr = checkString(op[0], 'key');
    if (keyErr !== null) return `op ${i}: ${keyErr}`;
    if (op[1] !== null) {
      const valueErr = checkString(op[1], 'value');
      if (valueErr !== null) return `op ${i}: ${valueErr}`;
    }
    // Code units bound the bytes from below; the exact figure comes from encoding.
    bytes += (op[0] as string).length + (op[1] === null ? 0 : (op[1] as string).length);
    if (bytes > BATCH_BYTES_MAX) return `a batch holds at most ${BATCH_BYTES_MAX} bytes of keys and values`;
  }
  return bytes;
}

/**
 * Encodes a batch for a log record:
 *   varint count, then per op: u8 kind (1 put, 0 delete), varint key length, key bytes,
 *   and for a put: varint value length, value bytes.
 * Returns the UTF-8 bytes of keys and values (the user bytes the batch carries).
 */
export function encodeBatch(ops: readonly WriteOp[], out: ByteWriter): number {
  out.varint(ops.length);
  let userBytes = 0;
  for (const [key, value] of ops) {
    out.u8(value === null ? OP_DELETE : OP_PUT);
    userBytes += out.lengthPrefixedUtf8(key);
    if (value !== null) userBytes += out.lengthPrefixedUtf8(value);
  }
  return userBytes;
}

/** Decodes a batch; throws FormatError (with the offset in data) when it is malformed. */
export function decodeBatch(data: Uint8Array): WriteOp[] {
  const r = new ByteReader(data);
  const count = r.varint();
  if (count > BATCH_OPS_MAX) throw new FormatError(0, `batch of ${count} ops exceeds the limit`);
  const ops: WriteOp[] = [];
  for (let i = 0; i < count; i++) {
    const at = r.pos;
    const kind = r.u8();
    if (kind !== OP_PUT && kind !== OP_DELETE) throw new FormatError(at, `unknown batch op kind ${kind}`);
    const key = r.utf8(r.varint());
    ops.push([key, kind === OP_PUT ? r.utf8(r.varint()) : null]);
  }
  if (r.remaining !== 0) throw new FormatError(r.pos, `${r.remaining} stray bytes after the batch`);
  assert(ops.length === count, 'decodeBatch: count mismatch');
  return ops;
}
