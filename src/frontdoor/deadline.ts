import type { Clock, Timer } from '../env/clock.js';

/**
 * How long a client connection may take, and stay silent, before the node closes it: what keeps a
 * stranger from holding connections open forever (slowloris: open many, send a byte now and then,
 * never finish a request). Every timer comes from the Env clock, so the simulator's connections
 * time out exactly as real sockets do.
 *
 * Defaults, and why:
 * - tcpIdleMs 300 s: the TCP client port serves long-lived sessions (programs, and people typing
 *   at `nc`), so it is generous — the idle timeout Redis deployments commonly set (`timeout 300`;
 *   Redis itself defaults to never, which is what this replaces). Connections are also capped per
 *   source address (CONNECTIONS_PER_SOURCE_MAX), so an idle one costs a slot, not the node.
 * - tcpReadMs 60 s: a line (or a request frame) must arrive whole within this of its first byte,
 *   nginx's client_header_timeout; a 4 MiB line still fits at 70 KB/s.
 * - HTTP (src/frontdoor/http/session.ts): a head within 20 s, a whole request within 60 s, idle
 *   65 s — longer than the 60 s idle of common load balancers, so that they, not the node, close
 *   a pooled connection first and never send on one the node is closing.
 */
export interface ClientTimeouts {
  /** TCP client port: a connection with nothing in progress closes after this long without traffic. */
  tcpIdleMs: number;
  /** TCP client port: a line or a request frame must arrive whole within this of its first byte. */
  tcpReadMs: number;
  /** HTTP: a request head must arrive whole within this of its first byte (else 408). */
  httpHeadersMs: number;
  /** HTTP: a whole request (head and body) within this of its first byte (else 408). */
  httpRequestMs: number;
  /** HTTP: a keep-alive connection with nothing in progress closes after this long. */
  httpIdleMs: number;
}

export const DEFAULT_CLIENT_TIMEOUTS: ClientTimeouts = { tcpIdleMs: 300_000, tcpReadMs: 60_000, httpHeadersMs: 20_000, httpRequestMs: 60_000, httpIdleMs: 65_000 };

/**
 * One timer per connection, at the earliest deadline that applies now (`deadlineMs`, null when
 * none does: a request in progress, whose own deadline is the gateway's). Deadlines mostly move
 * later with traffic, so the timer is not re-armed on every chunk: it fires, finds the deadline
 * moved, and re-arms once. Call update() after anything that may move the deadline earlier or
 * bring one back (a line begun, the last reply written).
 */
export class ConnectionDeadline {
  private timer: Timer | null = null;
  private atMs = Infinity;
  private stopped = false;

  constructor(
    private readonly clock: Clock,
    private readonly deadlineMs: () => number | null,
    private readonly expired: () => void,
  ) {}

  update(): void {
    if (this.stopped) return;
    const deadline = this.deadlineMs();
    if (deadline === null || this.atMs <= deadline) return;
    this.timer?.cancel();
    this.atMs = deadline;
    this.timer = this.clock.timer(Math.max(0, deadline - this.clock.monotonicMs()), () => {
      this.timer = null;
      this.atMs = Infinity;
      if (this.stopped) return;
      const now = this.deadlineMs();
      if (now !== null && this.clock.monotonicMs() >= now) {
        this.stop();
        this.expired();
      } else this.update();
    });
  }

  /** No deadline any more (the connection is closed or closing). */
  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = null;
  }
}
