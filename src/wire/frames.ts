import { assert } from '../util/assert.js';

/**
 * Length-prefixed frames over a byte stream: a 4-byte big-endian length, then that many bytes.
 * The request protocol travels so between clients and a node's TCP client port (and between
 * peers, src/env/real/net.ts).
 *
 * The reader is bounded and linear: it keeps the chunks of an unfinished frame in a list and joins
 * them once, when the frame is complete (joining on every chunk was quadratic: trickling a 63 MiB
 * frame cost a node 16.9 s of CPU), and it refuses a length over its limit as soon as the four
 * length bytes arrive, before buffering anything.
 */

export class FrameError extends Error {
  override name = 'FrameError';
}

export const FRAME_HEADER_BYTES = 4;

export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Length of the frame being read, once its header is complete; -1 before. */
  private want = -1;

  constructor(private limitBytes: number) {
    assert(limitBytes >= 0 && limitBytes <= 0xffffffff, () => `FrameReader: limit ${limitBytes}`);
  }

  /** Bytes held for a frame not yet complete. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /** A later limit (after a handshake, say); applies from the next frame header. */
  setLimit(limitBytes: number): void {
    this.limitBytes = limitBytes;
  }

  /**
   * Feeds bytes; returns the frames they complete, at most framesMax (the rest stay buffered: a
   * handshake's frame is read alone, so that the limit it lifts applies to the frames after it;
   * push an empty chunk to read on). Throws FrameError on a length over the limit.
   */
  push(chunk: Buffer, framesMax = Number.POSITIVE_INFINITY): Buffer[] {
    const frames: Buffer[] = [];
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    while (frames.length < framesMax) {
      if (this.want < 0) {
        if (this.buffered < FRAME_HEADER_BYTES) return frames;
        const len = this.peekLength();
        if (len > this.limitBytes) throw new FrameError(`frame of ${len} bytes exceeds the limit of ${this.limitBytes}`);
        this.take(FRAME_HEADER_BYTES);
        this.want = len;
      }
      if (this.buffered < this.want) return frames;
      frames.push(this.take(this.want));
      this.want = -1;
    }
    return frames;
  }

  private peekLength(): number {
    const first = this.chunks[0] as Buffer;
    if (first.length >= FRAME_HEADER_BYTES) return first.readUInt32BE(0);
    return Buffer.concat(this.chunks).readUInt32BE(0); // a header split across chunks: 4 bytes joined
  }

  /** Removes n bytes from the front, joined into one Buffer (copied only when they span chunks). */
  private take(n: number): Buffer {
    assert(n <= this.buffered, 'FrameReader.take beyond what is buffered');
    this.buffered -= n;
    const first = this.chunks[0];
    if (first !== undefined && first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const c = this.chunks[0] as Buffer;
      const k = Math.min(c.length, n - at);
      c.copy(out, at, 0, k);
      at += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    return out;
  }
}

/** A frame's bytes: header and payload. REQUIRES: payload.length < 2^32. */
export function encodeFrame(payload: Uint8Array): Buffer {
  assert(payload.length <= 0xffffffff, () => `a frame of ${payload.length} bytes`);
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}
