/**
 * The Stream seam: one byte-stream connection, as a TCP socket gives it — in order, reliable while
 * it lasts, and able to stall, to be half-closed by either side, and to be reset.
 *
 * The front door (line protocol, HTTP) and the stream clients are written against this interface
 * only, so the very same sessions serve real sockets (src/host wraps node's net.Socket) and the
 * simulator's connections (sim/stream.ts), where partitions stall them, crashes silence them and
 * dead processes reset them.
 *
 * What a Stream promises, and what its users may rely on:
 * 1. Bytes written on one side arrive on the other in order, without gaps or duplicates, in
 *    chunks of any size (a line or an HTTP head may arrive split anywhere).
 * 2. `end()` is a half-close: the peer sees `end` after the last byte written; it may still write.
 * 3. `finish()` ends this side and closes the whole connection once the bytes written are
 *    delivered, without waiting for the peer to end (a server after QUIT or `Connection: close`).
 * 4. `destroy()` resets the connection: nothing more is delivered either way, and the peer sees
 *    `close('reset')` — unless it is silenced first (a crashed machine answers nothing at all).
 * 5. `close` comes exactly once, last; after it no handler is called and writes are dropped.
 * 6. Flow control: `write` returns false once the bytes not yet taken by the peer pass a
 *    high-water mark; `drain` says they fell below it again. `pause()` stops `data` until
 *    `resume()`, which is how a reader pushes back on a writer.
 * 7. Handlers are called from the Env's event loop (the real one, or the simulator's scheduler),
 *    never re-entrantly from inside `write`, `end` or `destroy`.
 */

export type StreamCloseReason =
  /** Both sides ended (or this side destroyed it after its peer ended): an orderly close. */
  | 'closed'
  /** Reset: by the peer, by a process that died, or by the network giving up. */
  | 'reset'
  /** Never connected: nothing listens there (ECONNREFUSED) or the address is unknown. */
  | 'refused';

export interface StreamHandler {
  /** Bytes from the peer, in order. */
  data(chunk: Buffer): void;
  /** The peer will send nothing more (it half-closed). This side may still write. */
  end(): void;
  /** The connection is gone; nothing more will happen on it. `detail`: the OS's word for it (ECONNRESET). */
  close(reason: StreamCloseReason, detail?: string): void;
  /** Bytes waiting to be taken by the peer fell below the high-water mark (after write returned false). */
  drain(): void;
}

export interface Stream {
  /** Who is at the other end ("127.0.0.1:53122", or a simulated client's address): for logs and limits. */
  readonly remote: string;
  /** Installs the handler (once, before any event is delivered; events wait until it is set). */
  setHandler(handler: StreamHandler): void;
  /** Queues bytes for the peer; false once past the high-water mark (wait for drain). */
  write(data: string | Uint8Array): boolean;
  /** Whether the bytes not yet taken by the peer are past the high-water mark. */
  readonly needsDrain: boolean;
  /** Half-closes: no more writes from this side. */
  end(): void;
  /** Ends this side and closes the connection once what was written is delivered. */
  finish(): void;
  /** Resets the connection at once. */
  destroy(): void;
  pause(): void;
  resume(): void;
  /** After close (or destroy): nothing more is delivered and writes are dropped. */
  readonly closed: boolean;
}

/**
 * Opens a connection to an address ("host:port" in the real world, "n1:line" in the simulator).
 * Returns at once: writes before the connection is up are queued, and a failure to connect comes
 * as close('refused') (or 'reset' for a connection that timed out).
 */
export type Dialer = (address: string) => Stream;
