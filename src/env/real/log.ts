import type { Logger, LogFields, LogLevel } from '../log.js';

/**
 * The Logger seam on a real machine: one JSON object per line, so that `jq`, `grep` and log
 * shippers can read it without a parser of ours. Every line carries the wall time, the level, the
 * node and the event name first, then the event's own fields.
 *
 * Writes go to a stream (stderr for `kv-lab serve`); a field that cannot be serialised (a cycle, a
 * BigInt) turns into a string instead of losing the line, because a log line is worth most when
 * something already went wrong.
 */
export interface JsonLineLoggerOptions {
  /** Written as "node" on every line. */
  node: string;
  /** Lines below this level are dropped. */
  level?: LogLevel;
  /** Where lines go; defaults to process.stderr. */
  out?: { write(line: string): unknown };
  /** Wall clock in ms since the epoch; defaults to Date.now (injectable for tests). */
  wallMs?: () => number;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** Longest line written; a larger event is cut, with a field saying so (limits on everything). */
export const LOG_LINE_BYTES_MAX = 16 * 1024;

export class JsonLineLogger implements Logger {
  private readonly minRank: number;
  private readonly out: { write(line: string): unknown };
  private readonly wallMs: () => number;

  constructor(private readonly options: JsonLineLoggerOptions) {
    this.minRank = RANK[options.level ?? 'info'];
    this.out = options.out ?? process.stderr;
    this.wallMs = options.wallMs ?? Date.now;
  }

  enabled(level: LogLevel): boolean {
    return RANK[level] >= this.minRank;
  }

  log(level: LogLevel, event: string, fields: LogFields = {}): void {
    if (!this.enabled(level)) return;
    this.out.write(formatLogLine(new Date(this.wallMs()).toISOString(), level, this.options.node, event, fields) + '\n');
  }
}

/** One log line, without its newline. Pure, for tests. */
export function formatLogLine(time: string, level: LogLevel, node: string, event: string, fields: LogFields): string {
  const record: Record<string, unknown> = { time, level, node, event };
  for (const [k, v] of Object.entries(fields)) if (!(k in record)) record[k] = v;
  let line: string;
  try {
    line = JSON.stringify(record, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Error ? v.message : v));
  } catch (err) {
    line = JSON.stringify({ time, level, node, event, unserialisable: (err as Error).message });
  }
  if (line.length > LOG_LINE_BYTES_MAX) {
    line = JSON.stringify({ time, level, node, event, truncated: true, head: line.slice(0, LOG_LINE_BYTES_MAX / 2) });
  }
  return line;
}
