import type { Stream, StreamCloseReason, StreamHandler } from '../src/env/stream.js';
import type { Rng } from '../src/env/rng.js';
import { assert } from '../src/util/assert.js';
import type { SimNet } from './net.js';
import { NS_PER_MS, NS_PER_S, type Owner, type Scheduler } from './scheduler.js';

/**
 * Simulated TCP connections between clients and the nodes' front doors (the Stream seam), with
 * the failure behaviour a real client sees, derived from the same network faults as frames:
 *
 * - Bytes flow in order, after the network's latency, in segments cut at random places (a
 *   request may arrive split anywhere, as over a real network).
 * - A partition stalls a connection: segments are retransmitted with exponential back-off until
 *   the link heals, and the connection is reset if it stays stalled for STALL_RESET_NS (a real
 *   stack gives up later; by then every client here has timed out). Lost segments cost a
 *   retransmission timeout; duplication and reordering are hidden by TCP and have no effect.
 * - A paused process receives nothing until it resumes (the kernel buffers for it).
 * - A machine that loses power answers nothing: its connections go silent, and once it boots
 *   again, the next segment a client retransmits is answered with a reset. A process that dies
 *   while its machine stays up (a fatal error, a failed assertion) has its connections reset.
 * - Connecting to a node that is down is refused; a connect that cannot get through a partition
 *   times out after SYN retries (reported as refused: nothing was sent).
 * - Flow control: a writer's bytes not yet taken by the reader count against WINDOW_BYTES, past
 *   which write() returns false until a drain.
 */

/** First retransmission timeout; doubles per retry up to RTO_MAX_NS (Linux starts at 200 ms). */
const RTO_NS = 200 * NS_PER_MS;
const RTO_MAX_NS = 3 * NS_PER_S;
/** A connection stalled this long is reset. */
export const STALL_RESET_NS = 15 * NS_PER_S;
/** SYN retransmissions at 1 s, 2 s, 4 s, then the connect fails (Linux retries more: 6 by default). */
const SYN_RETRIES = 3;
/** Bytes a writer may have in flight before write() returns false. */
export const WINDOW_BYTES = 256 * 1024;
/** Chance that a write is cut into two or three segments. */
const SPLIT_PROBABILITY = 0.25;

export type StreamProtocol = 'line' | 'http';

/** What the streams need of the world: where nodes are, and whether they can take a connection. */
export interface StreamHostView {
  /** The node's current process, if it is running (or paused): its owner and its front door. */
  listener(node: string): { owner: Owner; accept(stream: Stream, protocol: StreamProtocol): void } | null;
}

export interface StreamStats {
  connections: number;
  refused: number;
  resets: number;
  bytes: number;
  /** Segments held back by a partition (each retransmission counts). */
  stalls: number;
}

interface Segment {
  bytes: Buffer | null;
  /** After the bytes: the writer ended its side (`end`) or closed the connection (`finish`). */
  fin: 'end' | 'finish' | null;
}

/** One direction of a connection: segments from one end to the other, in order. */
class Pipe {
  readonly queue: Segment[] = [];
  /** Bytes written and not yet taken by the reader (the writer's flow-control window). */
  inFlight = 0;
  lastDeliveryNs = 0;
  scheduled = false;
  stalledSinceNs: number | null = null;
  retries = 0;
  /** The writer's end (or finish) has reached the reader. */
  finDelivered = false;
  constructor(
    readonly from: SimStream,
    readonly to: SimStream,
  ) {}
}

export class SimStreams {
  readonly stats: StreamStats = { connections: 0, refused: 0, resets: 0, bytes: 0, stalls: 0 };
  /** Open connections by node, to silence or reset them when the node dies. */
  private readonly byNode = new Map<string, Set<SimConnection>>();
  private idNext = 1;

  constructor(
    readonly sched: Scheduler,
    readonly rng: Rng,
    readonly net: SimNet,
    private readonly hosts: StreamHostView,
  ) {}

  /** Opens a connection from a client endpoint to a node's front door ("n1:line", "n2:http"). */
  dial(client: { address: string; owner: Owner }, target: string): Stream {
    const m = /^([a-z][a-z0-9-]*):(line|http)$/.exec(target);
    assert(m !== null, () => `SimStreams.dial: expected node:line or node:http, got ${target}`);
    const conn = new SimConnection(this, this.idNext++, client.address, client.owner, m[1] as string, m[2] as StreamProtocol);
    this.stats.connections++;
    conn.connect(0);
    return conn.clientEnd;
  }

  track(conn: SimConnection, on: boolean): void {
    let set = this.byNode.get(conn.node);
    if (set === undefined) this.byNode.set(conn.node, (set = new Set()));
    if (on) set.add(conn);
    else set.delete(conn);
  }

  /**
   * The node's process is gone. `silent`: its machine lost power, so nothing answers; otherwise
   * the kernel resets its connections.
   */
  nodeDown(node: string, silent: boolean): void {
    for (const conn of [...(this.byNode.get(node) ?? [])]) conn.serverDied(silent);
  }

  listener(node: string): ReturnType<StreamHostView['listener']> {
    return this.hosts.listener(node);
  }

  latencyNs(): number {
    return this.net.drawLatencyNs(this.rng);
  }
}

class SimConnection {
  readonly clientEnd: SimStream;
  serverEnd: SimStream | null = null;
  private toServer: Pipe | null = null;
  private toClient: Pipe | null = null;
  /** The server's machine lost power: segments to it vanish until it boots (then: reset). */
  private silent = false;
  private synRetries = 0;
  done = false;

  constructor(
    private readonly streams: SimStreams,
    readonly id: number,
    readonly client: string,
    readonly clientOwner: Owner,
    readonly node: string,
    readonly protocol: StreamProtocol,
  ) {
    this.clientEnd = new SimStream(this, 'client', `${client}#${id}`, clientOwner);
  }

  private get sched(): Scheduler {
    return this.streams.sched;
  }

  private label(what: string): string {
    return `stream ${this.client}>${this.node}#${this.id} ${what}`;
  }

  /** The labels of every segment's delivery, built once per connection rather than per segment. */
  private labelToServer: string | null = null;
  private labelToClient: string | null = null;

  private segmentLabel(toServer: boolean): string {
    if (toServer) return (this.labelToServer ??= this.label('to-server'));
    return (this.labelToClient ??= this.label('to-client'));
  }

  /** The SYN: reaches the node after a latency, unless a partition is in the way. */
  connect(delayNs: number): void {
    this.sched.after(delayNs + this.streams.latencyNs(), this.label('syn'), () => {
      if (this.done) return;
      if (this.streams.net.isBlocked(this.client, this.node) || this.streams.net.isBlocked(this.node, this.client)) {
        if (this.synRetries++ >= SYN_RETRIES) {
          this.streams.stats.refused++;
          this.closeClient('refused', 'ETIMEDOUT');
          return;
        }
        this.connect((1 << (this.synRetries - 1)) * NS_PER_S);
        return;
      }
      const listener = this.streams.listener(this.node);
      if (listener === null) {
        this.streams.stats.refused++;
        this.sched.after(this.streams.latencyNs(), this.label('rst'), () => this.closeClient('refused', 'ECONNREFUSED'), this.clientOwner);
        return;
      }
      const server = new SimStream(this, 'server', `${this.client}:${this.id}`, listener.owner);
      this.serverEnd = server;
      this.toServer = new Pipe(this.clientEnd, server);
      this.toClient = new Pipe(server, this.clientEnd);
      this.streams.track(this, true);
      // The process accepts in an event of its own: a paused process accepts when it resumes.
      this.sched.after(0, this.label('accept'), () => {
        if (!this.done && this.serverEnd === server) listener.accept(server, this.protocol);
      }, listener.owner);
      // What the client wrote before the connection was up goes now.
      this.clientEnd.connected();
    });
  }

  pipeFrom(end: SimStream): Pipe | null {
    return end.side === 'client' ? this.toServer : this.toClient;
  }

  /** Queues a segment from `end`, cut at a random place now and then. */
  send(end: SimStream, seg: Segment): void {
    const pipe = this.pipeFrom(end);
    if (pipe === null) return; // not connected yet: the end keeps it (SimStream.pending)
    const rng = this.streams.rng;
    if (seg.bytes !== null && seg.bytes.length > 1 && rng.chance(SPLIT_PROBABILITY)) {
      const cut = 1 + rng.int(seg.bytes.length - 1);
      pipe.queue.push({ bytes: seg.bytes.subarray(0, cut), fin: null });
      pipe.queue.push({ bytes: seg.bytes.subarray(cut), fin: seg.fin });
    } else pipe.queue.push(seg);
    if (seg.bytes !== null) {
      pipe.inFlight += seg.bytes.length;
      this.streams.stats.bytes += seg.bytes.length;
    }
    this.pump(pipe, this.streams.latencyNs());
  }

  /** Schedules the delivery of the pipe's first segment, after delayNs (FIFO with earlier ones). */
  pump(pipe: Pipe, delayNs: number): void {
    if (pipe.scheduled || pipe.queue.length === 0 || this.done) return;
    let at = this.sched.nowNs + delayNs;
    if (this.streams.net.lossProbability > 0 && this.streams.rng.chance(this.streams.net.lossProbability)) at += RTO_NS; // lost once, retransmitted
    if (at < pipe.lastDeliveryNs) at = pipe.lastDeliveryNs;
    pipe.lastDeliveryNs = at;
    pipe.scheduled = true;
    const toServer = pipe === this.toServer;
    if (toServer && this.silent) {
      // Nothing answers at the node's address: probe (retransmit) until it boots or we give up.
      this.sched.at(at, this.label('retransmit'), () => {
        pipe.scheduled = false;
        this.stalled(pipe);
      });
      return;
    }
    this.sched.at(at, this.segmentLabel(toServer), () => {
      pipe.scheduled = false;
      this.deliver(pipe);
    }, pipe.to.owner);
  }

  private deliver(pipe: Pipe): void {
    if (this.done || pipe.to.isClosed) return;
    const from = pipe === this.toServer ? this.client : this.node;
    const to = pipe === this.toServer ? this.node : this.client;
    if (this.streams.net.isBlocked(from, to)) {
      this.stalled(pipe);
      return;
    }
    pipe.stalledSinceNs = null;
    pipe.retries = 0;
    if (pipe.to.readPaused) return; // resume() pumps again
    const seg = pipe.queue.shift() as Segment;
    if (seg.bytes !== null) {
      pipe.inFlight -= seg.bytes.length;
      pipe.from.maybeDrain(pipe.inFlight);
      pipe.to.receive(seg.bytes);
    }
    if (seg.fin !== null) this.fin(pipe, seg.fin);
    this.pump(pipe, 0);
  }

  /** A segment could not get through: retransmit with back-off, or give up. */
  private stalled(pipe: Pipe): void {
    if (this.done) return;
    this.streams.stats.stalls++;
    const now = this.sched.nowNs;
    pipe.stalledSinceNs ??= now;
    if (pipe === this.toServer && this.silent) {
      const l = this.streams.listener(this.node);
      if (l !== null) {
        // The machine is back, with no memory of this connection: it answers with a reset.
        this.sched.after(this.streams.latencyNs(), this.label('rst'), () => this.reset('ECONNRESET'), this.clientOwner);
        return;
      }
    }
    if (now - pipe.stalledSinceNs >= STALL_RESET_NS) {
      this.reset('ETIMEDOUT');
      return;
    }
    const rto = Math.min(RTO_MAX_NS, RTO_NS * 2 ** Math.min(pipe.retries++, 10));
    this.pump(pipe, rto);
  }

  private fin(pipe: Pipe, fin: 'end' | 'finish'): void {
    pipe.finDelivered = true;
    pipe.to.peerEnded();
    const other = pipe === this.toServer ? this.toClient : this.toServer;
    // Both directions ended, or the writer closed outright: the connection is over.
    if (fin === 'finish' || other?.finDelivered === true) this.close('closed');
  }

  /** Runs fn in an event of the given owner, now (handlers are never called re-entrantly). */
  later(owner: Owner, what: string, fn: () => void): void {
    this.sched.after(0, this.label(what), fn, owner);
  }

  /** Ends the connection on both sides: each end's handler gets close, in its own event. */
  close(reason: StreamCloseReason, detail?: string): void {
    if (this.done) return;
    this.done = true;
    this.streams.track(this, false);
    for (const end of [this.clientEnd, this.serverEnd]) {
      if (end === null) continue;
      this.sched.after(0, this.label('close'), () => end.onClosed(reason, detail), end.owner);
    }
  }

  reset(detail: string): void {
    if (!this.done) this.streams.stats.resets++;
    this.close('reset', detail);
  }

  /** One end destroyed the connection: it closes at once; the peer sees the reset a latency later. */
  destroyFrom(end: SimStream): void {
    if (this.done) return;
    this.done = true;
    this.streams.track(this, false);
    this.streams.stats.resets++;
    this.sched.after(0, this.label('close'), () => end.onClosed('reset'), end.owner);
    const peer = end.side === 'client' ? this.serverEnd : this.clientEnd;
    if (peer !== null && !(peer.side === 'server' && this.silent)) {
      this.sched.after(this.streams.latencyNs(), this.label('rst'), () => peer.onClosed('reset', 'ECONNRESET'), peer.owner);
    }
  }

  private closeClient(reason: StreamCloseReason, detail: string): void {
    if (this.done) return;
    this.done = true;
    this.streams.track(this, false);
    this.clientEnd.onClosed(reason, detail);
  }

  /** The node's process died; see SimStreams.nodeDown. */
  serverDied(silent: boolean): void {
    if (this.done) return;
    const server = this.serverEnd;
    if (server !== null) server.kill();
    if (silent) {
      this.silent = true;
      this.toClient = null; // what it had not sent dies with it
      if (this.toServer !== null) {
        this.toServer.scheduled = false; // its delivery event died with the process
        this.pump(this.toServer, RTO_NS);
      }
      return;
    }
    this.streams.stats.resets++;
    this.done = true;
    this.streams.track(this, false);
    this.sched.after(this.streams.latencyNs(), this.label('rst'), () => this.clientEnd.onClosed('reset', 'ECONNRESET'), this.clientOwner);
  }
}

/** One end of a simulated connection. */
class SimStream implements Stream {
  private handler: StreamHandler | null = null;
  private readonly early: (() => void)[] = [];
  /** Written before the connection was up. */
  private pending: Segment[] | null;
  sentEnd = false;
  readPaused = false;
  private needDrain = false;
  isClosed = false;
  private dead = false;

  constructor(
    private readonly conn: SimConnection,
    readonly side: 'client' | 'server',
    readonly remote: string,
    readonly owner: Owner,
  ) {
    this.pending = side === 'client' ? [] : null;
  }

  setHandler(handler: StreamHandler): void {
    assert(this.handler === null, 'SimStream: the handler is set once');
    this.handler = handler;
    for (const e of this.early.splice(0)) e();
  }

  private emit(fn: (h: StreamHandler) => void): void {
    if (this.dead) return;
    if (this.handler !== null) fn(this.handler);
    else this.early.push(() => fn(this.handler as StreamHandler));
  }

  connected(): void {
    const pending = this.pending ?? [];
    this.pending = null;
    for (const seg of pending) this.conn.send(this, seg);
  }

  write(data: string | Uint8Array): boolean {
    if (this.isClosed || this.sentEnd) return false;
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
    if (bytes.length === 0) return !this.needDrain;
    if (this.pending !== null) this.pending.push({ bytes, fin: null });
    else this.conn.send(this, { bytes, fin: null });
    const pipe = this.conn.pipeFrom(this);
    if (pipe !== null && pipe.inFlight > WINDOW_BYTES) this.needDrain = true;
    return !this.needDrain;
  }

  get needsDrain(): boolean {
    return this.needDrain;
  }

  maybeDrain(inFlight: number): void {
    if (!this.needDrain || inFlight > WINDOW_BYTES / 2) return;
    this.needDrain = false;
    this.conn.later(this.owner, 'drain', () => this.emit((h) => h.drain()));
  }

  end(): void {
    this.fin('end');
  }

  finish(): void {
    this.fin('finish');
  }

  private fin(kind: 'end' | 'finish'): void {
    if (this.isClosed || this.sentEnd) return;
    this.sentEnd = true;
    if (this.pending !== null) this.pending.push({ bytes: null, fin: kind });
    else this.conn.send(this, { bytes: null, fin: kind });
  }

  destroy(): void {
    if (this.isClosed) return;
    this.conn.destroyFrom(this);
  }

  pause(): void {
    this.readPaused = true;
  }

  resume(): void {
    if (!this.readPaused) return;
    this.readPaused = false;
    const pipe = this.conn.pipeFrom(this.side === 'client' ? (this.conn.serverEnd as SimStream) : this.conn.clientEnd);
    if (pipe !== null) this.conn.pump(pipe, 0);
  }

  get closed(): boolean {
    return this.isClosed;
  }

  receive(bytes: Buffer): void {
    this.emit((h) => h.data(bytes));
  }

  peerEnded(): void {
    this.emit((h) => h.end());
  }

  onClosed(reason: StreamCloseReason, detail?: string): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.emit((h) => (detail === undefined ? h.close(reason) : h.close(reason, detail)));
  }

  /** The process at this end is gone: no handler of it runs again. */
  kill(): void {
    this.dead = true;
    this.isClosed = true;
  }
}
