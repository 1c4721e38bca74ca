import { OP_FUNCTIONS, type EventType, type HistoryEvent, type Json, type OpFunction } from './history.js';
import { isJson } from './json.js';
import type { History, Operation, OpStatus } from './operation.js';

/**
 * Reading a history: every line is validated as it streams in, and the first thing wrong stops
 * the read with an error that names the source, the line and what was wrong. The parser never
 * opens files itself (the CLI does): it takes an iterable of lines, or an in-memory event array.
 * The format is documented in HISTORY.md beside this file.
 */

/** Limits on what one history may hold, so that a runaway recorder fails loudly, not slowly. */
export const HISTORY_LINE_CHARS_MAX = 1 << 20;
export const HISTORY_OPS_MAX = 20_000_000;

const EVENT_TYPES: readonly EventType[] = ['invoke', 'ok', 'fail', 'info'];

/** Bad input: where (source:line) and what. Never a stack trace for the user. */
export class HistoryError extends Error {
  constructor(
    readonly source: string,
    readonly line: number,
    readonly detail: string,
  ) {
    super(`${source}:${line}: ${detail}`);
    this.name = 'HistoryError';
  }
}

type DraftOp = { -readonly [K in keyof Operation]: Operation[K] };

interface ProcessState {
  /** The op this process has open, or -1 when idle. */
  openOp: number;
  /** Set once the process ended an op with `info`: it may issue nothing after that. */
  infoLine: number;
}

/** Builds a History one event at a time; `finish` closes what is still open as `info`. */
export class HistoryBuilder {
  private readonly ops: DraftOp[] = [];
  private readonly processes = new Map<number, ProcessState>();
  private eventCount = 0;
  private timed = true;

  constructor(
    readonly source: string,
    private readonly opsMax = HISTORY_OPS_MAX,
  ) {}

  /** One line of JSON Lines text; blank lines are skipped. */
  addLine(text: string, line: number): void {
    if (text.length > HISTORY_LINE_CHARS_MAX) {
      this.fail(line, `line is ${text.length} characters long; the limit is ${HISTORY_LINE_CHARS_MAX}`);
    }
    if (text.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      this.fail(line, `not valid JSON (${(e as Error).message})`);
    }
    this.addEvent(value, line);
  }

  addEvent(value: unknown, line: number): void {
    const event = this.validateEvent(value, line);
    const position = this.eventCount++;
    if (event.time === undefined) this.timed = false;
    if (event.type === 'invoke') this.invoke(event, position, line);
    else this.complete(event, position, line);
  }

  finish(): History {
    const ops: Operation[] = this.ops.map((op) => (op.status === undefined ? { ...op, status: 'info' } : op));
    return { source: this.source, ops, eventCount: this.eventCount, timed: this.timed && this.eventCount > 0 };
  }

  private invoke(event: HistoryEvent, position: number, line: number): void {
    const state = this.processes.get(event.process) ?? { openOp: -1, infoLine: 0 };
    if (state.infoLine !== 0) {
      this.fail(line, `process ${event.process} invokes again after ending with info at line ${state.infoLine}; a process issues nothing after info (use a new process number)`);
    }
    if (state.openOp !== -1) {
      const open = this.ops[state.openOp] as DraftOp;
      this.fail(line, `process ${event.process} invokes ${event.f} while its ${open.f} invoked at line ${open.callLine} is still open`);
    }
    if (this.ops.length >= this.opsMax) this.fail(line, `more than ${this.opsMax} operations`);
    this.checkInvokeValue(event, line);
    state.openOp = this.ops.length;
    this.processes.set(event.process, state);
    this.ops.push({
      id: this.ops.length,
      process: event.process,
      f: event.f,
      key: event.key,
      input: event.value ?? null,
      output: null,
      status: undefined as unknown as OpStatus,
      callEvent: position,
      returnEvent: -1,
      callLine: line,
      returnLine: 0,
      callTimeNs: event.time,
      returnTimeNs: undefined,
    });
  }

  private complete(event: HistoryEvent, position: number, line: number): void {
    const state = this.processes.get(event.process);
    if (state === undefined || state.openOp === -1) {
      const why = state?.infoLine ? `it ended with info at line ${state.infoLine}` : 'it has no open invoke';
      this.fail(line, `${event.type} from process ${event.process}, but ${why}`);
    }
    const op = this.ops[state.openOp] as DraftOp;
    if (op.f !== event.f || op.key !== event.key) {
      this.fail(line, `${event.type} is for ${event.f} of key ${JSON.stringify(event.key)}, but process ${event.process} invoked ${op.f} of key ${JSON.stringify(op.key)} at line ${op.callLine}`);
    }
    if (op.callTimeNs !== undefined && event.time !== undefined && event.time < op.callTimeNs) {
      this.fail(line, `completion time ${event.time} is before its invoke's time ${op.callTimeNs} (line ${op.callLine})`);
    }
    const status = event.type as OpStatus;
    if (status === 'ok' && op.f === 'read') op.output = event.value ?? null;
    op.status = status;
    op.returnEvent = position;
    op.returnLine = line;
    op.returnTimeNs = event.time;
    state.openOp = -1;
    if (status === 'info') state.infoLine = line;
  }

  private checkInvokeValue(event: HistoryEvent, line: number): void {
    const value = event.value ?? null;
    switch (event.f) {
      case 'read':
      case 'delete':
        if (value !== null) this.fail(line, `invoke of ${event.f} must have value null, got ${JSON.stringify(value)}`);
        return;
      case 'write':
        if (!('value' in event)) this.fail(line, 'invoke of write needs a "value"');
        return;
      case 'cas':
        if (!Array.isArray(value) || value.length !== 2) {
          this.fail(line, `invoke of cas needs value [expected, new], got ${JSON.stringify(value)}`);
        }
        return;
      case 'append':
        if (typeof value !== 'string') this.fail(line, `invoke of append needs a string value, got ${JSON.stringify(value)}`);
        return;
    }
  }

  private validateEvent(value: unknown, line: number): HistoryEvent {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.fail(line, `an event must be a JSON object, got ${JSON.stringify(value)}`);
    }
    const e = value as Record<string, unknown>;
    if (!Number.isSafeInteger(e.process)) this.fail(line, `"process" must be an integer, got ${JSON.stringify(e.process)}`);
    if (!EVENT_TYPES.includes(e.type as EventType)) {
      this.fail(line, `"type" must be one of ${EVENT_TYPES.join(', ')}; got ${JSON.stringify(e.type)}`);
    }
    if (!OP_FUNCTIONS.includes(e.f as OpFunction)) {
      this.fail(line, `"f" must be one of ${OP_FUNCTIONS.join(', ')}; got ${JSON.stringify(e.f)}`);
    }
    if (typeof e.key !== 'string') this.fail(line, `"key" must be a string, got ${JSON.stringify(e.key)}`);
    if (e.time !== undefined && !(Number.isSafeInteger(e.time) && (e.time as number) >= 0)) {
      this.fail(line, `"time" must be a non-negative integer (nanoseconds), got ${JSON.stringify(e.time)}`);
    }
    if (e.value !== undefined && !isJson(e.value)) this.fail(line, '"value" is not JSON data');
    return e as HistoryEvent;
  }

  private fail(line: number, detail: string): never {
    throw new HistoryError(this.source, line, detail);
  }
}

/**
 * Streams a JSON Lines history: lines are numbered from 1 as they arrive, so an error names the
 * line of the file. Memory holds one Operation per operation, never the text.
 */
export async function parseHistoryLines(
  lines: AsyncIterable<string> | Iterable<string>,
  source: string,
): Promise<History> {
  const builder = new HistoryBuilder(source);
  let line = 0;
  for await (const text of lines) builder.addLine(text, ++line);
  return builder.finish();
}

/** Validates an in-memory history (the simulator's); event i is reported as line i + 1. */
export function historyFromEvents(events: readonly unknown[], source = 'history'): History {
  const builder = new HistoryBuilder(source);
  for (let i = 0; i < events.length; i++) builder.addEvent(events[i], i + 1);
  return builder.finish();
}

/** Back from operations to events (for writing a history out, and for tests). */
export function eventsOf(history: History): HistoryEvent[] {
  const tagged: { position: number; event: HistoryEvent }[] = [];
  for (const op of history.ops) {
    const invoke: HistoryEvent = { process: op.process, type: 'invoke', f: op.f, key: op.key, value: op.input };
    if (op.callTimeNs !== undefined) invoke.time = op.callTimeNs;
    tagged.push({ position: op.callEvent, event: invoke });
    if (op.returnEvent < 0) continue;
    const value: Json = op.f === 'read' ? (op.status === 'ok' ? op.output : null) : op.input;
    const done: HistoryEvent = { process: op.process, type: op.status, f: op.f, key: op.key, value };
    if (op.returnTimeNs !== undefined) done.time = op.returnTimeNs;
    tagged.push({ position: op.returnEvent, event: done });
  }
  return tagged.sort((a, b) => a.position - b.position).map((t) => t.event);
}
