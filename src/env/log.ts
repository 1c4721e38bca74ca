/**
 * Structured events a component wants an operator (or a simulator trace) to see.
 * Real nodes print one JSON line per event on stderr; the simulator records them in its trace.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type LogFields = Record<string, unknown>;

export interface Logger {
  log(level: LogLevel, event: string, fields?: LogFields): void;
}

export const silentLogger: Logger = { log() {} };
