import { assert } from './assert.js';

/**
 * JSON.parse with a bound on nesting, for text that came from outside the process (a client's
 * frame, a peer's message, a record read back from disk).
 *
 * Why: JSON.parse itself is iterative in V8 and survives a value nested a million deep, but the
 * value it builds does not survive the recursive code that meets it next — JSON.stringify, a
 * validator, an equality test — which overflows the stack: a 200 KB `[[[…]]]` sent to a node's
 * peer port killed it with a RangeError (issue 16, item 1). The depth is measured first, by one
 * loop over the text that keeps a counter and no stack, so nothing deep is ever built.
 *
 * The bound is generous for data (a document nested 64 levels is unusual; 128 leaves room for
 * the request envelope around a value) and tiny for the stack: recursive code over a value this
 * deep uses a few hundred frames at most.
 */
export const JSON_DEPTH_MAX = 128;

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
 * The deepest nesting of arrays and objects in the text, counting brackets outside strings, or
 * -1 as soon as it passes max (the scan stops there). For text that is not JSON the figure means
 * little, but JSON.parse refuses such text anyway.
 */
export function jsonNestingDepth(text: string, max: number): number {
  assert(Number.isSafeInteger(max) && max >= 0, 'jsonNestingDepth: max must be a non-negative integer');
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash escapes the next code unit ("\"" stays in the string)
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return -1;
      if (depth > deepest) deepest = depth;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}

/**
 * Parses JSON text nested at most depthMax deep. Throws JsonParseError (never anything else)
 * saying what is wrong; `where` names the input in the message ("frame from c7").
 */
export function parseJson(text: string, where: string, depthMax = JSON_DEPTH_MAX): unknown {
  // Text this short cannot nest past the bound (each level needs a bracket): most frames are.
  if (text.length > depthMax && jsonNestingDepth(text, depthMax) < 0) {
    throw new JsonParseError(`${where}: JSON nested deeper than ${depthMax} levels`, 'depth');
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new JsonParseError(`${where}: not JSON: ${(err as Error).message}`, 'syntax');
  }
}
