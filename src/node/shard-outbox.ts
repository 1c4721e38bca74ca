import type { Clock } from '../env/clock.js';
import type { Net } from '../env/net.js';
import { assert } from '../util/assert.js';
import { SHARD_FRAME, SHARD_HEADER_BYTES, wrapShardFrame } from './shard-env.js';

/**
 * Coalesced messages between the Raft groups of two nodes. Every frame a group sends in one turn
 * of the node's event loop (with coalesced ticks, every group's heartbeats of a tick are sent in
 * the same turn) waits in a per-destination queue until the turn ends (Clock.defer), then the
 * queue leaves as one batch frame: one network message where there were G. A lone frame leaves
 * in its ordinary shard envelope. Per destination the frames keep their order; a batch is lost,
 * delayed or duplicated whole, which Raft tolerates as it tolerates it of each frame. Idea:
 * CockroachDB's coalesced heartbeats and TiKV's batched Raft messages per store pair.
 *
 * Batch frame: [SHARD_BATCH_FRAME, count u32, then per frame: shard u32, length u32, bytes],
 * big-endian. At most BATCH_BYTES_MAX of frames per batch; a queue past it leaves at once.
 */
export const SHARD_BATCH_FRAME = 0x03;
export const BATCH_BYTES_MAX = 256 * 1024;
/** Frames one batch may carry (a bound the receiver checks before it allocates anything). */
export const BATCH_FRAMES_MAX = 4096;
const ITEM_HEADER_BYTES = 8;

/** One destination's frames, and their shards by position (two arrays: no object per frame). */
interface Queue {
  shards: number[];
  frames: Uint8Array[];
  bytes: number;
}

export class ShardOutbox {
  private readonly queues = new Map<string, Queue>();
  private flushing = false;
  private closed = false;
  /** Network messages sent, and group frames they carried (for tests and status). */
  readonly stats = { messages: 0, frames: 0 };

  constructor(
    private readonly net: Net,
    private readonly clock: Clock,
  ) {}

  send(to: string, shard: number, frame: Uint8Array): void {
    if (this.closed) return;
    let q = this.queues.get(to);
    if (q === undefined) this.queues.set(to, (q = { shards: [], frames: [], bytes: 0 }));
    q.shards.push(shard);
    q.frames.push(frame);
    q.bytes += frame.length + ITEM_HEADER_BYTES;
    if (q.bytes >= BATCH_BYTES_MAX || q.frames.length >= BATCH_FRAMES_MAX) this.flushTo(to, q);
    if (!this.flushing && this.queues.size > 0) {
      this.flushing = true;
      this.clock.defer(this.flushed);
    }
  }

  /** The end of a turn's flush, one closure for the outbox's life. */
  private readonly flushed = (): void => this.flush();

  /** Drops what waits: the node stopped (its Net is closed). */
  close(): void {
    this.closed = true;
    this.queues.clear();
  }

  private flush(): void {
    this.flushing = false;
    if (this.closed) return;
    for (const [to, q] of [...this.queues]) this.flushTo(to, q);
    assert(this.queues.size === 0, 'a flushed outbox is empty');
  }

  private flushTo(to: string, q: Queue): void {
    this.queues.delete(to);
    if (q.frames.length === 0) return;
    this.stats.messages++;
    this.stats.frames += q.frames.length;
    if (q.frames.length === 1) return this.net.send(to, wrapShardFrame(q.shards[0] as number, q.frames[0] as Uint8Array));
    this.net.send(to, encodeBatch(q));
  }
}

function encodeBatch(q: Queue): Uint8Array {
  assert(q.shards.length === q.frames.length, 'a shard for every frame');
  let size = 5;
  for (const f of q.frames) size += ITEM_HEADER_BYTES + f.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out[0] = SHARD_BATCH_FRAME;
  view.setUint32(1, q.frames.length);
  let at = 5;
  for (let i = 0; i < q.frames.length; i++) {
    const f = q.frames[i] as Uint8Array;
    view.setUint32(at, q.shards[i] as number);
    view.setUint32(at + 4, f.length);
    out.set(f, at + ITEM_HEADER_BYTES);
    at += ITEM_HEADER_BYTES + f.length;
  }
  assert(at === size, 'a batch frame filled exactly');
  return out;
}

/**
 * The frames of a batch (or of a single envelope), or an error naming what is wrong: a count or
 * length past the frame's end, an empty item, more than BATCH_FRAMES_MAX frames.
 */
export function decodeShardFrames(frame: Uint8Array): { shard: number; inner: Uint8Array }[] | string {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (frame[0] === SHARD_FRAME) {
    if (frame.length <= SHARD_HEADER_BYTES) return 'a shard envelope too short';
    return [{ shard: view.getUint32(1), inner: frame.subarray(SHARD_HEADER_BYTES) }];
  }
  if (frame[0] !== SHARD_BATCH_FRAME || frame.length < 5) return 'not a shard frame';
  const count = view.getUint32(1);
  if (count === 0 || count > BATCH_FRAMES_MAX) return `a batch of ${count} frames (1..${BATCH_FRAMES_MAX})`;
  const out: { shard: number; inner: Uint8Array }[] = [];
  let at = 5;
  for (let i = 0; i < count; i++) {
    if (at + ITEM_HEADER_BYTES > frame.length) return `batch frame ${i} of ${count}: its header runs past the end`;
    const shard = view.getUint32(at);
    const length = view.getUint32(at + 4);
    if (length === 0 || at + ITEM_HEADER_BYTES + length > frame.length) return `batch frame ${i} of ${count}: length ${length} does not fit`;
    out.push({ shard, inner: frame.subarray(at + ITEM_HEADER_BYTES, at + ITEM_HEADER_BYTES + length) });
    at += ITEM_HEADER_BYTES + length;
  }
  if (at !== frame.length) return `${frame.length - at} bytes after the last batch frame`;
  return out;
}
