import { assert } from '../util/assert.js';
import { EdnError, EdnKeyword, EdnMap, EdnReader, EdnSet, EdnSymbol, EdnTagged, parseEdnValue, type Edn } from './edn.js';
import type { EventType, HistoryEvent, Json, OpFunction } from './history.js';
import { canonicalJson } from './json.js';
import { HistoryError } from './parse.js';

/**
 * Jepsen's history formats, read into this project's events (HISTORY.md):
 * - `history.edn` as Jepsen, Knossos and Elle write it: one op map per line (or one vector of
 *   them), `{:type :invoke, :f :cas, :value [1 2], :process 3, :time 1234}`;
 * - the text log older Jepsen runs printed through jepsen.util/log-op, one op per line after the
 *   logger's prefix, tab-separated: `INFO  jepsen.util - 3\t:invoke\t:read\tnil`.
 * Which object an op is on:
 * - a `:key` field names it;
 * - else, in Jepsen's independent (multi-key) form, every value is a tuple `[key value]` (a read
 *   invokes with `[k nil]`, a cas with `[k [old new]]`): the history is in that form when a read
 *   invokes with a tuple or a cas carries `[k [old new]]`, and then every op must have a tuple;
 * - else the history is of one object, key SINGLE_KEY (Knossos's cas-register).
 * Ops of the `:nemesis` process are fault injections, not client ops: they are skipped. A
 * completion without a tuple (an info's `:timed-out`) is for the key its process invoked on.
 */
export type JepsenFormat = 'edn' | 'jepsen-log';

/** The key of a history of one object. */
export const SINGLE_KEY = 'register';

const TYPES: readonly EventType[] = ['invoke', 'ok', 'fail', 'info'];
const FUNCTIONS: readonly OpFunction[] = ['read', 'write', 'cas', 'delete', 'append'];

/** One op as the file wrote it, before keys are resolved. */
interface RawOp {
  readonly line: number;
  readonly process: number;
  readonly type: EventType;
  readonly f: OpFunction;
  readonly value: Edn;
  readonly key: Edn | undefined;
  readonly time: number | undefined;
}

/**
 * Collects a Jepsen history's ops (line by line), then hands the events over in file order, each
 * with its line. Keys can only be resolved once the whole file is read (is it independent?).
 */
export class JepsenReader {
  private readonly ops: RawOp[] = [];
  private readonly edn = new EdnReader();

  constructor(readonly source: string, readonly format: JepsenFormat, private readonly opsMax: number) {}

  /** The first non-blank line: a log without a single op line is not a Jepsen log. */
  private firstTextLine = 0;

  addLine(text: string, line: number): void {
    if (this.firstTextLine === 0 && text.trim() !== '') this.firstTextLine = line;
    if (this.format === 'jepsen-log') {
      const op = this.logLine(text, line);
      if (op !== null) this.add(op);
      return;
    }
    let forms;
    try {
      forms = this.edn.push(text, line);
    } catch (e) {
      this.rethrow(e);
    }
    for (const form of forms) {
      const op = this.opOf(form.value, form.line);
      if (op !== null) this.add(op);
    }
  }

  /** Every op as an event, in file order. */
  finish(): { event: HistoryEvent; line: number }[] {
    if (this.format === 'edn') {
      try {
        this.edn.finish();
      } catch (e) {
        this.rethrow(e);
      }
    }
    if (this.format === 'jepsen-log' && this.ops.length === 0 && this.firstTextLine > 0) {
      this.fail(this.firstTextLine, 'no operation lines (… jepsen.util - <process><TAB><type><TAB><f><TAB><value>) in this log');
    }
    const independent = this.ops.some((op) =>
      op.key === undefined && ((op.f === 'read' && op.type === 'invoke' && isPair(op.value)) || (op.f === 'cas' && isPair(op.value) && isPair(op.value[1] as Edn))));
    const openKey = new Map<number, string>();
    return this.ops.map((op) => ({ event: this.eventOf(op, independent, openKey), line: op.line }));
  }

  private add(op: RawOp): void {
    if (this.ops.length >= this.opsMax) this.fail(op.line, `more than ${this.opsMax} operations`);
    this.ops.push(op);
  }

  private eventOf(op: RawOp, independent: boolean, openKey: Map<number, string>): HistoryEvent {
    let key: string;
    let value = op.value;
    if (op.key !== undefined) {
      key = keyText(op.key);
    } else if (!independent) {
      key = SINGLE_KEY;
    } else if (isPair(value)) {
      key = keyText(value[0] as Edn);
      value = value[1] as Edn;
    } else if (op.type !== 'invoke' && openKey.has(op.process)) {
      key = openKey.get(op.process) as string;
    } else {
      this.fail(op.line, `this history is in Jepsen's independent form ([key value] tuples), but this op's value ${printEdn(op.value)} is not a tuple`);
    }
    if (op.type === 'invoke') openKey.set(op.process, key);
    else openKey.delete(op.process);
    const event: HistoryEvent = { process: op.process, type: op.type, f: op.f, key, value: this.valueOf(op, value) };
    if (op.time !== undefined) event.time = op.time;
    return event;
  }

  /** The event's value: what the invoke carries, or for an ok read, what was read; null else. */
  private valueOf(op: RawOp, value: Edn): Json {
    if (op.type === 'invoke') return op.f === 'read' || op.f === 'delete' ? null : toJson(value);
    return op.type === 'ok' && op.f === 'read' ? toJson(value) : null;
  }

  /** One op map; null for an op to skip (the nemesis's). */
  private opOf(form: Edn, line: number): RawOp | null {
    const map = form instanceof EdnTagged ? form.value : form;
    if (!(map instanceof EdnMap)) this.fail(line, `an op must be a map, got ${printEdn(form)}`);
    const process = map.get('process');
    if (process instanceof EdnKeyword && process.name === 'nemesis') return null;
    const time = map.get('time');
    if (time !== undefined && time !== null && typeof time !== 'number') this.fail(line, `:time must be a number of nanoseconds, got ${printEdn(time)}`);
    return {
      line,
      process: this.process(process, line),
      type: this.keyword(map.get('type'), TYPES, ':type', line),
      f: this.keyword(map.get('f'), FUNCTIONS, ':f', line),
      value: map.get('value') ?? null,
      key: map.get('key') ?? undefined,
      time: typeof time === 'number' ? time : undefined,
    };
  }

  /** One log line: null when it is not an op line (a log holds other lines too). */
  private logLine(text: string, line: number): RawOp | null {
    const at = LOG_OP.exec(text);
    if (at === null) return null;
    const fields = text.slice(at.index + at[0].length).split('\t');
    if (fields.length < 4) this.fail(line, `a jepsen.util op line has process, type, f and value separated by tabs; got ${JSON.stringify(fields.join('\t'))}`);
    const [process, type, f, value] = fields as [string, string, string, string];
    if (process.trim() === ':nemesis') return null;
    const field = (text: string, column: number): Edn => {
      try {
        return parseEdnValue(text, line, column);
      } catch (e) {
        return this.rethrow(e);
      }
    };
    return {
      line,
      process: this.process(field(process, 1), line),
      type: this.keyword(field(type, 1), TYPES, 'type', line),
      f: this.keyword(field(f, 1), FUNCTIONS, 'f', line),
      value: field(value, 1),
      key: undefined,
      time: undefined,
    };
  }

  private process(value: Edn | undefined, line: number): number {
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
      this.fail(line, `:process must be an integer (or :nemesis, skipped), got ${value === undefined ? 'nothing' : printEdn(value)}`);
    }
    return value;
  }

  private keyword<T extends string>(value: Edn | undefined, allowed: readonly T[], what: string, line: number): T {
    if (value instanceof EdnKeyword && (allowed as readonly string[]).includes(value.name)) return value.name as T;
    const got = value === undefined ? 'nothing' : printEdn(value);
    return this.fail(line, `${what} must be one of ${allowed.map((a) => `:${a}`).join(', ')}; got ${got}`);
  }

  private rethrow(e: unknown): never {
    if (e instanceof EdnError) this.fail(e.line, `not valid EDN: ${e.message}`);
    throw e;
  }

  private fail(line: number, detail: string): never {
    throw new HistoryError(this.source, line, detail);
  }
}

/**
 * Where a log line's op starts: after the logger's name and its separator, whatever the layout
 * before it (`INFO  jepsen.util - `, or a logback timestamp, level and thread first). The op's
 * fields are tab-separated: process, type, f, value, and an optional error.
 */
const LOG_OP = /\bjepsen\.util(?: - |: |\t| )(?=\S+\t:)/;

function isPair(value: Edn): value is [Edn, Edn] {
  return Array.isArray(value) && value.length === 2;
}

/** A key as text: strings as they are, anything else as EDN prints it (3, :k). */
function keyText(value: Edn): string {
  return typeof value === 'string' ? value : printEdn(value);
}

/** EDN values as JSON: keywords as ":name", symbols by name, sets as sorted arrays, tags dropped. */
export function toJson(value: Edn): Json {
  if (value === null || typeof value === 'boolean' || typeof value === 'number' || typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(toJson);
  if (value instanceof EdnKeyword) return `:${value.name}`;
  if (value instanceof EdnSymbol) return value.name;
  if (value instanceof EdnTagged) return toJson(value.value);
  if (value instanceof EdnSet) {
    return value.items.map(toJson).map((v) => [canonicalJson(v), v] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, v]) => v);
  }
  assert(value instanceof EdnMap, 'every EDN value is handled');
  const out: Record<string, Json> = {};
  for (const [k, v] of value.entries) {
    const name = k instanceof EdnKeyword ? k.name : typeof k === 'string' ? k : canonicalJson(toJson(k));
    out[name] = toJson(v);
  }
  return out;
}

/** A short EDN rendering for error messages. */
export function printEdn(value: Edn): string {
  if (value === null) return 'nil';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value !== 'object') return String(value);
  if (value instanceof EdnKeyword) return `:${value.name}`;
  if (value instanceof EdnSymbol) return value.name;
  if (value instanceof EdnTagged) return `#${value.tag} ${printEdn(value.value)}`;
  if (value instanceof EdnSet) return `#{${value.items.map(printEdn).join(' ')}}`;
  if (value instanceof EdnMap) return `{${value.entries.map(([k, v]) => `${printEdn(k)} ${printEdn(v)}`).join(', ')}}`;
  return `[${value.map(printEdn).join(' ')}]`;
}
