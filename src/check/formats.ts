import { assert } from '../util/assert.js';
import { JepsenReader } from './jepsen.js';
import type { History } from './operation.js';
import { HISTORY_OPS_MAX, HistoryBuilder, HistoryError } from './parse.js';

/**
 * The history formats `kv-lab check` reads: its own JSON Lines (HISTORY.md), and Jepsen's EDN
 * history and text log (jepsen.ts). A file's format is told from its first lines unless the
 * caller names it.
 */
export type HistoryFormat = 'jsonl' | 'edn' | 'jepsen-log';
export const HISTORY_FORMATS: readonly HistoryFormat[] = ['jsonl', 'edn', 'jepsen-log'];

/** Non-blank lines looked at to tell the format. */
export const DETECT_LINES = 20;

const JSON_OBJECT = /^\s*\{\s*"/;
const EDN_START = /^\s*[{[(#;]/;
const LOG_OP_LINE = /\bjepsen\.util(?: - |: |\t| )\S+\t:\w/;

/** The format of a history from its first lines, or null when they fit none. */
export function detectFormat(firstLines: readonly string[]): HistoryFormat | null {
  const lines = firstLines.filter((l) => l.trim() !== '').slice(0, DETECT_LINES);
  if (lines.length === 0) return null;
  if (lines.some((l) => LOG_OP_LINE.test(l))) return 'jepsen-log';
  const first = lines[0] as string;
  if (JSON_OBJECT.test(first)) return 'jsonl';
  return EDN_START.test(first) ? 'edn' : null;
}

const UNKNOWN_FORMAT = 'cannot tell the history\'s format from its first lines: expected JSON Lines ({"process": 1, "type": "invoke", …}), ' +
  'Jepsen EDN ({:type :invoke, :f :read, …}) or a Jepsen log (… jepsen.util - 3<TAB>:invoke<TAB>:read<TAB>nil); name it with --format';

/** Reads a history in any of the formats, streaming its lines (numbered from 1 as they come). */
export async function readHistory(lines: AsyncIterable<string> | Iterable<string>, source: string,
  format: HistoryFormat | 'auto' = 'auto'): Promise<History> {
  const head: string[] = [];
  let reader: LineReader | null = format === 'auto' ? null : lineReader(format, source);
  let line = 0;
  for await (const text of lines) {
    line++;
    if (reader !== null) {
      reader.add(text, line);
      continue;
    }
    head.push(text);
    if (head.filter((l) => l.trim() !== '').length < DETECT_LINES) continue;
    reader = startDetected(head, source);
  }
  reader ??= startDetected(head, source);
  return reader.finish();
}

/** The same over a whole text (a worker thread is handed the file's text). */
export function readHistoryText(text: string, source: string, format: HistoryFormat | 'auto' = 'auto'): History {
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const chosen = format === 'auto' ? detectFormat(lines.slice(0, 4 * DETECT_LINES)) : format;
  if (chosen === null) throw new HistoryError(source, 1, UNKNOWN_FORMAT);
  const reader = lineReader(chosen, source);
  lines.forEach((l, i) => reader.add(l.endsWith('\r') ? l.slice(0, -1) : l, i + 1));
  return reader.finish();
}

interface LineReader {
  add(text: string, line: number): void;
  finish(): History;
}

function startDetected(head: readonly string[], source: string): LineReader {
  const format = detectFormat(head);
  if (format === null) {
    if (head.every((l) => l.trim() === '')) return lineReader('jsonl', source); // empty: an empty history
    throw new HistoryError(source, 1 + head.findIndex((l) => l.trim() !== ''), UNKNOWN_FORMAT);
  }
  const reader = lineReader(format, source);
  head.forEach((text, i) => reader.add(text, i + 1));
  return reader;
}

function lineReader(format: HistoryFormat, source: string): LineReader {
  const builder = new HistoryBuilder(source);
  if (format === 'jsonl') return { add: (text, line) => builder.addLine(text, line), finish: () => builder.finish() };
  const jepsen = new JepsenReader(source, format, HISTORY_OPS_MAX);
  return {
    add: (text, line) => jepsen.addLine(text, line),
    finish: () => {
      for (const { event, line } of jepsen.finish()) builder.addEvent(event, line);
      const history = builder.finish();
      assert(history.source === source, 'the history keeps its source');
      return history;
    },
  };
}
