import { JSON_DEPTH_MAX, jsonNestingExceeds } from './json.js';

/**
 * JSON.parse with a bound on nesting, for text that came from outside the process (a client's
 * frame, a peer's message, a record read back from disk).
 *
 * Why: JSON.parse itself is iterative in V8 and survives a value nested a million deep, but the
 * value it builds does not survive the recursive code that meets it next — JSON.stringify, a
 * validator, an equality test — which overflows the stack: a 200 KB `[[[…]]]` sent to a node's
 * peer port killed it with a RangeError (issue 16, item 1). The depth is measured first, by one
 * loop over the text that keeps a counter and no stack (jsonNestingExceeds), so nothing deep is
 * ever built.
 */

/**
 * Levels a message puts around a value: {kind, op: {ops: [{value: …}]}} and a little room. A
 * frame may nest JSON_DEPTH_MAX plus this; the value inside it JSON_DEPTH_MAX (protocol.ts), the
 * same as an HTTP body.
 */
export const FRAME_ENVELOPE_DEPTH = 8;
export const FRAME_JSON_DEPTH_MAX = JSON_DEPTH_MAX + FRAME_ENVELOPE_DEPTH;

/** Bad JSON from outside: not JSON at all, or nested deeper than allowed. */
export class JsonParseError extends Error {
  override name = 'JsonParseError';
  constructor(
    message: string,
    /** 'depth' when the text nests too deep, 'syntax' when it is not JSON. */
    readonly reason: 'depth' | 'syntax',
  ) {
    super(message);
  }
}

/**
 * Parses JSON text nested at most depthMax deep. Throws JsonParseError (never anything else)
 * saying what is wrong; `where` names the input in the message ("frame from c7").
 */
export function parseJson(text: string, where: string, depthMax = FRAME_JSON_DEPTH_MAX): unknown {
  // Text this short cannot nest past the bound (each level needs a bracket): most frames are.
  if (text.length > depthMax && jsonNestingExceeds(text, depthMax)) {
    throw new JsonParseError(`${where}: JSON nested deeper than ${depthMax} levels`, 'depth');
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new JsonParseError(`${where}: not JSON: ${(err as Error).message}`, 'syntax');
  }
}
