import { BATCH_OPS_MAX, RANGE_LIMIT_MAX, TXN_ID_PATTERN } from '../node/protocol.js';

/**
 * The TCP line protocol, in the style of the KavaDB and haus-eng seeds (and of memcached's text
 * protocol before them): one command per line, one reply line per command, UTF-8, so that `nc`
 * and `telnet` are enough of a client.
 *
 * Tokens. A line is a list of tokens separated by spaces or tabs. A token is either
 *  - bare: one or more characters other than space, tab and the double quote; taken literally
 *    (a backslash in a bare token is just a backslash), or
 *  - quoted: a JSON string literal ("two words", "a \"quote\"", "tab\there", "\u00e9"), which
 *    must be followed by a space, a tab or the end of the line.
 * So a value with spaces is written in double quotes with JSON's escapes, and the empty string
 * is "". The formatter quotes exactly the tokens that need it: empty ones, and those holding
 * whitespace, a quote, a control character or a lone surrogate.
 *
 * Commands (verbs are case-insensitive; READ and DEL are aliases of GET and DELETE):
 *   PUT key value · GET key · READ key · DELETE key · CAS key old new · APPEND key value ·
 *   BATCHPUT k1 v1 k2 v2 … · RANGE start end [limit] · USE db · AUTH user password · PING · QUIT
 * In RANGE, an empty start ("") means from the first key and an empty end means to the last.
 * USE "" selects the default database.
 *
 * Transactions: BEGIN answers `TXN <id>` (ids look like `3.17`: term.counter, never a number, so
 * an id is never mistaken for a RANGE limit). GET, PUT, DELETE, APPEND and RANGE with the id as
 * their last token run inside it (RANGE start end [limit] [id]); COMMIT id answers OK or
 * `ERR aborted <reason> …`; ROLLBACK id answers OK. Without an id a command is a single-key one.
 *
 * Replies (one line each):
 *   OK · PONG · NIL (no such key) · VALUE <token> (a string value) ·
 *   JSON <token> (a value that is not a string, written through HTTP or the client; the token is
 *   its JSON text) · ENTRIES <n> k1 v1 … [NEXT key] (a range; a non-string value appears as its
 *   JSON text; NEXT when the answer was cut short by its byte bound: RANGE again from that key
 *   for the rest) ·
 *   ERR <code> <message> (the code is one word, as in the HTTP API's errors; the connection stays
 *   usable).
 *
 * This module is pure: text in, values out, and back.
 */

/** `txn`: the transaction the command runs in (absent: a single-key command). */
export type LineCommand =
  | { verb: 'PUT'; key: string; value: string; txn?: string }
  | { verb: 'GET'; key: string; txn?: string }
  | { verb: 'DELETE'; key: string; txn?: string }
  | { verb: 'CAS'; key: string; expected: string; value: string }
  | { verb: 'APPEND'; key: string; value: string; txn?: string }
  | { verb: 'BATCHPUT'; pairs: [string, string][] }
  | { verb: 'RANGE'; start: string; end: string; limit: number | null; txn?: string }
  /** retryOf: an aborted transaction this one retries (it keeps that one's age). */
  | { verb: 'BEGIN'; retryOf?: string }
  | { verb: 'COMMIT'; txn: string }
  | { verb: 'ROLLBACK'; txn: string }
  | { verb: 'USE'; db: string }
  | { verb: 'AUTH'; user: string; password: string }
  | { verb: 'PING' }
  | { verb: 'QUIT' };

export type LineVerb = LineCommand['verb'];

export type LineReply =
  | { kind: 'ok' }
  | { kind: 'pong' }
  | { kind: 'nil' }
  | { kind: 'value'; value: string }
  | { kind: 'json'; text: string }
  /** BEGIN's answer: the new transaction's id. */
  | { kind: 'txn'; id: string }
  /** next: where the rest of a range cut short by its byte bound begins. */
  | { kind: 'entries'; entries: [string, string][]; next?: string }
  | { kind: 'error'; code: string; message: string };

/** A line that is not a command; the server answers `ERR bad_request <message>`. */
export class LineSyntaxError extends Error {
  override name = 'LineSyntaxError';
}

/** Entries a RANGE returns when the command names no limit. */
export const RANGE_LIMIT_DEFAULT = 100;

/** The syntax of each command, for error messages and HELP-like documentation. */
export const LINE_USAGE: Record<LineVerb, string> = {
  PUT: 'PUT key value [txn]',
  GET: 'GET key [txn]',
  DELETE: 'DELETE key [txn]',
  CAS: 'CAS key old new',
  APPEND: 'APPEND key value [txn]',
  BATCHPUT: 'BATCHPUT k1 v1 [k2 v2 …]',
  RANGE: 'RANGE start end [limit] [txn]',
  BEGIN: 'BEGIN [retried-txn]',
  COMMIT: 'COMMIT txn',
  ROLLBACK: 'ROLLBACK txn',
  USE: 'USE db',
  AUTH: 'AUTH user password',
  PING: 'PING',
  QUIT: 'QUIT',
};

/** Every spelling the parser looks up before upper-casing: the verbs and their aliases. */
const VERBS = new Map<string, LineVerb>([...(Object.keys(LINE_USAGE) as LineVerb[]).map((v): [string, LineVerb] => [v, v]), ['READ', 'GET'], ['DEL', 'DELETE']]);

const ERROR_CODE = /^[a-z][a-z_]*$/;

const SPACE = 0x20;
const TAB = 0x09;
const QUOTE = 0x22;

/** Splits a line (without its terminator) into tokens. Throws LineSyntaxError. */
export function tokenize(line: string): string[] {
  // Char codes, not line[i] (a one-character string per position): this runs for every command.
  const tokens: string[] = [];
  let i = 0;
  const n = line.length;
  while (i < n) {
    const c = line.charCodeAt(i);
    if (c === SPACE || c === TAB) {
      i++;
      continue;
    }
    if (c === QUOTE) {
      const end = closingQuote(line, i);
      let token: unknown;
      try {
        token = JSON.parse(line.slice(i, end + 1));
      } catch (err) {
        throw new LineSyntaxError(`bad quoted token at column ${i + 1}: ${(err as Error).message}`);
      }
      if (end + 1 < n && line.charCodeAt(end + 1) !== SPACE && line.charCodeAt(end + 1) !== TAB) {
        throw new LineSyntaxError(`a quoted token must be followed by a space (column ${end + 2})`);
      }
      tokens.push(token as string);
      i = end + 1;
      continue;
    }
    const start = i;
    for (; i < n; i++) {
      const d = line.charCodeAt(i);
      if (d === SPACE || d === TAB) break;
      if (d === QUOTE) throw new LineSyntaxError(`a double quote inside a bare word (column ${i + 1}); quote the whole token: "like \\"this\\""`);
    }
    tokens.push(line.slice(start, i));
  }
  return tokens;
}

/** Index of the quote that closes the JSON string starting at `open`. */
function closingQuote(line: string, open: number): number {
  for (let i = open + 1; i < line.length; i++) {
    const c = line[i];
    if (c === '\\') i++;
    else if (c === '"') return i;
  }
  throw new LineSyntaxError(`unterminated quoted token starting at column ${open + 1}`);
}

/** Whether a token can be written bare and read back as itself. */
function canBeBare(token: string): boolean {
  if (token === '') return false;
  // Printable ASCII but the quote is always bare: one native scan (every reply's value goes
  // through here; irregexp beats a charCodeAt loop twice over). Anything else takes the general test.
  return !NOT_PLAIN_ASCII.test(token) || canBeBareUnicode(token);
}

const NOT_PLAIN_ASCII = /[^\x21\x23-\x7e]/;

function canBeBareUnicode(token: string): boolean {
  // Whitespace, quotes, controls (C0, DEL, C1) and lone surrogates all get quoted.
  if (/[\s"\u0000-\u001f\u007f-\u009f]/.test(token)) return false;
  return (token as unknown as { isWellFormed(): boolean }).isWellFormed();
}

/** One token as it is written on a line: bare when possible, else a JSON string literal. */
export function formatToken(token: string): string {
  return canBeBare(token) ? token : JSON.stringify(token);
}

export function formatTokens(tokens: readonly string[]): string {
  return tokens.map(formatToken).join(' ');
}

/** Parses one command line (without its terminator). Throws LineSyntaxError. */
export function parseCommand(line: string): LineCommand {
  const key = plainGetKey(line);
  return key !== null ? { verb: 'GET', key } : parseTokens(line);
}

/** The general parser, through the token list: parseCommand's shortcut must agree with it (tested). */
export function parseTokens(line: string): LineCommand {
  const tokens = tokenize(line);
  if (tokens.length === 0) throw new LineSyntaxError('empty line; try PING');
  const first = tokens[0] as string;
  const verb = VERBS.get(first) ?? VERBS.get(first.toUpperCase()) ?? null;
  if (verb === null) {
    throw new LineSyntaxError(`unknown command ${formatToken(first)}; commands: ${Object.keys(LINE_USAGE).join(' ')} (READ and DEL are aliases)`);
  }
  // Arguments are tokens[1..], not sliced out: this runs for every command.
  const count = tokens.length - 1;
  const at = (i: number): string => tokens[i + 1] as string;
  switch (verb) {
    case 'PUT':
      return withTxn({ verb, key: at(0), value: at(1) }, txnArity(verb, count, 2, at));
    case 'GET':
    case 'DELETE':
      return withTxn({ verb, key: at(0) }, txnArity(verb, count, 1, at));
    case 'CAS':
      arity(verb, count, 3);
      return { verb, key: at(0), expected: at(1), value: at(2) };
    case 'APPEND':
      return withTxn({ verb, key: at(0), value: at(1) }, txnArity(verb, count, 2, at));
    case 'BEGIN':
      if (count === 0) return { verb };
      if (count !== 1 || !TXN_ID_PATTERN.test(at(0))) throw new LineSyntaxError(`BEGIN takes nothing, or the id of an aborted transaction it retries: ${LINE_USAGE.BEGIN}`);
      return { verb, retryOf: at(0) };
    case 'COMMIT':
    case 'ROLLBACK':
      arity(verb, count, 1);
      if (!TXN_ID_PATTERN.test(at(0))) throw new LineSyntaxError(`${verb} takes a transaction id as BEGIN answers it (like 3.17), got ${formatToken(at(0))}`);
      return { verb, txn: at(0) };
    case 'BATCHPUT': {
      if (count === 0 || count % 2 !== 0) throw new LineSyntaxError(`BATCHPUT takes key value pairs: ${LINE_USAGE.BATCHPUT}`);
      if (count / 2 > BATCH_OPS_MAX) throw new LineSyntaxError(`BATCHPUT takes at most ${BATCH_OPS_MAX} pairs`);
      const pairs: [string, string][] = [];
      for (let i = 0; i < count; i += 2) pairs.push([at(i), at(i + 1)]);
      return { verb, pairs };
    }
    case 'RANGE': {
      if (count < 2 || count > 4) throw new LineSyntaxError(`RANGE takes 2 to 4 arguments: ${LINE_USAGE.RANGE}`);
      const txn = TXN_ID_PATTERN.test(at(count - 1)) && count > 2 ? at(count - 1) : null;
      const rest = txn === null ? count : count - 1;
      if (rest > 3) throw new LineSyntaxError(`RANGE's last argument must be a transaction id (like 3.17), got ${formatToken(at(count - 1))}`);
      let limit: number | null = null;
      if (rest === 3) {
        if (!/^\d{1,9}$/.test(at(2)) || Number(at(2)) < 1 || Number(at(2)) > RANGE_LIMIT_MAX) {
          throw new LineSyntaxError(`RANGE limit must be an integer in 1..${RANGE_LIMIT_MAX}, got ${formatToken(at(2))}`);
        }
        limit = Number(at(2));
      }
      return withTxn({ verb, start: at(0), end: at(1), limit }, txn);
    }
    case 'USE':
      arity(verb, count, 1);
      return { verb, db: at(0) };
    case 'AUTH':
      arity(verb, count, 2);
      return { verb, user: at(0), password: at(1) };
    case 'PING':
    case 'QUIT':
      arity(verb, count, 0);
      return { verb };
  }
}

/**
 * The key of `GET key` written the plain way (upper case, one space, one bare token), or null for
 * any other line, which the tokenizer then takes. Nearly every read arrives so, and skipping the
 * token list, the verb lookup and the arity check took a twentieth of a pipelined GET's CPU.
 */
function plainGetKey(line: string): string | null {
  const n = line.length;
  if (n < 5 || line.charCodeAt(0) !== 0x47 || line.charCodeAt(1) !== 0x45 || line.charCodeAt(2) !== 0x54 || line.charCodeAt(3) !== SPACE) return null;
  for (let i = 4; i < n; i++) {
    const c = line.charCodeAt(i);
    if (c === SPACE || c === TAB || c === QUOTE) return null;
  }
  return line.slice(4);
}

/** The transaction id of a command taking `wanted` arguments and maybe an id after them; null: none. */
function txnArity(verb: LineVerb, count: number, wanted: number, at: (i: number) => string): string | null {
  if (count === wanted) return null;
  if (count !== wanted + 1) throw new LineSyntaxError(`${verb} takes ${wanted} argument${wanted === 1 ? '' : 's'} and maybe a transaction id: ${LINE_USAGE[verb]}`);
  const id = at(wanted);
  if (!TXN_ID_PATTERN.test(id)) throw new LineSyntaxError(`${verb}'s last argument must be a transaction id as BEGIN answers it (like 3.17), got ${formatToken(id)}; quote values with spaces`);
  return id;
}

function withTxn<C extends LineCommand>(c: C, txn: string | null): C {
  return txn === null ? c : { ...c, txn };
}

function arity(verb: LineVerb, count: number, wanted: number): void {
  if (count !== wanted) throw new LineSyntaxError(`${verb} takes ${wanted} argument${wanted === 1 ? '' : 's'}: ${LINE_USAGE[verb]}`);
}

/** The canonical line for a command (what a client sends). parseCommand(formatCommand(c)) = c. */
export function formatCommand(c: LineCommand): string {
  const txn = 'txn' in c && c.txn !== undefined && c.verb !== 'COMMIT' && c.verb !== 'ROLLBACK' ? ` ${c.txn}` : '';
  switch (c.verb) {
    case 'PUT':
    case 'APPEND':
      return `${c.verb} ${formatTokens([c.key, c.value])}${txn}`;
    case 'GET':
    case 'DELETE':
      return `${c.verb} ${formatToken(c.key)}${txn}`;
    case 'BEGIN':
      return c.retryOf === undefined ? 'BEGIN' : `BEGIN ${c.retryOf}`;
    case 'COMMIT':
    case 'ROLLBACK':
      return `${c.verb} ${c.txn}`;
    case 'CAS':
      return `CAS ${formatTokens([c.key, c.expected, c.value])}`;
    case 'BATCHPUT':
      return `BATCHPUT ${formatTokens(c.pairs.flat())}`;
    case 'RANGE':
      return `RANGE ${formatTokens([c.start, c.end])}${c.limit === null ? '' : ` ${c.limit}`}${txn}`;
    case 'USE':
      return `USE ${formatToken(c.db)}`;
    case 'AUTH':
      return `AUTH ${formatTokens([c.user, c.password])}`;
    case 'PING':
    case 'QUIT':
      return c.verb;
  }
}

/** The reply line (without its terminator). Never contains CR or LF. */
export function formatReply(r: LineReply): string {
  switch (r.kind) {
    case 'ok':
      return 'OK';
    case 'pong':
      return 'PONG';
    case 'nil':
      return 'NIL';
    case 'value':
      return `VALUE ${formatToken(r.value)}`;
    case 'json':
      return `JSON ${formatToken(r.text)}`;
    case 'txn':
      return `TXN ${r.id}`;
    case 'entries': {
      const head = r.entries.length === 0 ? 'ENTRIES 0' : `ENTRIES ${r.entries.length} ${formatTokens(r.entries.flat())}`;
      return r.next === undefined ? head : `${head} NEXT ${formatToken(r.next)}`;
    }
    case 'error': {
      const code = ERROR_CODE.test(r.code) ? r.code : 'internal';
      const message = r.message.replace(/[\r\n]+/g, ' ');
      return message === '' ? `ERR ${code}` : `ERR ${code} ${message}`;
    }
  }
}

/** Parses a reply line (for clients, the benchmark and tests). Throws LineSyntaxError. */
export function parseReply(line: string): LineReply {
  if (line.startsWith('ERR')) {
    const m = /^ERR ([a-z][a-z_]*)(?: (.*))?$/s.exec(line);
    if (m === null) throw new LineSyntaxError(`malformed error reply: ${line}`);
    return { kind: 'error', code: m[1] as string, message: m[2] ?? '' };
  }
  const tokens = tokenize(line);
  const head = tokens[0];
  const one = (): string => {
    if (tokens.length !== 2) throw new LineSyntaxError(`${head} reply needs one token: ${line}`);
    return tokens[1] as string;
  };
  switch (head) {
    case 'OK':
    case 'PONG':
    case 'NIL':
      if (tokens.length !== 1) throw new LineSyntaxError(`unexpected tokens after ${head}: ${line}`);
      return { kind: head === 'OK' ? 'ok' : head === 'PONG' ? 'pong' : 'nil' };
    case 'VALUE':
      return { kind: 'value', value: one() };
    case 'JSON':
      return { kind: 'json', text: one() };
    case 'TXN': {
      const id = one();
      if (!TXN_ID_PATTERN.test(id)) throw new LineSyntaxError(`malformed TXN reply: ${line.slice(0, 200)}`);
      return { kind: 'txn', id };
    }
    case 'ENTRIES': {
      const count = Number(tokens[1]);
      const end = 2 + 2 * count;
      const continued = tokens.length === end + 2 && tokens[end] === 'NEXT';
      if (!/^\d+$/.test(tokens[1] ?? '') || (tokens.length !== end && !continued)) throw new LineSyntaxError(`malformed ENTRIES reply: ${line.slice(0, 200)}`);
      const entries: [string, string][] = [];
      for (let i = 2; i < end; i += 2) entries.push([tokens[i] as string, tokens[i + 1] as string]);
      return continued ? { kind: 'entries', entries, next: tokens[end + 1] as string } : { kind: 'entries', entries };
    }
    default:
      throw new LineSyntaxError(`unknown reply: ${line.slice(0, 200)}`);
  }
}
