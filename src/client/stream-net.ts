import type { Address, Net, ReceiveHandler } from '../env/net.js';
import type { Dialer, Stream } from '../env/stream.js';
import { assert } from '../util/assert.js';
import { FrameError, FrameReader, encodeFrame } from '../wire/frames.js';

/**
 * The Net seam for a client, over Streams to the nodes' TCP client ports: one connection per node,
 * opened when first needed with a hello frame ({"from", "role": "client"}), then request frames
 * out and response frames in (src/frontdoor/native/session.ts is the other end). It is how
 * KvClient reaches a real cluster (connectKv) and how the lab's `native` clients reach theirs.
 *
 * Best effort, as the seam says: a frame to a node whose connection fails is lost (KvClient's
 * attempt timer retries elsewhere), and the next frame opens a new connection. Frames waiting for
 * a connection to open are bounded.
 */

/** Responses are at most a range page, far below this. */
export const RESPONSE_FRAME_BYTES_MAX = 64 * 1024 * 1024;
/** Bytes written to one node and not yet taken: past it, frames are dropped (as a lost network would). */
const BACKLOG_BYTES_MAX = 64 * 1024 * 1024;

interface Link {
  stream: Stream;
  reader: FrameReader;
  /** Bytes written since the stream last said it had drained. */
  backlogBytes: number;
}

export class StreamNet implements Net {
  private handler: ReceiveHandler | null = null;
  private readonly links = new Map<Address, Link>();
  private closed = false;

  constructor(
    readonly self: Address,
    /** Node id → what the dialer connects to ("127.0.0.1:3001", or "n1:line" in the simulator). */
    private readonly addresses: ReadonlyMap<Address, string>,
    private readonly dial: Dialer,
  ) {
    assert(self !== '' && self.length <= 256, 'StreamNet: a client id of 1-256 characters');
  }

  onReceive(handler: ReceiveHandler): void {
    this.handler = handler;
  }

  send(to: Address, frame: Uint8Array): void {
    if (this.closed) return;
    const link = this.link(to);
    if (link === null) return; // not a node we know: lost, as an unreachable address is
    if (link.stream.needsDrain && link.backlogBytes > BACKLOG_BYTES_MAX) return;
    const bytes = encodeFrame(frame);
    link.backlogBytes += bytes.length;
    if (link.stream.write(bytes)) link.backlogBytes = 0;
  }

  close(): void {
    this.closed = true;
    for (const l of this.links.values()) l.stream.destroy();
    this.links.clear();
  }

  private link(to: Address): Link | null {
    const existing = this.links.get(to);
    if (existing !== undefined) return existing;
    const address = this.addresses.get(to);
    if (address === undefined) return null;
    const stream = this.dial(address);
    const link: Link = { stream, reader: new FrameReader(RESPONSE_FRAME_BYTES_MAX), backlogBytes: 0 };
    this.links.set(to, link);
    const drop = () => {
      if (this.links.get(to) === link) this.links.delete(to);
    };
    stream.setHandler({
      data: (chunk) => {
        let frames: Buffer[];
        try {
          frames = link.reader.push(chunk);
        } catch (err) {
          assert(err instanceof FrameError, () => `FrameReader threw ${String(err)}`);
          drop();
          stream.destroy();
          return;
        }
        for (const f of frames) this.handler?.(to, new Uint8Array(f.buffer, f.byteOffset, f.length));
      },
      end: () => {
        drop();
        stream.end();
      },
      close: drop,
      drain: () => (link.backlogBytes = 0),
    });
    stream.write(encodeFrame(new TextEncoder().encode(JSON.stringify({ from: this.self, role: 'client' }))));
    return link;
  }
}
