import { SCAN_LIMIT_MAX } from '../storage/engine.js';
import { compareKeys } from '../storage/keys.js';
import { assert } from '../util/assert.js';
import { JsonParseError, parseJson } from '../util/json-parse.js';
import type { FrozenView } from './store.js';

/**
 * The node's state as snapshot blocks: what the Raft runtime writes to a snapshot file a block at
 * a time (replication/raft-runtime/snapshot-file.ts) and streams to followers.
 *
 * A block (format 2):
 *   u8 2
 *   records: u32 BE key bytes, u32 BE value bytes, key (UTF-8), value (UTF-8)
 * in key order, every key of the store but the node's own bookkeeping. A block holds about
 * blockBytes of records (one record alone may be larger: a key of 1 KiB and a value of 1 MiB).
 *
 * Format 1 (snapshots written before blocks): one block holding the whole state as the JSON
 * text of [[key, value], …]; still read, never written.
 */

export const STATE_BLOCK_VERSION = 2;
/** Records per block at most, whatever their size. */
const RECORDS_PER_BLOCK_MAX = 65_536;

/** A block that does not decode. */
export class SnapshotFormatError extends Error {
  override name = 'SnapshotFormatError';
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeStateBlock(records: readonly [string, string][]): Uint8Array {
  const parts: Uint8Array[] = [];
  let size = 1;
  for (const [k, v] of records) {
    const kb = encoder.encode(k);
    const vb = encoder.encode(v);
    parts.push(kb, vb);
    size += 8 + kb.length + vb.length;
  }
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out[0] = STATE_BLOCK_VERSION;
  let at = 1;
  for (let i = 0; i < parts.length; i += 2) {
    const kb = parts[i] as Uint8Array;
    const vb = parts[i + 1] as Uint8Array;
    view.setUint32(at, kb.length);
    view.setUint32(at + 4, vb.length);
    out.set(kb, at + 8);
    out.set(vb, at + 8 + kb.length);
    at += 8 + kb.length + vb.length;
  }
  assert(at === size, 'state block: encoded size mismatch');
  return out;
}

/** The records of a block (either format). Throws SnapshotFormatError saying what is wrong. */
export function decodeStateBlock(block: Uint8Array): [string, string][] {
  if (block.length === 0) throw new SnapshotFormatError('an empty state block');
  if (block[0] === 0x5b) return decodeJsonBlock(block);
  if (block[0] !== STATE_BLOCK_VERSION) throw new SnapshotFormatError(`state block of unknown version ${block[0]}`);
  const view = new DataView(block.buffer, block.byteOffset, block.byteLength);
  const out: [string, string][] = [];
  let at = 1;
  while (at < block.length) {
    if (block.length - at < 8) throw new SnapshotFormatError(`record ${out.length} is cut short at byte ${at}`);
    const kn = view.getUint32(at);
    const vn = view.getUint32(at + 4);
    if (block.length - at - 8 < kn + vn) throw new SnapshotFormatError(`record ${out.length} claims ${kn} + ${vn} bytes, ${block.length - at - 8} remain`);
    let key: string;
    let value: string;
    try {
      key = decoder.decode(block.subarray(at + 8, at + 8 + kn));
      value = decoder.decode(block.subarray(at + 8 + kn, at + 8 + kn + vn));
    } catch {
      throw new SnapshotFormatError(`record ${out.length} is not UTF-8`);
    }
    const prev = out[out.length - 1];
    if (prev !== undefined && compareKeys(prev[0], key) >= 0) throw new SnapshotFormatError(`record ${out.length} is out of key order`);
    out.push([key, value]);
    at += 8 + kn + vn;
  }
  return out;
}

function decodeJsonBlock(block: Uint8Array): [string, string][] {
  let v: unknown;
  try {
    v = parseJson(decoder.decode(block), 'format 1 snapshot', 3);
  } catch (err) {
    throw new SnapshotFormatError(err instanceof JsonParseError ? err.message : 'format 1 snapshot is not UTF-8');
  }
  if (!Array.isArray(v) || !v.every((r) => Array.isArray(r) && r.length === 2 && typeof r[0] === 'string' && typeof r[1] === 'string')) {
    throw new SnapshotFormatError('format 1 snapshot is not a list of [key, value] strings');
  }
  return v as [string, string][];
}

/**
 * The store's state, a block at a time, from a frozen view (applies go on meanwhile). Pages are
 * sized by what they hold: values may be a mebibyte each, so a page of a fixed count could hold
 * gigabytes; the next page's count halves when one page passes the block size and doubles while
 * pages are small.
 */
export class StateSnapshotSource {
  private cursor: string | null = '';
  /** Entries asked of the store per scan: starts small (a first page of 256 values of 1 MiB each held the event loop for 1.8 s), grows while pages are small. */
  private pageCount = 4;

  constructor(
    private readonly view: FrozenView,
    /** Keys that are the node's own and are not part of the replicated state. */
    private readonly skip: ReadonlySet<string>,
    readonly blockBytes: number,
  ) {
    assert(blockBytes >= 1, 'state snapshot: blockBytes must be positive');
  }

  next(): Uint8Array | null {
    const records: [string, string][] = [];
    let bytes = 0;
    while (this.cursor !== null && bytes < this.blockBytes && records.length < RECORDS_PER_BLOCK_MAX) {
      const asked = Math.min(this.pageCount, RECORDS_PER_BLOCK_MAX - records.length);
      const page = this.view.scan(this.cursor, null, asked, false);
      let used = 0;
      for (const kv of page) {
        used++;
        if (this.skip.has(kv[0])) continue;
        records.push(kv);
        // An upper bound of the UTF-8 size, without encoding twice.
        bytes += 8 + kv[0].length * 3 + kv[1].length * 3;
        if (bytes >= this.blockBytes) break;
      }
      const last = page[used - 1];
      this.cursor = (used === page.length && page.length < asked) || last === undefined ? null : last[0] + '\x00';
      // The next page: smaller when this one held more than a block, larger while pages are small.
      this.pageCount = used < page.length ? Math.max(1, used) : Math.min(SCAN_LIMIT_MAX, 4096, this.pageCount * 2);
    }
    return records.length === 0 ? null : encodeStateBlock(records);
  }

  release(): void {
    this.view.release();
  }
}
