import { MICRO_OP_FUNCTIONS, OP_FUNCTIONS, type EventType, type HistoryEvent, type Json, type MicroOp, type MicroOpFunction, type OpFunction, type TxnEvent } from './history.js';
import { canonicalJson, isJson } from './json.js';
import type { History, Operation, OpStatus, TxnOperation } from './operation.js';

/**
 * Reading a history: every line is validated as it streams in, and the first thing wrong stops
 * the read with an error that names the source, the line and what was wrong. The parser never
 * opens files itself (the CLI does): it takes an iterable of lines, or an in-memory event array.
 * The format is documented in HISTORY.md beside this file.
 */

/** Limits on what one history may hold, so that a runaway recorder fails loudly, not slowly. */
export const HISTORY_LINE_CHARS_MAX = 1 << 20;
export const HISTORY_OPS_MAX = 20_000_000;
/** Micro-operations in one transaction: a transaction is a handful of reads and writes, not a bulk load. */
export const TXN_MICRO_OPS_MAX = 10_000;

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
type DraftTxn = { -readonly [K in keyof TxnOperation]: TxnOperation[K] };

interface ProcessState {
  /** The op (or, when openTxn, the transaction) this process has open, or -1 when idle. */
  openOp: number;
  openTxn: boolean;
  /** Set once the process ended an op with `info`: it may issue nothing after that. */
  infoLine: number;
}

/** Builds a History one event at a time; `finish` closes what is still open as `info`. */
export class HistoryBuilder {
  private readonly ops: DraftOp[] = [];
  private readonly txns: DraftTxn[] = [];
  private readonly processes = new Map<number, ProcessState>();
  /**
   * One string per key, shared by all its operations: every event brings its own copy of the key,
   * and the checker compares and hashes keys per op (grouping them, then asserting each key's ops
   * are its own), which on shared strings is a pointer comparison and a cached hash instead of a
   * visit to a string of its own per op (most of a large history's cost of grouping by key).
   */
  private readonly keys = new Map<string, string>();
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

  /**
   * One event. Its fields are read once, here, into locals that the rest works on: the first
   * history of a process runs in V8's interpreter, where each property load and call per event
   * counts (the event was read field by field by three functions, most fields two or three times).
   * The checks and their messages are validateEvent's, in its order.
   */
  addEvent(value: unknown, line: number): void {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.fail(line, `an event must be a JSON object, got ${JSON.stringify(value)}`);
    }
    const e = value as Record<string, unknown>;
    const f = e.f;
    if (f === 'txn') {
      // A transaction event is told by its f alone, so that its errors speak of transactions.
      const event = this.validateTxnEvent(e, line);
      const position = this.eventCount++;
      if (event.time === undefined) this.timed = false;
      if (event.type === 'invoke') this.invokeTxn(event, position, line);
      else this.completeTxn(event, position, line);
      return;
    }
    const process = e.process;
    const type = e.type;
    const key = e.key;
    const time = e.time;
    const v = e.value;
    if (!Number.isSafeInteger(process)) this.fail(line, `"process" must be an integer, got ${JSON.stringify(process)}`);
    if (type !== 'invoke' && type !== 'ok' && type !== 'fail' && type !== 'info') {
      this.fail(line, `"type" must be one of ${EVENT_TYPES.join(', ')}; got ${JSON.stringify(type)}`);
    }
    if (!OP_FUNCTIONS.includes(f as OpFunction)) {
      this.fail(line, `"f" must be one of ${OP_FUNCTIONS.join(', ')} or txn; got ${JSON.stringify(f)}`);
    }
    if (typeof key !== 'string') this.fail(line, `"key" must be a string, got ${JSON.stringify(key)}`);
    if (time !== undefined && !(Number.isSafeInteger(time) && (time as number) >= 0)) {
      this.fail(line, `"time" must be a non-negative integer (nanoseconds), got ${JSON.stringify(time)}`);
    }
    // Strings and null, most values, are JSON data without a call.
    if (v !== undefined && v !== null && typeof v !== 'string' && !isJson(v)) this.fail(line, '"value" is not JSON data');
    const position = this.eventCount++;
    if (time === undefined) this.timed = false;
    if (type === 'invoke') this.invoke(process as number, f as OpFunction, key, v as Json | undefined, 'value' in e, time as number | undefined, position, line);
    else this.complete(process as number, type as OpStatus, f as OpFunction, key, v as Json | undefined, time as number | undefined, position, line);
  }

  finish(): History {
    // The drafts become the history's operations as they are (a copy of each was a copy of the
    // history): what is still open ends as info.
    for (const op of this.ops) if (op.status === undefined) op.status = 'info';
    const ops: Operation[] = this.ops;
    const txns: TxnOperation[] = this.txns.map((t) => (t.status === undefined ? { ...t, status: 'info' } : t));
    return { source: this.source, ops, txns, eventCount: this.eventCount, timed: this.timed && this.eventCount > 0 };
  }

  private sharedKey(key: string): string {
    const shared = this.keys.get(key);
    if (shared !== undefined) return shared;
    this.keys.set(key, key);
    return key;
  }

  /** The process's state, after checking that it may invoke now. */
  private idleProcess(process: number, f: string, line: number): ProcessState {
    let state = this.processes.get(process);
    if (state === undefined) {
      state = { openOp: -1, openTxn: false, infoLine: 0 };
      this.processes.set(process, state);
    }
    if (state.infoLine !== 0) {
      this.fail(line, `process ${process} invokes again after ending with info at line ${state.infoLine}; a process issues nothing after info (use a new process number)`);
    }
    if (state.openOp !== -1) {
      const open = state.openTxn ? { f: 'txn', callLine: (this.txns[state.openOp] as DraftTxn).callLine } : this.ops[state.openOp] as DraftOp;
      this.fail(line, `process ${process} invokes ${f} while its ${open.f} invoked at line ${open.callLine} is still open`);
    }
    if (this.ops.length + this.txns.length >= this.opsMax) this.fail(line, `more than ${this.opsMax} operations`);
    return state;
  }

  /** An invoke's fields, validated by addEvent; `hasValue` whether the event has a value field at all. */
  private invoke(process: number, f: OpFunction, key: string, value: Json | undefined, hasValue: boolean, time: number | undefined,
    position: number, line: number): void {
    const state = this.idleProcess(process, f, line);
    this.checkInvokeValue(f, value ?? null, hasValue, line);
    state.openOp = this.ops.length;
    state.openTxn = false;
    this.ops.push({
      id: this.ops.length,
      process,
      f,
      key: this.sharedKey(key),
      input: value ?? null,
      output: null,
      status: undefined as unknown as OpStatus,
      callEvent: position,
      returnEvent: -1,
      callLine: line,
      returnLine: 0,
      callTimeNs: time,
      returnTimeNs: undefined,
    });
  }

  /** A completion's fields, validated by addEvent. */
  private complete(process: number, status: OpStatus, f: OpFunction, key: string, value: Json | undefined, time: number | undefined,
    position: number, line: number): void {
    const state = this.openProcess(process, status, line);
    if (state.openTxn) {
      this.fail(line, `${status} is for ${f} of key ${JSON.stringify(key)}, but process ${process} invoked a txn at line ${(this.txns[state.openOp] as DraftTxn).callLine}`);
    }
    const op = this.ops[state.openOp] as DraftOp;
    if (op.f !== f || op.key !== key) {
      this.fail(line, `${status} is for ${f} of key ${JSON.stringify(key)}, but process ${process} invoked ${op.f} of key ${JSON.stringify(op.key)} at line ${op.callLine}`);
    }
    if (op.callTimeNs !== undefined && time !== undefined && time < op.callTimeNs) {
      this.fail(line, `completion time ${time} is before its invoke's time ${op.callTimeNs} (line ${op.callLine})`);
    }
    if (status === 'ok' && f === 'read') op.output = value ?? null;
    op.status = status;
    op.returnEvent = position;
    op.returnLine = line;
    op.returnTimeNs = time;
    state.openOp = -1;
    if (status === 'info') state.infoLine = line;
  }

  /** The process's state, after checking that it has an operation open to complete. */
  private openProcess(process: number, type: EventType, line: number): ProcessState {
    const state = this.processes.get(process);
    if (state === undefined || state.openOp === -1) {
      const why = state?.infoLine ? `it ended with info at line ${state.infoLine}` : 'it has no open invoke';
      this.fail(line, `${type} from process ${process}, but ${why}`);
    }
    return state;
  }

  private invokeTxn(event: TxnEvent, position: number, line: number): void {
    const state = this.idleProcess(event.process, 'txn', line);
    state.openOp = this.txns.length;
    state.openTxn = true;
    this.txns.push({
      id: this.txns.length,
      process: event.process,
      input: event.value,
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

  private completeTxn(event: TxnEvent, position: number, line: number): void {
    const state = this.openProcess(event.process, event.type, line);
    if (!state.openTxn) {
      const open = this.ops[state.openOp] as DraftOp;
      this.fail(line, `${event.type} is for a txn, but process ${event.process} invoked ${open.f} of key ${JSON.stringify(open.key)} at line ${open.callLine}`);
    }
    const txn = this.txns[state.openOp] as DraftTxn;
    if (txn.callTimeNs !== undefined && event.time !== undefined && event.time < txn.callTimeNs) {
      this.fail(line, `completion time ${event.time} is before its invoke's time ${txn.callTimeNs} (line ${txn.callLine})`);
    }
    if (event.type === 'ok' || event.value.length > 0) this.checkTxnCompletion(txn, event, line);
    const status = event.type as OpStatus;
    if (status === 'ok') txn.output = event.value;
    txn.status = status;
    txn.returnEvent = position;
    txn.returnLine = line;
    txn.returnTimeNs = event.time;
    state.openOp = -1;
    if (status === 'info') state.infoLine = line;
  }

  /** A completion names the invoke's micro-operations in order; only reads may differ. */
  private checkTxnCompletion(txn: DraftTxn, event: TxnEvent, line: number): void {
    const done = event.value;
    if (done.length !== txn.input.length) {
      this.fail(line, `${event.type} of a txn has ${done.length} micro-operations, but its invoke at line ${txn.callLine} has ${txn.input.length}`);
    }
    for (let i = 0; i < done.length; i++) {
      const [f, key, value] = done[i] as MicroOp;
      const [f0, key0, value0] = txn.input[i] as MicroOp;
      if (f !== f0 || key !== key0) {
        this.fail(line, `micro-operation ${i} is ${JSON.stringify([f, key])}, but the invoke at line ${txn.callLine} has ${JSON.stringify([f0, key0])} there`);
      }
      // Written values are mostly numbers or strings: compared directly before any canonical text.
      if (f !== 'r' && value !== value0 && canonicalJson(value) !== canonicalJson(value0)) {
        this.fail(line, `micro-operation ${i} (${f} of ${JSON.stringify(key)}) has value ${JSON.stringify(value)}, but the invoke at line ${txn.callLine} has ${JSON.stringify(value0)}`);
      }
    }
  }

  /**
   * A transaction event: `"f": "txn"`, no key, `value` a list of [f, key, value] micro-operations
   * (HISTORY.md). A completion other than ok may leave the value out (null): it saw nothing.
   */
  private validateTxnEvent(e: Record<string, unknown>, line: number): TxnEvent {
    if (!Number.isSafeInteger(e.process)) this.fail(line, `"process" must be an integer, got ${JSON.stringify(e.process)}`);
    if (!EVENT_TYPES.includes(e.type as EventType)) {
      this.fail(line, `"type" must be one of ${EVENT_TYPES.join(', ')}; got ${JSON.stringify(e.type)}`);
    }
    if (e.key !== undefined) this.fail(line, 'a txn event has no "key": its micro-operations name their keys');
    if (e.time !== undefined && !(Number.isSafeInteger(e.time) && (e.time as number) >= 0)) {
      this.fail(line, `"time" must be a non-negative integer (nanoseconds), got ${JSON.stringify(e.time)}`);
    }
    const type = e.type as EventType;
    const value = e.value ?? null;
    if (value === null && (type === 'fail' || type === 'info')) return { ...e, value: [] } as unknown as TxnEvent;
    if (!Array.isArray(value)) {
      this.fail(line, `the value of a txn ${type} must be a list of micro-operations [f, key, value], got ${JSON.stringify(value)?.slice(0, 80)}`);
    }
    if (value.length > TXN_MICRO_OPS_MAX) this.fail(line, `a txn has ${value.length} micro-operations; the limit is ${TXN_MICRO_OPS_MAX}`);
    value.forEach((m, i) => this.checkMicroOp(m, i, type, line));
    return e as unknown as TxnEvent;
  }

  private checkMicroOp(m: unknown, i: number, type: EventType, line: number): void {
    const at = `micro-operation ${i} of the txn`;
    if (!Array.isArray(m) || m.length !== 3) {
      this.fail(line, `${at} must be [f, key, value], e.g. ["append", "x", 3] or ["r", "x", null]; got ${JSON.stringify(m)?.slice(0, 80)}`);
    }
    const [f, key, value] = m as unknown[];
    if (!MICRO_OP_FUNCTIONS.includes(f as MicroOpFunction)) {
      this.fail(line, `${at}: f must be one of ${MICRO_OP_FUNCTIONS.join(', ')}; got ${JSON.stringify(f)}`);
    }
    if (typeof key !== 'string') this.fail(line, `${at}: the key must be a string, got ${JSON.stringify(key)}`);
    if (!isJson(value)) this.fail(line, `${at}: the value is not JSON data`);
    if (f === 'r' && type === 'invoke' && value !== null) {
      this.fail(line, `${at}: a read's value is null in the invoke (the ok says what it saw), got ${JSON.stringify(value)?.slice(0, 80)}`);
    }
    if (f !== 'r' && value === null) {
      this.fail(line, `${at}: ${f} of null: a written or appended value must not be null (null is how a read shows an absent key)`);
    }
  }

  private checkInvokeValue(f: OpFunction, value: Json, hasValue: boolean, line: number): void {
    switch (f) {
      case 'read':
      case 'delete':
        if (value !== null) this.fail(line, `invoke of ${f} must have value null, got ${JSON.stringify(value)}`);
        return;
      case 'write':
        if (!hasValue) this.fail(line, 'invoke of write needs a "value"');
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

  private fail(line: number, detail: string): never {
    throw new HistoryError(this.source, line, detail);
  }
}

/**
 * The linearizability checkers read single-key operations only: a history with transactions
 * given to them is refused (naming the first), rather than half checked.
 */
export function refuseTransactions(history: History): void {
  const first = history.txns?.[0];
  if (first !== undefined) {
    throw new HistoryError(history.source, first.callLine, 'a transaction ("f": "txn"): check transactional histories with --model txn');
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
export function eventsOf(history: History): (HistoryEvent | TxnEvent)[] {
  const tagged: { position: number; event: HistoryEvent | TxnEvent }[] = [];
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
  for (const txn of history.txns ?? []) {
    const invoke: TxnEvent = { process: txn.process, type: 'invoke', f: 'txn', value: [...txn.input] };
    if (txn.callTimeNs !== undefined) invoke.time = txn.callTimeNs;
    tagged.push({ position: txn.callEvent, event: invoke });
    if (txn.returnEvent < 0) continue;
    const done: TxnEvent = { process: txn.process, type: txn.status, f: 'txn', value: [...(txn.output ?? txn.input)] };
    if (txn.returnTimeNs !== undefined) done.time = txn.returnTimeNs;
    tagged.push({ position: txn.returnEvent, event: done });
  }
  return tagged.sort((a, b) => a.position - b.position).map((t) => t.event);
}
