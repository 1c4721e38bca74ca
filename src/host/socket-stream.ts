import * as net from 'node:net';
import type { Dialer, Stream, StreamCloseReason, StreamHandler } from '../env/stream.js';
import { assert } from '../util/assert.js';

/**
 * The Stream seam over a real TCP socket (node's net.Socket), for the front door's listeners and
 * the stream clients' dialer. Events that arrive before the handler is set wait for it (a session
 * is built right after accept, so in practice there are none).
 */
export class SocketStream implements Stream {
  private handler: StreamHandler | null = null;
  private readonly early: (() => void)[] = [];
  private closeReason: StreamCloseReason | null = null;
  private sawError: string | null = null;
  private connected: boolean;
  private done = false;

  constructor(
    private readonly socket: net.Socket,
    readonly remote: string,
    connected = true,
  ) {
    this.connected = connected;
    socket.setNoDelay(true);
    if (!connected) socket.once('connect', () => (this.connected = true));
    socket.on('data', (chunk: Buffer) => this.emit((h) => h.data(chunk)));
    socket.on('end', () => this.emit((h) => h.end()));
    socket.on('drain', () => this.emit((h) => h.drain()));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.sawError = err.code ?? err.message;
      if (this.closeReason === null) this.closeReason = !this.connected && (err.code === 'ECONNREFUSED' || err.code === 'ENOTFOUND' || err.code === 'EHOSTUNREACH' || err.code === 'EADDRNOTAVAIL') ? 'refused' : 'reset';
    });
    socket.on('close', () => {
      if (this.done) return;
      this.done = true;
      const reason = this.closeReason ?? 'closed';
      const detail = this.sawError;
      this.emit((h) => (detail === null ? h.close(reason) : h.close(reason, detail)));
    });
  }

  /** The socket error that ended the connection, if any (ECONNRESET, ECONNREFUSED, …), for messages. */
  get error(): string | null {
    return this.sawError;
  }

  setHandler(handler: StreamHandler): void {
    assert(this.handler === null, 'SocketStream: the handler is set once');
    this.handler = handler;
    for (const e of this.early.splice(0)) e();
  }

  private emit(fn: (h: StreamHandler) => void): void {
    if (this.handler !== null) fn(this.handler);
    else this.early.push(() => fn(this.handler as StreamHandler));
  }

  write(data: string | Uint8Array): boolean {
    if (this.socket.destroyed || this.socket.writableEnded) return false;
    return this.socket.write(data);
  }

  get needsDrain(): boolean {
    return this.socket.writableNeedDrain;
  }

  end(): void {
    if (!this.socket.writableEnded) this.socket.end();
  }

  finish(): void {
    if (this.socket.destroyed) return;
    // After the last bytes are handed to the kernel, drop the connection without waiting for
    // the peer's end (allowHalfOpen would otherwise keep it until the client closes).
    if (this.socket.writableEnded) this.socket.destroySoon();
    else this.socket.end(() => this.socket.destroy());
  }

  destroy(): void {
    if (this.closeReason === null) this.closeReason = 'reset';
    this.socket.destroy();
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  get closed(): boolean {
    return this.done || this.socket.destroyed;
  }
}

/** "host:port" of a socket's peer, with IPv6 in brackets. */
export function remoteOf(socket: net.Socket): string {
  const host = socket.remoteAddress ?? '?';
  return `${host.includes(':') ? `[${host}]` : host}:${socket.remotePort ?? 0}`;
}

/** Parses "host:port" (IPv6 as "[::1]:8000"). Throws a plain Error naming the problem. */
export function parseHostPort(text: string): { host: string; port: number } {
  const m = /^(.+):(\d{1,5})$/.exec(text);
  if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new Error(`expected host:port, got ${JSON.stringify(text)}`);
  return { host: (m[1] as string).replace(/^\[(.*)\]$/, '$1'), port: Number(m[2]) };
}

/** Dials "host:port" over TCP; the Stream is usable at once (writes wait for the connection). */
export const tcpDialer: Dialer = (address) => {
  const { host, port } = parseHostPort(address);
  const socket = net.connect({ host, port, allowHalfOpen: true });
  return new SocketStream(socket, address, false);
};

/**
 * A TCP listener handing each accepted connection to `accept` as a Stream. allowHalfOpen: `echo
 * "PUT k v" | nc -N host port` closes its sending side at once; the replies still have to go back
 * before the connection ends.
 */
export class TcpListener {
  private server: net.Server | null = null;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly accept: (stream: Stream) => void,
  ) {}

  /** Resolves with the port it listens on (the real one when asked for port 0). */
  listen(): Promise<number> {
    const server = net.createServer({ allowHalfOpen: true }, (socket) => this.accept(new SocketStream(socket, remoteOf(socket))));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.host, () => {
        server.off('error', reject);
        resolve((server.address() as net.AddressInfo).port);
      });
    });
  }

  close(): void {
    this.server?.close();
  }
}
