import { createHash, type Hash } from 'node:crypto';

/**
 * A run's trace: one line per simulated event, hashed into the run's digest. Two runs with the
 * same digest did the same things at the same virtual times, in the same order. Lines are JSON so
 * the written trace.jsonl can be read with ordinary tools.
 */
export class Trace {
  private readonly hash: Hash = createHash('sha256');
  private batch: string[] = [];
  lines = 0;
  /** Lines kept for trace.jsonl; null when not writing one (the digest is always computed). */
  private kept: string[] | null;
  private keptBytes = 0;
  truncated = false;
  /** Sees every structured record as it is made (the run's report draws from them). */
  listener: ((timeNs: number, kind: string, detail: Record<string, unknown>) => void) | null = null;

  constructor(
    keep: boolean,
    /** A bound on the memory a kept trace may take; past it, lines are only hashed. */
    private readonly keepBytesMax = 256 * 1024 * 1024,
  ) {
    this.kept = keep ? [] : null;
  }

  /** An event line: `{"t":<virtual ns>,"e":"<label>"}`. Labels must not contain quotes or backslashes. */
  event(timeNs: number, label: string): void {
    this.add(`{"t":${timeNs},"e":"${label}"}`);
  }

  /** A line with structured detail (faults, client operations, logs). */
  record(timeNs: number, kind: string, detail: Record<string, unknown>): void {
    this.listener?.(timeNs, kind, detail);
    this.add(JSON.stringify({ t: timeNs, e: kind, ...detail }));
  }

  private add(line: string): void {
    this.lines++;
    this.batch.push(line);
    if (this.batch.length >= 4096) this.flushBatch();
    if (this.kept !== null) {
      this.keptBytes += line.length + 1;
      if (this.keptBytes > this.keepBytesMax) {
        this.kept = null;
        this.truncated = true;
      } else this.kept.push(line);
    }
  }

  private flushBatch(): void {
    if (this.batch.length === 0) return;
    this.hash.update(this.batch.join('\n'));
    this.hash.update('\n');
    this.batch = [];
  }

  /** The sha256 of every line so far, hex. Ends the trace: call once, at the end of the run. */
  digest(): string {
    this.flushBatch();
    return this.hash.digest('hex');
  }

  keptLines(): string[] | null {
    return this.kept;
  }
}
