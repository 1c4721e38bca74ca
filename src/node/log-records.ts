import { parseJson } from '../util/json-parse.js';
import { loggedRequestJson, requestFromLog, type Request } from './protocol.js';

/**
 * Requests as the Raft log's entries carry them. An entry holds one request or a batch of them
 * (raft-replica.ts packs the writes that arrive together), as text:
 *
 *   "R" then records, each one of
 *     W <n>:<db> <n>:<key> <n>:<value as JSON>   a write sent once (what the gateway's PUT is)
 *     J <n>:<loggedRequestJson>                   any other request
 *
 * without the spaces; <n> is the length of what follows the colon, in UTF-16 code units of the
 * decoded text (every part is well-formed Unicode: keys are checked, JSON.stringify escapes lone
 * surrogates, so the UTF-8 round trip is exact).
 *
 * Why not JSON for all: a write's value is JSON already, and the state machine stores it as JSON
 * text. As a request object it was serialized at the proposal, parsed again on every member,
 * and serialized once more to be stored; parsing whole batches of request objects was the
 * largest single cost of applying on a follower. A W record is sliced, not parsed.
 *
 * Entries written before this format hold a request's JSON (starting with "{") or a JSON array
 * of them ("["); they decode as J records.
 */

/** An entry's text that is not records: thrown by decodeLogEntry, and nothing else is. */
export class LogRecordError extends Error {
  override name = 'LogRecordError';
}

/** A request's JSON as a record holds it (parsed with a depth bound; its shape checked). */
function parseRequest(text: string, where: string): Request {
  let v: unknown;
  try {
    v = parseJson(text, where);
  } catch (err) {
    throw new LogRecordError((err as Error).message);
  }
  const r = v as { op?: unknown; db?: unknown } | null;
  if (typeof r !== 'object' || r === null || Array.isArray(r) || typeof r.op !== 'object' || r.op === null || typeof r.db !== 'string') throw new LogRecordError(`${where}: not a request`);
  return requestFromLog(r);
}

export type LogRecord = { kind: 'write-once'; db: string; key: string; valueJson: string } | { kind: 'request'; req: Request };

const MARK = 'R';

/** One request's record. */
export function encodeLogRecord(req: Request): string {
  if (req.once === true && req.op.f === 'write') {
    const value = JSON.stringify(req.op.value);
    return `W${req.db.length}:${req.db}${req.op.key.length}:${req.op.key}${value.length}:${value}`;
  }
  const json = loggedRequestJson(req);
  return `J${json.length}:${json}`;
}

/** The text of an entry holding these records, in order. */
export function logEntryText(records: readonly string[]): string {
  return MARK + records.join('');
}

/** The records of an entry's text, in order. Throws saying what is wrong. */
export function decodeLogEntry(text: string): LogRecord[] {
  const first = text[0];
  if (first === '{') return [{ kind: 'request', req: parseRequest(text, 'log entry') }];
  if (first === '[') {
    let list: unknown;
    try {
      list = parseJson(text, 'log entry');
    } catch (err) {
      throw new LogRecordError((err as Error).message);
    }
    if (!Array.isArray(list) || list.length === 0) throw new LogRecordError('log entry: an empty or malformed list of requests');
    return list.map((r, i) => ({ kind: 'request', req: parseRequest(JSON.stringify(r), `log entry request ${i}`) }));
  }
  if (first !== MARK) throw new LogRecordError(`log entry starts with ${JSON.stringify(first ?? '')}, not a record`);
  const records: LogRecord[] = [];
  let at = 1;
  const field = (): string => {
    let n = 0;
    let i = at;
    for (; i < text.length && i - at <= 9; i++) {
      const c = text.charCodeAt(i);
      if (c === 0x3a) break; // ':'
      if (c < 0x30 || c > 0x39) break;
      n = n * 10 + (c - 0x30);
    }
    if (i === at || text.charCodeAt(i) !== 0x3a || i + 1 + n > text.length) throw new LogRecordError(`log entry: bad field length at offset ${at}`);
    at = i + 1 + n;
    return text.slice(i + 1, at);
  };
  while (at < text.length) {
    const kind = text[at++];
    if (kind === 'W') records.push({ kind: 'write-once', db: field(), key: field(), valueJson: field() });
    else if (kind === 'J') records.push({ kind: 'request', req: parseRequest(field(), `log entry record at ${at}`) });
    else throw new LogRecordError(`log entry: unknown record kind ${JSON.stringify(kind)} at offset ${at - 1}`);
  }
  if (records.length === 0) throw new LogRecordError('log entry holds no record');
  return records;
}
