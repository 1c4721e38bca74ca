import { KvClient } from '../client/client.js';
import type { Clock } from '../env/clock.js';
import type { Logger } from '../env/log.js';
import type { Net } from '../env/net.js';
import type { Rng } from '../env/rng.js';
import type { Stream, StreamCloseReason, StreamHandler } from '../env/stream.js';
import type { BugName } from '../node/bugs.js';
import { assert } from '../util/assert.js';
import { Gateway, type LocalNode } from './gateway.js';
import { HttpSession, type HttpContext } from './http/session.js';
import { LineSession } from './line/session.js';
import { LoginThrottle, sourceOf } from './login-throttle.js';
import { ConnectionDeadline, DEFAULT_CLIENT_TIMEOUTS, type ClientTimeouts } from './deadline.js';
import { NativeSession } from './native/session.js';
import { Counter, Exposition, Family, numericLeaves } from './metrics.js';

/**
 * The front door of one node: the gateway and every client connection's session, line protocol
 * or HTTP. It is what a request meets first, in the real world (src/host hands it accepted
 * sockets) and in the simulator (sim/stream.ts hands it simulated connections): one request path,
 * run under faults by the lab exactly as it runs for users.
 *
 * Pure: it owns no socket and no timer of its own; connections arrive as Streams, and time,
 * randomness and the forwarding client's network come from the Env the host or the world gives.
 */

/**
 * The front door's two ports: `line` is the TCP client port, where the line protocol and the
 * request protocol's frames (KvClient, connectKv) are told apart by the first byte; `http`.
 */
export type FrontDoorProtocol = 'line' | 'http';

export interface FrontDoorOptions {
  /** This node's id. */
  id: string;
  node: LocalNode;
  /** Every member, this node included (forwarding goes to the others). */
  members: readonly string[];
  clock: Clock;
  rng: Rng;
  log: Logger;
  /**
   * Opens the forwarding client's own network endpoint under the given address (the gateway's
   * client name); null: no forwarding (a single node, or tests).
   */
  openNet: ((address: string) => Net) | null;
  /**
   * The node meets members after start (gossip: a node started with `--join`, or one that
   * `cluster add-node` adds later): forward even when `members` names no other node yet, and
   * learn them with learnMember.
   */
  learnsMembers?: boolean;
  /** false: no authentication (`--insecure`, the simulator); credentials are ignored. */
  authEnabled: boolean;
  version: string;
  requestTimeoutMs?: number;
  /** How long a forwarded request may take over the peer network (default 2 s an attempt). */
  forwardAttemptTimeoutMs?: number;
  /** See LineSessionOptions.soon; default: the clock's defer. */
  soon?: (fn: () => void) => void;
  /** Extra fields of /status. */
  statusExtra?: () => Record<string, unknown>;
  /** Adds what only the host can tell (memory, disk usage) to /metrics. */
  hostMetrics?: (e: Exposition) => void;
  /** Known-bug switches that live in the front door. */
  bugs?: ReadonlySet<BugName>;
  /** How long client connections may stay silent or take to send a request (DEFAULT_CLIENT_TIMEOUTS). */
  timeouts?: Partial<ClientTimeouts>;
}

/** Open connections per node; beyond it a new one is closed at once. */
export const CONNECTIONS_MAX = 10_000;
/**
 * Open connections from one source address (the address without its port); beyond it a new one
 * from there is closed at once, so that one host holding idle connections cannot take every slot
 * of CONNECTIONS_MAX from everyone else.
 */
export const CONNECTIONS_PER_SOURCE_MAX = 1_000;

const COUNTERS = new Set(['counters_requests', 'counters_writes', 'counters_reads', 'counters_errors', ...['writes', 'user_bytes_written', 'disk_bytes_written', 'flushes', 'compactions', 'compaction_bytes_written', 'cache_hits', 'cache_misses', 'write_stalls'].map((n) => `storage_${n}`)]);

export class FrontDoor {
  readonly gateway: Gateway;
  /** HTTP responses by status code. */
  readonly responses = new Family<Counter>(() => new Counter(), 100);
  private readonly forward: KvClient | null;
  private readonly streams = new Set<Stream>();
  /** Open connections per source address (Map: the keys come from the network). */
  private readonly bySource = new Map<string, number>();
  private readonly open: Record<FrontDoorProtocol | 'native', number> = { line: 0, http: 0, native: 0 };
  private readonly total: Record<FrontDoorProtocol | 'native', number> = { line: 0, http: 0, native: 0 };
  private readonly http: HttpContext;
  private readonly soon: (fn: () => void) => void;
  /** Failed logins per source address, across the node's connections and protocols. */
  readonly logins: LoginThrottle;
  private accepting = true;
  private readonly timeouts: ClientTimeouts;

  constructor(private readonly options: FrontDoorOptions) {
    assert(options.members.includes(options.id), () => `front door of ${options.id}: not among the members ${options.members.join(', ')}`);
    // The gateway's client name at its node: fresh at every start, so that a name reused after a
    // restart cannot collide with the session the node kept of the previous life.
    const clientId = `${options.id}.gw.${hex(options.rng, 4)}`;
    const others = options.members.filter((m) => m !== options.id);
    // A node that knows no other member yet (started with --join) starts by trying itself: its
    // node answers not_leader naming the leader once it has one, and the client follows the hint
    // (the forwarding net learns that leader's address from gossip). Before this, such a node had
    // no forwarding client at all and answered its clients not_leader until restarted.
    const forwardTo = others.length > 0 ? others : options.learnsMembers === true ? [options.id] : [];
    this.forward =
      forwardTo.length > 0 && options.openNet !== null
        ? new KvClient(options.openNet(clientId), options.clock, { nodes: forwardTo, timeoutMs: options.requestTimeoutMs ?? 10_000, attemptTimeoutMs: options.forwardAttemptTimeoutMs ?? 2_000 })
        : null;
    this.soon = options.soon ?? ((fn) => options.clock.defer(fn));
    this.timeouts = { ...DEFAULT_CLIENT_TIMEOUTS, ...options.timeouts };
    this.logins = new LoginThrottle(options.clock);
    this.gateway = new Gateway({
      node: options.node,
      clientId,
      forward: this.forward,
      clock: options.clock,
      log: options.log,
      authEnabled: options.authEnabled,
      ...(options.requestTimeoutMs !== undefined ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
      ...(options.bugs !== undefined ? { bugs: options.bugs } : {}),
    });
    this.http = {
      gateway: this.gateway,
      log: options.log,
      clock: options.clock,
      version: options.version,
      statusExtra: options.statusExtra ?? (() => ({})),
      metrics: () => this.metricsText(),
      responses: this.responses,
      salt: () => bytes(options.rng, 16),
      soon: this.soon,
      logins: this.logins,
      timeouts: { headersMs: this.timeouts.httpHeadersMs, requestMs: this.timeouts.httpRequestMs, idleMs: this.timeouts.httpIdleMs },
    };
  }

  /** A member met after start (gossip): requests this node cannot order may go to it. */
  learnMember(id: string): void {
    if (id !== this.options.id) this.forward?.addNode(id);
  }

  /** Serves one client connection until it closes. */
  accept(stream: Stream, port: FrontDoorProtocol): void {
    if (!this.accepting || this.streams.size >= CONNECTIONS_MAX) {
      if (this.accepting) this.options.log.log('warn', 'frontdoor.refused', { remote: stream.remote, port, why: `over ${CONNECTIONS_MAX} connections` });
      stream.destroy();
      return;
    }
    const source = sourceOf(stream.remote);
    const fromSource = this.bySource.get(source) ?? 0;
    if (fromSource >= CONNECTIONS_PER_SOURCE_MAX) {
      this.options.log.log('warn', 'frontdoor.refused', { remote: stream.remote, port, why: `over ${CONNECTIONS_PER_SOURCE_MAX} connections from ${source}` });
      stream.destroy();
      return;
    }
    this.bySource.set(source, fromSource + 1);
    this.streams.add(stream);
    if (port === 'http') {
      this.serve(stream, stream, 'http');
      return;
    }
    // The TCP client port: the first byte says which protocol (a frame's length begins 0x00, a
    // line with a letter). The session sees every byte, the first one included. A connection
    // that never sends one is idle from the start, and closed as idle.
    const acceptedMs = this.options.clock.monotonicMs();
    const silent = new ConnectionDeadline(this.options.clock, () => acceptedMs + this.timeouts.tcpIdleMs, () => {
      this.options.log.log('info', 'line.timeout', { remote: stream.remote, why: `no byte in ${this.timeouts.tcpIdleMs} ms` });
      stream.destroy();
    });
    silent.update();
    sniff(stream, (first) => (first === 0 ? 'native' : 'line'), (session, kind) => {
      silent.stop();
      this.serve(stream, session, kind);
    });
  }

  private serve(stream: Stream, session: Stream, kind: FrontDoorProtocol | 'native'): void {
    this.open[kind]++;
    this.total[kind]++;
    const onClose = (_reason: StreamCloseReason) => {
      if (!this.streams.delete(stream)) return;
      this.open[kind]--;
      const source = sourceOf(stream.remote);
      const left = (this.bySource.get(source) ?? 1) - 1;
      if (left > 0) this.bySource.set(source, left);
      else this.bySource.delete(source);
    };
    const tcpTimeouts = { tcpIdleMs: this.timeouts.tcpIdleMs, tcpReadMs: this.timeouts.tcpReadMs };
    if (kind === 'line') new LineSession(session, { gateway: this.gateway, log: this.options.log, soon: this.soon, onClose, logins: this.logins, clock: this.options.clock, timeouts: tcpTimeouts });
    else if (kind === 'native') new NativeSession(session, { node: this.options.node, log: this.options.log, soon: this.soon, onClose, clock: this.options.clock, timeouts: tcpTimeouts });
    else new HttpSession(session, this.http, onClose);
  }

  connections(protocol: FrontDoorProtocol | 'native'): number {
    return this.open[protocol];
  }

  connectionsTotal(protocol: FrontDoorProtocol | 'native'): number {
    return this.total[protocol];
  }

  /** New connections are refused from now on (shutting down). */
  stopAccepting(): void {
    this.accepting = false;
  }

  /** Resets every open connection. */
  closeAll(): void {
    for (const s of [...this.streams]) s.destroy();
  }

  /** Stops at once: no new requests, no timers, no connections. */
  stop(): void {
    this.accepting = false;
    this.gateway.stop();
    this.forward?.close();
    this.closeAll();
  }

  /** Closes the forwarding client (after the gateway drained). */
  closeForwarding(): void {
    this.forward?.close();
  }

  /** The /metrics text: the front door's counters and latencies, every number in the status, and the host's. */
  metricsText(): string {
    const gw = this.gateway;
    const status = gw.status();
    const e = new Exposition();
    e.scalar('kvlab_requests_total', 'counter', 'Operations answered by the front ends, by front end, operation and outcome.', gw.requestCounts());
    e.histogram('kvlab_request_duration_seconds', 'Time from a request parsed to its answer, by front end and operation (a read answered at once in a pipelined TCP chunk: from the start of the chunk to its end).', gw.latencies());
    e.scalar('kvlab_http_responses_total', 'counter', 'HTTP responses by status code.', this.responses.entries().map((s) => ({ labels: s.labels, value: s.value.value })));
    e.scalar('kvlab_forwarded_total', 'counter', 'Requests forwarded to the leader.', [{ value: gw.forwarded.value }]);
    e.scalar('kvlab_in_flight_requests', 'gauge', 'Front-end requests waiting for an answer.', [{ value: gw.pending }]);
    e.scalar('kvlab_tcp_connections', 'gauge', 'Open TCP line-protocol connections.', [{ value: this.open.line }]);
    e.scalar('kvlab_tcp_connections_total', 'counter', 'TCP line-protocol connections accepted.', [{ value: this.total.line }]);
    e.scalar('kvlab_http_connections', 'gauge', 'Open HTTP connections.', [{ value: this.open.http }]);
    e.scalar('kvlab_native_connections', 'gauge', 'Open request-protocol connections on the TCP client port (KvClient).', [{ value: this.open.native }]);
    e.scalar('kvlab_node_is_leader', 'gauge', '1 if this node is the leader.', [{ value: status.role === 'leader' ? 1 : 0 }]);
    for (const [name, value] of numericLeaves(status)) {
      const metric = name.startsWith('term') || name.startsWith('commit_index') || name.startsWith('applied_index') ? `kvlab_raft_${name}` : `kvlab_node_${name}`;
      const counter = COUNTERS.has(name);
      e.scalar(counter ? `${metric}_total` : metric, counter ? 'counter' : 'gauge', `The node's status field ${name}.`, [{ value }]);
    }
    this.options.hostMetrics?.(e);
    return e.text();
  }
}

/**
 * Waits for a stream's first byte, lets `choose` name the protocol, then hands the session a view
 * of the stream that delivers every byte from the first on. Until then nothing is parsed.
 */
function sniff<K>(stream: Stream, choose: (firstByte: number) => K, start: (session: Stream, kind: K) => void): void {
  let target: StreamHandler | null = null;
  let early: ((h: StreamHandler) => void)[] | null = [];
  const deliver = (fn: (h: StreamHandler) => void) => {
    if (target !== null) fn(target);
    else early?.push(fn);
  };
  const view: Stream = {
    get remote() {
      return stream.remote;
    },
    setHandler(h) {
      assert(target === null, 'sniff: the handler is set once');
      target = h;
      const queued = early ?? [];
      early = null;
      for (const fn of queued) fn(h);
    },
    write: (d) => stream.write(d),
    get needsDrain() {
      return stream.needsDrain;
    },
    end: () => stream.end(),
    finish: () => stream.finish(),
    destroy: () => stream.destroy(),
    pause: () => stream.pause(),
    resume: () => stream.resume(),
    get closed() {
      return stream.closed;
    },
  };
  let chosen = false;
  stream.setHandler({
    data: (chunk) => {
      if (!chosen) {
        chosen = true;
        deliver((h) => h.data(chunk));
        start(view, choose(chunk[0] as number));
        return;
      }
      deliver((h) => h.data(chunk));
    },
    end: () => {
      if (!chosen) {
        chosen = true;
        start(view, choose(0x0a)); // ended before a byte: a line session ends it cleanly
      }
      deliver((h) => h.end());
    },
    close: (reason, detail) => {
      if (!chosen) {
        chosen = true;
        start(view, choose(0x0a));
      }
      deliver((h) => (detail === undefined ? h.close(reason) : h.close(reason, detail)));
    },
    drain: () => deliver((h) => h.drain()),
  });
}

/** n random bytes from the Env's Rng. */
function bytes(rng: Rng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.int(256);
  return out;
}

function hex(rng: Rng, n: number): string {
  return Buffer.from(bytes(rng, n)).toString('hex');
}
