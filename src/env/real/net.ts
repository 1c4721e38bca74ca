import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import * as net from 'node:net';
import type { Address, Net, ReceiveHandler } from '../net.js';
import { FRAME_BYTES_MAX } from '../net.js';
import type { Logger } from '../log.js';

/**
 * The Net seam over TCP. Each frame travels as a 4-byte big-endian length and its bytes.
 *
 * Connections are set up with a challenge: the accepting side sends a random nonce, the dialling
 * side answers with who it is (`from`), its role, and — for a peer — an HMAC-SHA256 of the nonce
 * and its name under the cluster secret, so only members holding the secret can join as peers and
 * an overheard handshake cannot be replayed. Clients join without the secret (they authenticate
 * per request) and are answered over the connection they opened.
 *
 * Delivery is best effort, like the simulated network: a frame to a peer that is down waits in a
 * bounded queue while the connection is retried with exponential back-off, and is dropped if the
 * queue overflows or the connection fails.
 */

export interface PeerAddress {
  host: string;
  port: number;
}

export interface RealNetOptions {
  self: Address;
  role: 'peer' | 'client';
  /** Where to accept connections; absent for a pure client. */
  listen?: PeerAddress;
  /** Addresses this endpoint dials. */
  peers: ReadonlyMap<Address, PeerAddress>;
  /** Shared secret of the cluster; null accepts any peer (local experiments only). */
  secret: string | null;
  log?: Logger;
  /** Frames waiting per peer while it is unreachable. */
  queueFramesMax?: number;
  reconnectDelayMsMin?: number;
  reconnectDelayMsMax?: number;
}

const HANDSHAKE_BYTES_MAX = 4096;

/** Splits a byte stream into length-prefixed frames. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly limit = FRAME_BYTES_MAX) {}

  /** Feeds bytes; returns complete frames. Throws on a frame over the limit (the peer is broken). */
  push(chunk: Buffer): Buffer[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const frames: Buffer[] = [];
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32BE(0);
      if (len > this.limit) throw new Error(`frame of ${len} bytes exceeds the limit of ${this.limit}`);
      if (this.buf.length < 4 + len) break;
      frames.push(this.buf.subarray(4, 4 + len));
      this.buf = this.buf.subarray(4 + len);
    }
    return frames;
  }
}

export function encodeFrame(payload: Uint8Array): Buffer {
  if (payload.length > FRAME_BYTES_MAX) throw new Error(`frame of ${payload.length} bytes exceeds the limit`);
  const out = Buffer.allocUnsafe(4 + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.set(payload, 4);
  return out;
}

function mac(secret: string, nonce: string, from: string): string {
  return createHmac('sha256', secret).update(`${nonce}\n${from}`).digest('hex');
}

interface Outbound {
  socket: net.Socket | null;
  ready: boolean;
  queue: Buffer[];
  delayMs: number;
  timer: NodeJS.Timeout | null;
}

/** The name an authenticated fault-hook connection gets (never a member's or a client's). */
const CONTROL = '\x00control';

export class RealNet implements Net {
  /**
   * Addresses whose frames are dropped both ways: a network partition, set through the fault
   * hook by the lab (`kv-lab run --real`). Empty in normal operation.
   */
  private faultBlocked: ReadonlySet<Address> = new Set();
  readonly self: Address;
  private handler: ReceiveHandler | null = null;
  private server: net.Server | null = null;
  private readonly outbound = new Map<Address, Outbound>();
  /** Connections others opened to us, by the name they proved (or, for clients, claimed). */
  private readonly inbound = new Map<Address, net.Socket>();
  private closed = false;
  private readonly queueMax: number;
  private readonly delayMin: number;
  private readonly delayMax: number;

  constructor(private readonly options: RealNetOptions) {
    this.self = options.self;
    this.queueMax = options.queueFramesMax ?? 10_000;
    this.delayMin = options.reconnectDelayMsMin ?? 50;
    this.delayMax = options.reconnectDelayMsMax ?? 2_000;
  }

  /** Starts accepting connections (if this endpoint listens). Resolves once listening. */
  listen(): Promise<void> {
    const at = this.options.listen;
    if (at === undefined) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const server = net.createServer((socket) => this.accept(socket));
      server.once('error', reject);
      server.listen(at.port, at.host, () => {
        server.off('error', reject);
        resolve();
      });
      this.server = server;
    });
  }

  /** The port this endpoint accepts on once listening (the real one when asked for port 0). */
  get listeningPort(): number | null {
    const a = this.server?.address();
    return a !== null && a !== undefined && typeof a === 'object' ? a.port : null;
  }

  onReceive(handler: ReceiveHandler): void {
    this.handler = handler;
  }

  send(to: Address, frame: Uint8Array): void {
    if (this.closed) return;
    if (this.faultBlocked.has(to)) return;
    const bytes = encodeFrame(frame);
    const peerAt = this.options.peers.get(to);
    if (peerAt === undefined) {
      // Not someone we dial: answer over the connection they opened, if it is still there.
      const s = this.inbound.get(to);
      if (s !== undefined && !s.destroyed) s.write(bytes);
      return;
    }
    let out = this.outbound.get(to);
    if (out === undefined) {
      out = { socket: null, ready: false, queue: [], delayMs: this.delayMin, timer: null };
      this.outbound.set(to, out);
      this.dial(to, peerAt, out);
    }
    if (out.ready && out.socket !== null) out.socket.write(bytes);
    else if (out.queue.length < this.queueMax) out.queue.push(bytes);
  }

  close(): void {
    this.closed = true;
    this.server?.close();
    for (const out of this.outbound.values()) {
      if (out.timer) clearTimeout(out.timer);
      out.socket?.destroy();
    }
    for (const s of this.inbound.values()) s.destroy();
    this.outbound.clear();
    this.inbound.clear();
  }

  private deliver(from: Address, frame: Buffer): void {
    if (this.faultBlocked.has(from)) return;
    this.handler?.(from, new Uint8Array(frame.buffer, frame.byteOffset, frame.length));
  }

  private dial(to: Address, at: PeerAddress, out: Outbound): void {
    if (this.closed) return;
    const socket = net.connect({ host: at.host, port: at.port });
    socket.setNoDelay(true);
    out.socket = socket;
    const decoder = new FrameDecoder();
    let handshaken = false;
    socket.on('data', (chunk) => {
      let frames: Buffer[];
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        this.options.log?.log('warn', 'net.bad_stream', { peer: to, error: (err as Error).message });
        socket.destroy();
        return;
      }
      for (const f of frames) {
        if (!handshaken) {
          handshaken = true;
          let nonce: string;
          try {
            nonce = (JSON.parse(f.toString('utf8')) as { nonce: string }).nonce;
          } catch {
            socket.destroy();
            return;
          }
          const hello = { from: this.self, role: this.options.role, mac: this.options.secret === null ? null : mac(this.options.secret, nonce, this.self) };
          socket.write(encodeFrame(Buffer.from(JSON.stringify(hello))));
          out.ready = true;
          out.delayMs = this.delayMin;
          for (const q of out.queue.splice(0)) socket.write(q);
        } else this.deliver(to, f);
      }
    });
    const retry = () => {
      if (out.socket !== socket) return;
      out.socket = null;
      out.ready = false;
      if (this.closed) return;
      // Exponential back-off with jitter from the OS generator is fine here: real world only.
      const delay = out.delayMs;
      out.delayMs = Math.min(this.delayMax, out.delayMs * 2);
      out.timer = setTimeout(() => {
        out.timer = null;
        this.dial(to, at, out);
      }, delay);
    };
    socket.on('error', () => socket.destroy());
    socket.on('close', retry);
  }

  private accept(socket: net.Socket): void {
    socket.setNoDelay(true);
    const nonce = randomBytes(16).toString('hex');
    socket.write(encodeFrame(Buffer.from(JSON.stringify({ nonce }))));
    const decoder = new FrameDecoder();
    let from: Address | null = null;
    let handshakeBytes = 0;
    socket.on('data', (chunk) => {
      let frames: Buffer[];
      try {
        if (from === null && (handshakeBytes += chunk.length) > HANDSHAKE_BYTES_MAX + 4) throw new Error('handshake too large');
        frames = decoder.push(chunk);
      } catch (err) {
        this.options.log?.log('warn', 'net.bad_stream', { remote: socket.remoteAddress, error: (err as Error).message });
        socket.destroy();
        return;
      }
      for (const f of frames) {
        if (from === null) {
          from = this.verifyHello(f, nonce, socket);
          if (from === null) {
            socket.destroy();
            return;
          }
          if (from === CONTROL) continue;
          this.inbound.get(from)?.destroy();
          this.inbound.set(from, socket);
        } else if (from === CONTROL) this.control(f);
        else this.deliver(from, f);
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      if (from !== null && this.inbound.get(from) === socket) this.inbound.delete(from);
    });
  }

  private control(frame: Buffer): void {
    try {
      const cmd = JSON.parse(frame.toString('utf8')) as { block?: unknown };
      if (!Array.isArray(cmd.block) || !cmd.block.every((a) => typeof a === 'string')) throw new Error('block must be a list of addresses');
      this.faultBlocked = new Set(cmd.block as string[]);
      this.options.log?.log('warn', 'net.fault_hook', { blocked: [...this.faultBlocked] });
    } catch (err) {
      this.options.log?.log('warn', 'net.control_bad', { error: (err as Error).message });
    }
  }

  private verifyHello(frame: Buffer, nonce: string, socket: net.Socket): Address | null {
    let hello: { from?: unknown; role?: unknown; mac?: unknown };
    try {
      hello = JSON.parse(frame.toString('utf8')) as typeof hello;
    } catch {
      return null;
    }
    if (typeof hello.from !== 'string' || hello.from === '' || hello.from.length > 256) return null;
    if (hello.role === 'peer') {
      const secret = this.options.secret;
      if (secret !== null) {
        const expected = Buffer.from(mac(secret, nonce, hello.from), 'hex');
        const given = typeof hello.mac === 'string' ? Buffer.from(hello.mac, 'hex') : Buffer.alloc(0);
        if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
          this.options.log?.log('warn', 'net.peer_refused', { claimed: hello.from, remote: socket.remoteAddress, why: 'bad cluster secret' });
          return null;
        }
      }
      return hello.from;
    }
    if (hello.role === 'control') {
      // The lab's fault hook (kv-lab run --real): only a local caller that holds the cluster
      // secret may cut this node's links.
      const secret = this.options.secret;
      const local = ['127.0.0.1', '::1', '::ffff:127.0.0.1'].includes(socket.remoteAddress ?? '');
      const expected = secret === null ? null : Buffer.from(mac(secret, nonce, hello.from), 'hex');
      const given = typeof hello.mac === 'string' ? Buffer.from(hello.mac, 'hex') : Buffer.alloc(0);
      if (!local || expected === null || given.length !== expected.length || !timingSafeEqual(given, expected)) {
        this.options.log?.log('warn', 'net.control_refused', { remote: socket.remoteAddress, why: !local ? 'not a loopback caller' : 'bad cluster secret' });
        return null;
      }
      return CONTROL;
    }
    if (hello.role === 'client') {
      // A client may not pose as a member: peers' names are reserved.
      if (this.options.peers.has(hello.from) || hello.from === this.self) return null;
      return hello.from;
    }
    return null;
  }
}

/**
 * The lab's side of the fault hook: tells the node listening at `at` to drop every frame to or
 * from the given addresses (an empty list heals). Resolves once the command is written.
 */
export function setNetFault(at: PeerAddress, secret: string, block: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: at.host, port: at.port });
    const decoder = new FrameDecoder(HANDSHAKE_BYTES_MAX);
    socket.on('data', (chunk) => {
      const frames = decoder.push(chunk);
      const first = frames[0];
      if (first === undefined) return;
      const { nonce } = JSON.parse(first.toString('utf8')) as { nonce: string };
      socket.write(encodeFrame(Buffer.from(JSON.stringify({ from: 'lab', role: 'control', mac: mac(secret, nonce, 'lab') }))));
      socket.end(encodeFrame(Buffer.from(JSON.stringify({ block }))), () => resolve());
    });
    socket.on('error', reject);
  });
}
