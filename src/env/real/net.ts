import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import * as net from 'node:net';
import type { Address, Net, ReceiveHandler } from '../net.js';
import { FRAME_BYTES_MAX } from '../net.js';
import type { Logger } from '../log.js';
import { assert } from '../../util/assert.js';
import { parseJson } from '../../util/json-parse.js';

/**
 * The Net seam over TCP. Each frame travels as a 4-byte big-endian length and its bytes.
 *
 * Connections are set up with a challenge: the accepting side sends a random nonce, the dialling
 * side answers with who it is (`from`), its role, and — for a peer — an HMAC-SHA256 of the nonce
 * and its name under the cluster secret, so only members holding the secret can join as peers and
 * an overheard handshake cannot be replayed. The proof goes both ways: a dialling peer sends a
 * nonce of its own and waits for the acceptor's HMAC of it before it sends or reads anything else.
 * Clients join without the secret (they authenticate per request) and are answered over the
 * connection they opened, only where acceptClients is set (PEER_PORT_ACCEPTS_CLIENTS: not on a
 * served node, whose clients use the TCP client port); there they are held to the bounds of a
 * sender that proved nothing.
 *
 * Nothing a connection sends beyond its hello (at most HELLO_BYTES_MAX, within a deadline) is
 * parsed before the hello is verified; frames are bounded per role, and a frame that stays
 * incomplete past a deadline drops its connection (ConnectionLimits).
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
  /** Frames waiting per peer while it is unreachable, */
  queueFramesMax?: number;
  /** and their bytes (a snapshot's chunks are a megabyte each). */
  queueBytesMax?: number;
  /** Bounds on what others may make this endpoint hold (DEFAULT_CONNECTION_LIMITS). */
  limits?: Partial<ConnectionLimits>;
  /** Whether connections in role `client` are accepted (default PEER_PORT_ACCEPTS_CLIENTS). */
  acceptClients?: boolean;
  reconnectDelayMsMin?: number;
  reconnectDelayMsMax?: number;
}

/** Addresses of seeds known only by host and port (RealNet.addSeed). */
export const SEED_PREFIX = 'seed@';

/** The hello (and the acceptor's proof) must fit in this many bytes: nothing larger is read before the secret is proven. */
export const HELLO_BYTES_MAX = 4096;

/**
 * Frames from a connection that proved nothing (role `client`) are bounded far below
 * FRAME_BYTES_MAX: large enough for the largest request a front end forwards (an 8 MiB HTTP body
 * as JSON, with its envelope), small enough that an anonymous sender cannot make a node hold
 * tens of megabytes per connection.
 */
export const CLIENT_FRAME_BYTES_MAX = 10 * 1024 * 1024;

/**
 * Whether the peer port accepts connections that say role `client` without the cluster secret
 * (issue 16, item 1). Clients reach nodes over the TCP client port (StreamNet, connectKv; the
 * gateway's forwarding dials as a peer), so the peer port parses nothing from anyone who has not
 * proven the secret. The option `acceptClients` remains for tests of a client-role endpoint.
 */
export const PEER_PORT_ACCEPTS_CLIENTS = false;

/** What a client that dials the peer port is told before its connection is closed. */
export const CLIENT_ON_PEER_PORT = 'clients are not served on the peer port: connect to the TCP client port (--tcp-port) or HTTP';

/** Thrown by FrameDecoder on a stream that breaks the framing: the connection must be dropped. */
export class FrameError extends Error {
  override name = 'FrameError';
}

/**
 * Splits a byte stream into length-prefixed frames. Chunks are kept as they arrive and a frame is
 * copied out once, when its last byte is in: joining the buffer with every chunk (as an earlier
 * version did) made a frame trickled in small chunks cost O(n²) — 63 MiB sent slowly took 16.9 s
 * of CPU. A frame that lies within one chunk is handed out without a copy.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  /** Bytes held in chunks. */
  private held = 0;
  /** Bytes the frame at the head needs in all (4 + its length), once its length is known. */
  private need = 0;
  /** Frames handed out so far (the incomplete-frame deadline watches it move). */
  completed = 0;

  constructor(
    /** The largest frame accepted; may be raised once the sender is authenticated. */
    public limit = FRAME_BYTES_MAX,
  ) {
    assert(limit >= 0 && limit <= FRAME_BYTES_MAX, () => `frame limit ${limit} outside [0, ${FRAME_BYTES_MAX}]`);
  }

  /** Bytes received and not yet handed out: at most limit + 4 + the last chunk's length. */
  get pendingBytes(): number {
    return this.held;
  }

  /** Feeds bytes; returns the frames they complete. Throws FrameError on a frame over the limit. */
  push(chunk: Buffer): Buffer[] {
    this.feed(chunk);
    const frames: Buffer[] = [];
    for (let f = this.next(); f !== null; f = this.next()) frames.push(f);
    return frames;
  }

  /** Adds bytes without decoding (next() hands out the frames, under the limit of that moment). */
  feed(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.held += chunk.length;
  }

  /** The next complete frame, or null. Throws FrameError on a frame over the limit. */
  next(): Buffer | null {
    if (this.need === 0) {
      if (this.held < 4) return null;
      const len = this.peekLength();
      if (len > this.limit) throw new FrameError(`frame of ${len} bytes exceeds the limit of ${this.limit}`);
      this.need = 4 + len;
    }
    if (this.held < this.need) return null;
    const frame = this.take(this.need).subarray(4);
    assert(frame.length === this.need - 4, 'frame decoder: a frame of the wrong length');
    this.need = 0;
    this.completed++;
    return frame;
  }

  private peekLength(): number {
    const first = this.chunks[0] as Buffer;
    if (first.length >= 4) return first.readUInt32BE(0);
    const head = Buffer.alloc(4);
    let at = 0;
    for (const c of this.chunks) {
      const n = Math.min(4 - at, c.length);
      c.copy(head, at, 0, n);
      at += n;
      if (at === 4) break;
    }
    return head.readUInt32BE(0);
  }

  /** Removes and returns the first n bytes (REQUIRES n <= held), copying only if they span chunks. */
  private take(n: number): Buffer {
    const first = this.chunks[0] as Buffer;
    this.held -= n;
    if (first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const c = this.chunks[0] as Buffer;
      const k = Math.min(n - at, c.length);
      c.copy(out, at, 0, k);
      at += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    return out;
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

function macMatches(secret: string, nonce: string, from: string, given: unknown): boolean {
  const expected = Buffer.from(mac(secret, nonce, from), 'hex');
  const got = typeof given === 'string' && /^[0-9a-f]{64}$/.test(given) ? Buffer.from(given, 'hex') : Buffer.alloc(0);
  return got.length === expected.length && timingSafeEqual(got, expected);
}

/** A handshake frame as an object, or null: bounded like every input from outside. */
function parseHandshake(frame: Buffer): Record<string, unknown> | null {
  try {
    const v = parseJson(frame.toString('utf8'), 'handshake', 4);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

interface Outbound {
  socket: net.Socket | null;
  ready: boolean;
  queue: Buffer[];
  queueBytes: number;
  delayMs: number;
  timer: NodeJS.Timeout | null;
}

/** The name an authenticated fault-hook connection gets (never a member's or a client's). */
const CONTROL = '\x00control';

/** Limits on what others may make this endpoint hold; the defaults are what a served node uses. */
export interface ConnectionLimits {
  /** A connection someone opened to us must finish its hello within this long (strangers are bounded by it); */
  helloDeadlineMs: number;
  /**
   * one we opened to a member, within this long: we dial only the members we were given, so a long
   * wait costs a stranger nothing, and a member whose event loop is stalled for seconds (installing
   * a snapshot, a long garbage collection) still completes it once it runs again. At 5 s, the
   * leader's every connection to a new member that stalled 11-20 s timed out, and it never
   * received its snapshot (issue 16).
   */
  dialHelloDeadlineMs: number;
  /** Connections still in their hello, at most; more are closed at once. */
  pendingHellosMax: number;
  /** A frame from a client (nothing proven) must complete within this long of its first byte; */
  clientFrameDeadlineMs: number;
  /** from a peer (the secret proven), within this long. */
  peerFrameDeadlineMs: number;
  /** Client connections open at once, at most. */
  clientConnectionsMax: number;
  /** Bytes of incomplete frames held for all client connections together. */
  clientPendingBytesMax: number;
  /**
   * Answers queued for one connection that is not reading them (a client that sends and never
   * reads would otherwise make the node buffer without end): past this, the connection is closed.
   */
  inboundWriteBytesMax: number;
  /** Frames queued on a connection to a peer that does not keep up: past this they are dropped (the Net is best effort). */
  outboundWriteBytesMax: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  helloDeadlineMs: 5_000,
  dialHelloDeadlineMs: 60_000,
  pendingHellosMax: 256,
  clientFrameDeadlineMs: 10_000,
  // A 64 MiB frame over a link of 1 MiB/s; Raft's own frames are far smaller (appends of
  // maxMsgBytes, snapshot chunks of a megabyte).
  peerFrameDeadlineMs: 120_000,
  clientConnectionsMax: 1024,
  clientPendingBytesMax: 64 * 1024 * 1024,
  inboundWriteBytesMax: 64 * 1024 * 1024,
  outboundWriteBytesMax: 256 * 1024 * 1024,
};

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
  private readonly queueBytesMax: number;
  private readonly delayMin: number;
  private readonly delayMax: number;
  private readonly limits: ConnectionLimits;
  private pendingHellos = 0;
  private clientConnections = 0;
  /** Bytes of incomplete frames held for client connections, all together. */
  private clientPendingBytes = 0;

  /** Where each member we dial listens: the configured ones, and those gossip made known (addPeer). */
  private readonly peers: Map<Address, PeerAddress>;

  constructor(private readonly options: RealNetOptions) {
    this.self = options.self;
    this.peers = new Map(options.peers);
    this.queueMax = options.queueFramesMax ?? 10_000;
    this.queueBytesMax = options.queueBytesMax ?? 64 * 1024 * 1024;
    this.delayMin = options.reconnectDelayMsMin ?? 50;
    this.delayMax = options.reconnectDelayMsMax ?? 2_000;
    this.limits = { ...DEFAULT_CONNECTION_LIMITS, ...options.limits };
  }

  /**
   * A member learnt by gossip (its peer address is in its metadata): from now on frames to it are
   * dialled like those to a configured peer. A configured address is never replaced: gossip
   * carries what members say of themselves, the operator's list is the stronger word.
   */
  addPeer(id: Address, at: PeerAddress): void {
    assert(id !== '' && !id.startsWith(SEED_PREFIX), () => `addPeer: ${JSON.stringify(id)} is not a member id`);
    if (id === this.self || this.peers.has(id)) return;
    this.peers.set(id, at);
  }

  /**
   * A seed known only by its address (\`serve --join host:port\`): returns the address frames to it
   * are sent to, \`seed@host:port\`. The acceptor names itself in its proof of the secret, and
   * frames from that connection arrive from the seed address; the gossip it answers with names
   * the members, which addPeer then makes reachable by their ids.
   */
  addSeed(at: PeerAddress): Address {
    const address = `${SEED_PREFIX}${at.host}:${at.port}`;
    if (!this.peers.has(address)) this.peers.set(address, at);
    return address;
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

  /** Connection counts, for tests and /metrics. */
  connectionStats(): { pendingHellos: number; clients: number; clientPendingBytes: number; inbound: number } {
    return { pendingHellos: this.pendingHellos, clients: this.clientConnections, clientPendingBytes: this.clientPendingBytes, inbound: this.inbound.size };
  }

  onReceive(handler: ReceiveHandler): void {
    this.handler = handler;
  }

  send(to: Address, frame: Uint8Array): void {
    if (this.closed) return;
    if (this.faultBlocked.has(to)) return;
    const bytes = encodeFrame(frame);
    const peerAt = this.peers.get(to);
    if (peerAt === undefined) {
      // Not someone we dial: answer over the connection they opened, if it is still there.
      const s = this.inbound.get(to);
      if (s === undefined || s.destroyed) return;
      if (s.writableLength + bytes.length > this.limits.inboundWriteBytesMax) {
        this.options.log?.log('warn', 'net.slow_reader', { to, queuedBytes: s.writableLength, why: 'answers pile up unread: connection closed' });
        s.destroy();
        return;
      }
      s.write(bytes);
      return;
    }
    let out = this.outbound.get(to);
    if (out === undefined) {
      out = { socket: null, ready: false, queue: [], queueBytes: 0, delayMs: this.delayMin, timer: null };
      this.outbound.set(to, out);
      this.dial(to, peerAt, out);
    }
    if (out.ready && out.socket !== null) {
      if (out.socket.writableLength + bytes.length <= this.limits.outboundWriteBytesMax) out.socket.write(bytes);
    } else if (out.queue.length < this.queueMax && out.queueBytes + bytes.length <= this.queueBytesMax) {
      out.queue.push(bytes);
      out.queueBytes += bytes.length;
    }
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

  /**
   * Our side of a connection we open. The acceptor sends a nonce; we answer with our hello
   * (for a peer: an HMAC of that nonce under the secret, and a nonce of our own). A peer that
   * holds a secret then waits for the acceptor's proof — the HMAC of our nonce under its name —
   * before it sends or reads anything more: whoever answers at a member's address must hold the
   * secret too, or it would receive the log and could speak for that member.
   */
  private dial(to: Address, at: PeerAddress, out: Outbound): void {
    if (this.closed) return;
    const socket = net.connect({ host: at.host, port: at.port });
    socket.setNoDelay(true);
    out.socket = socket;
    const secret = this.options.role === 'peer' ? this.options.secret : null;
    const decoder = new FrameDecoder(HELLO_BYTES_MAX);
    const ourNonce = randomBytes(16).toString('hex');
    let stage: 'nonce' | 'proof' | 'open' = 'nonce';
    // An acceptor that never completes the handshake (one without the secret, or not kv-lab at
    // all) must not hold the connection, and the frames queued for it, forever.
    const handshakeTimer = afterIo(this.limits.dialHelloDeadlineMs, () => {
      if (stage === 'open') return;
      this.options.log?.log('warn', 'net.bad_stream', { peer: to, error: `no handshake within ${this.limits.dialHelloDeadlineMs} ms` });
      socket.destroy();
    });
    const open = () => {
      stage = 'open';
      clearTimeout(handshakeTimer);
      decoder.limit = FRAME_BYTES_MAX;
      out.ready = true;
      out.delayMs = this.delayMin;
      for (const q of out.queue.splice(0)) socket.write(q);
      out.queueBytes = 0;
    };
    socket.on('data', (chunk) => {
      try {
        decoder.feed(chunk);
        for (let f = decoder.next(); f !== null; f = decoder.next()) {
          if (stage === 'open') {
            this.deliver(to, f);
            continue;
          }
          const msg = parseHandshake(f);
          if (stage === 'nonce') {
            if (msg === null || typeof msg.nonce !== 'string' || msg.nonce.length > 64) throw new FrameError('no nonce from the acceptor');
            const hello = { from: this.self, role: this.options.role, mac: this.options.secret === null ? null : mac(this.options.secret, msg.nonce, this.self), nonce: ourNonce };
            socket.write(encodeFrame(Buffer.from(JSON.stringify(hello))));
            if (secret === null) open();
            else stage = 'proof';
          } else {
            // A seed dialled by address names itself: the proof must hold for the name it gives.
            const claimed = to.startsWith(SEED_PREFIX) && typeof msg?.id === 'string' ? msg.id : to;
            if (secret === null || msg === null || !macMatches(secret, ourNonce, claimed, msg.proof)) throw new FrameError(`${to}'s address answered without proof of the cluster secret`);
            open();
          }
        }
      } catch (err) {
        this.options.log?.log('warn', 'net.bad_stream', { peer: to, error: (err as Error).message });
        socket.destroy();
      }
    });
    const retry = () => {
      clearTimeout(handshakeTimer);
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

  /**
   * A connection someone opened to us. Until its hello is verified, only the hello is read, at
   * most HELLO_BYTES_MAX of it, within helloDeadlineMs: nothing else it sends is parsed. A peer
   * proves the cluster secret; a client (only where acceptClients is set) proves nothing and
   * stays bounded as such: frames of CLIENT_FRAME_BYTES_MAX, each complete within
   * clientFrameDeadlineMs, and a cap on the bytes all clients may keep in flight together.
   */
  private accept(socket: net.Socket): void {
    socket.setNoDelay(true);
    if (this.pendingHellos >= this.limits.pendingHellosMax) {
      this.options.log?.log('warn', 'net.refused', { remote: socket.remoteAddress, why: `${this.pendingHellos} connections already in their hello` });
      socket.destroy();
      return;
    }
    this.pendingHellos++;
    const nonce = randomBytes(16).toString('hex');
    socket.write(encodeFrame(Buffer.from(JSON.stringify({ nonce }))));
    const decoder = new FrameDecoder(HELLO_BYTES_MAX);
    let from: Address | null = null;
    let client = false;
    /** This connection's share of clientPendingBytes. */
    let counted = 0;
    const helloTimer = afterIo(this.limits.helloDeadlineMs, () => {
      if (helloPending) drop(`no hello within ${this.limits.helloDeadlineMs} ms`);
    });
    let frameTimer: NodeJS.Timeout | null = null;
    let helloPending = true;
    const endHello = () => {
      if (!helloPending) return;
      helloPending = false;
      this.pendingHellos--;
      clearTimeout(helloTimer);
    };
    const drop = (why: string) => {
      this.options.log?.log('warn', 'net.bad_stream', { remote: socket.remoteAddress, from, error: why });
      socket.destroy();
    };
    /** Arms the deadline of the frame now incomplete (a frame that completes re-arms it for the next). */
    const watchFrame = () => {
      if (from === null) return;
      if (decoder.pendingBytes === 0) {
        if (frameTimer !== null) clearTimeout(frameTimer);
        frameTimer = null;
        return;
      }
      if (frameTimer !== null) return;
      const armedAt = decoder.completed;
      const deadline = client ? this.limits.clientFrameDeadlineMs : this.limits.peerFrameDeadlineMs;
      frameTimer = setTimeout(() => {
        frameTimer = null;
        if (decoder.pendingBytes > 0 && decoder.completed === armedAt) drop(`a frame stayed incomplete for ${deadline} ms`);
        else watchFrame();
      }, deadline);
    };
    socket.on('data', (chunk) => {
      try {
        decoder.feed(chunk);
        for (let f = decoder.next(); f !== null; f = decoder.next()) {
          if (from === null) {
            const who = this.verifyHello(f, nonce, socket);
            endHello();
            if (who === 'client refused') {
              // end(), not destroy(): the refusal just written must reach the client; destroy
              // soon after in case it never reads.
              socket.pause();
              socket.end();
              setTimeout(() => socket.destroy(), 1000).unref();
              return;
            }
            if (who === null) return drop('hello refused');
            from = who.kind === 'control' ? CONTROL : who.from;
            client = who.kind === 'client';
            if (client) {
              if (this.clientConnections >= this.limits.clientConnectionsMax) {
                from = null;
                return drop(`${this.clientConnections} client connections already open`);
              }
              this.clientConnections++;
              decoder.limit = CLIENT_FRAME_BYTES_MAX;
            } else decoder.limit = FRAME_BYTES_MAX;
            if (from === CONTROL) continue;
            this.inbound.get(from)?.destroy();
            this.inbound.set(from, socket);
          } else if (from === CONTROL) this.control(f);
          else this.deliver(from, f);
        }
        if (client) {
          this.clientPendingBytes += decoder.pendingBytes - counted;
          counted = decoder.pendingBytes;
          if (this.clientPendingBytes > this.limits.clientPendingBytesMax) return drop(`clients hold ${this.clientPendingBytes} bytes of incomplete frames`);
        }
        watchFrame();
      } catch (err) {
        drop((err as Error).message);
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      endHello();
      if (frameTimer !== null) clearTimeout(frameTimer);
      if (client) {
        this.clientConnections--;
        this.clientPendingBytes -= counted;
        counted = 0;
      }
      if (from !== null && this.inbound.get(from) === socket) this.inbound.delete(from);
    });
  }

  private control(frame: Buffer): void {
    const cmd = parseHandshake(frame);
    if (cmd === null || !Array.isArray(cmd.block) || !cmd.block.every((a) => typeof a === 'string')) {
      this.options.log?.log('warn', 'net.control_bad', { error: 'block must be a list of addresses' });
      return;
    }
    this.faultBlocked = new Set(cmd.block as string[]);
    this.options.log?.log('warn', 'net.fault_hook', { blocked: [...this.faultBlocked] });
  }

  /** Who the hello proves (or, for a client, claims) to be; null to refuse it. */
  private verifyHello(frame: Buffer, nonce: string, socket: net.Socket): { from: Address; kind: 'peer' | 'client' | 'control' } | 'client refused' | null {
    const hello = parseHandshake(frame);
    if (hello === null) return null;
    if (typeof hello.from !== 'string' || hello.from === '' || hello.from.length > 256) return null;
    const secret = this.options.secret;
    if (hello.role === 'peer') {
      if (secret !== null) {
        if (!macMatches(secret, nonce, hello.from, hello.mac)) {
          this.options.log?.log('warn', 'net.peer_refused', { claimed: hello.from, remote: socket.remoteAddress, why: 'bad cluster secret' });
          return null;
        }
        // Our half of the mutual proof: the dialler waits for it before it trusts this connection.
        if (typeof hello.nonce === 'string' && hello.nonce.length <= 64) socket.write(encodeFrame(Buffer.from(JSON.stringify({ proof: mac(secret, hello.nonce, this.self), id: this.self }))));
      }
      return { from: hello.from, kind: 'peer' };
    }
    if (hello.role === 'control') {
      // The lab's fault hook (kv-lab run --real): only a local caller that holds the cluster
      // secret may cut this node's links.
      const local = ['127.0.0.1', '::1', '::ffff:127.0.0.1'].includes(socket.remoteAddress ?? '');
      if (!local || secret === null || !macMatches(secret, nonce, hello.from, hello.mac)) {
        this.options.log?.log('warn', 'net.control_refused', { remote: socket.remoteAddress, why: !local ? 'not a loopback caller' : 'bad cluster secret' });
        return null;
      }
      return { from: hello.from, kind: 'control' };
    }
    if (hello.role === 'client') {
      if (!(this.options.acceptClients ?? PEER_PORT_ACCEPTS_CLIENTS)) {
        // Said once, in a frame of its own, so that a misconfigured client shows why it was cut.
        this.options.log?.log('warn', 'net.client_refused', { remote: socket.remoteAddress, why: CLIENT_ON_PEER_PORT });
        socket.write(encodeFrame(Buffer.from(JSON.stringify({ refused: CLIENT_ON_PEER_PORT }))));
        return 'client refused';
      }
      // A client may not pose as a member: peers' names are reserved.
      if (this.peers.has(hello.from) || hello.from === this.self) return null;
      return { from: hello.from, kind: 'client' };
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
    const decoder = new FrameDecoder(HELLO_BYTES_MAX);
    socket.on('data', (chunk) => {
      let first: Buffer | null;
      try {
        decoder.feed(chunk);
        first = decoder.next();
      } catch (err) {
        socket.destroy();
        return reject(err as Error);
      }
      if (first === null) return;
      const msg = parseHandshake(first);
      if (msg === null || typeof msg.nonce !== 'string') {
        socket.destroy();
        return reject(new Error('the node sent no nonce'));
      }
      socket.write(encodeFrame(Buffer.from(JSON.stringify({ from: 'lab', role: 'control', mac: mac(secret, msg.nonce, 'lab') }))));
      socket.end(encodeFrame(Buffer.from(JSON.stringify({ block }))), () => resolve());
    });
    socket.on('error', reject);
  });
}

/**
 * A deadline that counts only time this process could have used: runs fn after ms, but behind the
 * I/O that is ready by then. Node runs due timers before it reads sockets, so after the event loop
 * was stalled (a long step, a garbage collection) a plain timeout would fire while the bytes that
 * meet it sit unread; setImmediate runs after the poll phase that reads them.
 */
function afterIo(ms: number, fn: () => void): NodeJS.Timeout {
  return setTimeout(() => setImmediate(fn), ms);
}
