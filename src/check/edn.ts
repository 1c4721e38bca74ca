/**
 * A reader for EDN (https://github.com/edn-format/edn), the notation Jepsen, Knossos and Elle
 * write histories in: enough of it for any history.edn — nil, booleans, numbers, strings,
 * characters, keywords, symbols, vectors, lists, maps, sets, tagged values (`#jepsen.history.Op{…}`
 * records, `#inst "…"`), comments and `#_` discards.
 *
 * Why not the npm EDN parser (edn-data)? Tried on history lines, it returns nil for a truncated
 * map and silently drops a second form on a line, and a reader of user files must say what is
 * wrong and where; it also took ~18 µs per history line, 15× JSON.parse. This one reports the line
 * and column of the first thing wrong, bounds nesting, and runs at a few µs per line.
 *
 * Input arrives line by line (`push`), so a history of any length streams; a form may span lines.
 * A file holding one top-level vector or list of ops (Knossos's test data) yields its elements
 * one by one, each with the line it starts on.
 */
export type Edn = null | boolean | number | string | EdnKeyword | EdnSymbol | EdnTagged | EdnMap | EdnSet | Edn[];

export class EdnKeyword {
  constructor(readonly name: string) {}
}
export class EdnSymbol {
  constructor(readonly name: string) {}
}
export class EdnTagged {
  constructor(readonly tag: string, readonly value: Edn) {}
}
/** A map as its entries, in the order written (keys may be any value). */
export class EdnMap {
  constructor(readonly entries: readonly (readonly [Edn, Edn])[]) {}

  /** The value under keyword `:name`, or undefined. */
  get(name: string): Edn | undefined {
    for (const [k, v] of this.entries) if (k instanceof EdnKeyword && k.name === name) return v;
    return undefined;
  }
}
export class EdnSet {
  constructor(readonly items: readonly Edn[]) {}
}

/** What `push` hands back: a complete form and the line it starts on. */
export interface EdnForm {
  readonly value: Edn;
  readonly line: number;
}

/** Bad EDN: where (1-based line and column) and what. */
export class EdnError extends Error {
  constructor(readonly line: number, readonly column: number, readonly detail: string) {
    super(`${detail} (column ${column})`);
    this.name = 'EdnError';
  }
}

/** Nesting deeper than this is refused, as for JSON values (json.ts JSON_DEPTH_MAX). */
export const EDN_DEPTH_MAX = 64;
/** A form longer than this is refused: a runaway bracket should not swallow a whole file. */
export const EDN_FORM_CHARS_MAX = 1 << 20;

const DELIMITERS = new Set([' ', '\t', '\r', '\n', ',', '(', ')', '[', ']', '{', '}', '"', ';']);
const CLOSING: Readonly<Record<string, string>> = { '(': ')', '[': ']', '{': '}' };
const NAMED_CHARS: Readonly<Record<string, string>> = { newline: '\n', space: ' ', tab: '\t', return: '\r', backspace: '\b', formfeed: '\f' };

export class EdnReader {
  /** Text of the forms not yet read (a form may span lines), the line and column it starts at. */
  private buffer = '';
  private bufferLine = 0;
  private bufferColumn = 1;
  /** Scanner state across lines: only to know when a form may be complete. */
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** null until the first significant character says whether one outer vector or list wraps the ops. */
  private wrapped: boolean | null = null;
  private wrapperClosed = false;
  private lastLine = 0;

  /** Feeds one line (without its newline); returns the forms it completed. */
  push(text: string, line: number): EdnForm[] {
    this.lastLine = line;
    const out: EdnForm[] = [];
    let top = this.wrapped === true ? 1 : 0;
    let from = 0;
    let to = text.length;
    for (let i = 0; i < text.length; i++) {
      const c = text[i] as string;
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === '\\') this.escaped = true;
        else if (c === '"') this.inString = false;
        continue;
      }
      if (c === ';') {
        to = i; // a comment runs to the end of the line
        break;
      }
      if (c === ' ' || c === '\t' || c === '\r' || c === ',') continue;
      if (this.wrapperClosed) throw new EdnError(line, i + 1, 'text after the closing bracket of the history');
      if (this.wrapped === null) {
        this.wrapped = c === '[' || c === '(';
        if (this.wrapped) {
          this.depth = 1;
          top = 1;
          from = i + 1;
          continue;
        }
      }
      if (c === '"') this.inString = true;
      else if (c === '\\') i++; // a character literal: \( is no bracket
      else if (c === '(' || c === '[' || c === '{') {
        if (++this.depth > EDN_DEPTH_MAX + top) throw new EdnError(line, i + 1, `nested deeper than ${EDN_DEPTH_MAX}`);
      } else if (c === ')' || c === ']' || c === '}') {
        if (this.wrapped === true && this.depth === 1) {
          this.append(text.slice(from, i), line, from);
          this.flush(out, false);
          this.wrapperClosed = true;
          this.depth = 0;
          from = i + 1;
          continue;
        }
        if (this.depth <= top) throw new EdnError(line, i + 1, `unexpected ${c}`);
        this.depth--;
      }
    }
    this.append(text.slice(from, to), line, from);
    if (!this.inString && this.depth === top) this.flush(out, true);
    return out;
  }

  /** Call at the end of the input: an unfinished form or wrapper is an error. */
  finish(): void {
    if (this.inString || this.depth > (this.wrapped === true && !this.wrapperClosed ? 1 : 0) || this.buffer.trim() !== '') {
      throw new EdnError(this.bufferLine, this.bufferColumn, 'the file ends inside this form (a missing closing bracket or quote?)');
    }
    if (this.wrapped === true && !this.wrapperClosed) throw new EdnError(this.lastLine, 1, 'the file ends before the history\'s closing bracket');
  }

  private append(text: string, line: number, column: number): void {
    if (this.buffer === '') {
      if (text.trim() === '') return;
      this.bufferLine = line;
      this.bufferColumn = column + 1;
    }
    this.buffer += `${text}\n`;
  }

  /** Reads every complete form in the buffer; an incomplete last one stays (unless it may not). */
  private flush(out: EdnForm[], mayStayIncomplete: boolean): void {
    const parser = new FormParser(this.buffer, this.bufferLine, this.bufferColumn);
    for (;;) {
      const start = parser.position();
      if (start.index >= this.buffer.length) break;
      let value: Edn | typeof DISCARDED;
      try {
        value = parser.readForm(0);
      } catch (e) {
        if (!(e instanceof IncompleteForm) || !mayStayIncomplete) {
          throw e instanceof IncompleteForm ? new EdnError(start.line, start.column, e.message) : e;
        }
        this.buffer = this.buffer.slice(start.index);
        this.bufferLine = start.line;
        this.bufferColumn = start.column;
        return;
      }
      if (value !== DISCARDED) out.push({ value, line: start.line });
    }
    this.buffer = '';
  }
}

/** The text ran out inside a form: more lines may complete it. */
class IncompleteForm extends Error {}

const DISCARDED: unique symbol = Symbol('discarded');

/** Recursive descent over one form's text (at most EDN_FORM_CHARS_MAX, nesting bounded by the scanner). */
class FormParser {
  private i = 0;
  private line: number;
  private lineStart: number;

  constructor(private readonly text: string, line: number, column: number) {
    this.line = line;
    this.lineStart = -(column - 1);
  }

  /** Where the next form starts (blanks skipped): index into the text, line and column. */
  position(): { index: number; line: number; column: number } {
    this.skipBlank();
    return { index: this.i, line: this.line, column: this.i - this.lineStart + 1 };
  }

  readForm(depth: number): Edn | typeof DISCARDED {
    if (depth > EDN_DEPTH_MAX) this.fail(`nested deeper than ${EDN_DEPTH_MAX}`);
    this.skipBlank();
    if (this.i >= this.text.length) throw new IncompleteForm('a value is missing at the end');
    const c = this.text[this.i] as string;
    switch (c) {
      case '"':
        return this.readString();
      case '(':
      case '[':
        return this.readSeq(CLOSING[c] as string, depth);
      case '{':
        return this.readMap(depth);
      case ')':
      case ']':
      case '}':
        return this.fail(`unexpected ${c}`);
      case '\\':
        return this.readChar();
      case '#':
        return this.readDispatch(depth);
      default:
        return this.readAtom();
    }
  }

  private readSeq(close: string, depth: number): Edn[] {
    this.i++;
    const items: Edn[] = [];
    for (;;) {
      this.skipBlank();
      if (this.i >= this.text.length) throw new IncompleteForm(`missing ${close}`);
      if (this.text[this.i] === close) {
        this.i++;
        return items;
      }
      const item = this.readForm(depth + 1);
      if (item !== DISCARDED) items.push(item);
    }
  }

  private readMap(depth: number): EdnMap {
    const items = this.readSeq('}', depth);
    if (items.length % 2 !== 0) this.fail('a map needs a value for every key');
    const entries: [Edn, Edn][] = [];
    for (let k = 0; k < items.length; k += 2) entries.push([items[k] as Edn, items[k + 1] as Edn]);
    return new EdnMap(entries);
  }

  private readDispatch(depth: number): Edn | typeof DISCARDED {
    const next = this.text[this.i + 1];
    if (next === '{') {
      this.i++;
      return new EdnSet(this.readSeq('}', depth));
    }
    if (next === '_') {
      this.i += 2;
      this.readForm(depth);
      return DISCARDED;
    }
    this.i++;
    const tag = this.readToken();
    if (tag === '' || !/^[A-Za-z]/.test(tag)) this.fail(`a tag must be a symbol, got "#${tag}"`);
    const value = this.readForm(depth);
    if (value === DISCARDED) this.fail(`#${tag} has no value`);
    return new EdnTagged(tag, value);
  }

  private readString(): string {
    let out = '';
    this.i++;
    for (;;) {
      if (this.i >= this.text.length) throw new IncompleteForm('the string is not closed');
      const c = this.text[this.i++] as string;
      if (c === '"') return out;
      if (c === '\n') this.newLine();
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = this.text[this.i++];
      if (e === 'n') out += '\n';
      else if (e === 't') out += '\t';
      else if (e === 'r') out += '\r';
      else if (e === 'b') out += '\b';
      else if (e === 'f') out += '\f';
      else if (e === '"' || e === '\\') out += e;
      else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(this.text.slice(this.i, this.i + 4))) {
        out += String.fromCharCode(parseInt(this.text.slice(this.i, this.i + 4), 16));
        this.i += 4;
      } else this.fail(`unknown escape \\${e ?? ''} in a string`);
    }
  }

  private readChar(): string {
    this.i++;
    const start = this.i;
    this.i++; // the character itself may be a delimiter: \( \space
    while (this.i < this.text.length && !DELIMITERS.has(this.text[this.i] as string)) this.i++;
    const token = this.text.slice(start, this.i);
    if (token.length === 1) return token;
    const named = NAMED_CHARS[token];
    if (named !== undefined) return named;
    if (/^u[0-9a-fA-F]{4}$/.test(token)) return String.fromCharCode(parseInt(token.slice(1), 16));
    return this.fail(`unknown character \\${token}`);
  }

  private readAtom(): Edn {
    const token = this.readToken();
    if (token === 'nil') return null;
    if (token === 'true') return true;
    if (token === 'false') return false;
    if (token.startsWith(':')) {
      if (token.length === 1) this.fail('a keyword needs a name');
      return new EdnKeyword(token.slice(1));
    }
    if (/^[+-]?\d/.test(token)) return this.number(token);
    return new EdnSymbol(token);
  }

  private number(token: string): number {
    const m = /^([+-]?\d+)(?:(\.\d*)?([eE][+-]?\d+)?)?([NM]?)$/.exec(token);
    if (m === null) this.fail(`"${token}" is not a number`);
    const value = Number(token.replace(/[NM]$/, ''));
    const integral = m[2] === undefined && m[3] === undefined;
    if (!Number.isFinite(value) || (integral && !Number.isSafeInteger(value))) {
      this.fail(`the number ${token} does not fit a double exactly`);
    }
    return value;
  }

  private readToken(): string {
    const start = this.i;
    while (this.i < this.text.length && !DELIMITERS.has(this.text[this.i] as string)) this.i++;
    return this.text.slice(start, this.i);
  }

  private skipBlank(): void {
    while (this.i < this.text.length) {
      const c = this.text[this.i] as string;
      if (c === '\n') {
        this.i++;
        this.newLine();
      } else if (c === ' ' || c === '\t' || c === '\r' || c === ',') {
        this.i++;
      } else {
        return;
      }
    }
  }

  private newLine(): void {
    this.line++;
    this.lineStart = this.i;
  }

  private fail(detail: string): never {
    throw new EdnError(this.line, this.i - this.lineStart + 1, detail);
  }
}

/** One EDN value written alone (a field of a Jepsen log line); `line` is for errors. */
export function parseEdnValue(text: string, line: number, column = 1): Edn {
  const parser = new FormParser(`${text}\n`, line, column);
  let value: Edn | typeof DISCARDED;
  try {
    value = parser.readForm(0);
  } catch (e) {
    throw e instanceof IncompleteForm ? new EdnError(line, column, e.message) : e;
  }
  if (value === DISCARDED) throw new EdnError(line, column, 'no value (only a #_ discard)');
  const rest = parser.position();
  if (rest.index < text.length) throw new EdnError(rest.line, rest.column, 'more than one value');
  return value;
}
