/**
 * Any JSON value: what a key holds, what a request carries, what a history records. It lives in
 * util because everything speaks it (node, client, front door, checker), and the checker may
 * depend on nothing but util and the history format.
 */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * Nesting deeper than this is refused wherever JSON comes from outside (request bodies, frames,
 * histories): a value is data, and a 100,000-deep `[[[…]]]` only serves to overflow the stack of
 * whatever walks it recursively next (JSON.stringify, a validator, a checker).
 */
export const JSON_DEPTH_MAX = 64;

/**
 * Whether JSON text nests arrays and objects deeper than max, found without recursion and before
 * anything parses it. Brackets inside strings do not count; the text need not be valid JSON (the
 * parser says what else is wrong with it).
 */
export function jsonNestingExceeds(text: string, max = JSON_DEPTH_MAX): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}
