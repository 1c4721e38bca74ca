/**
 * Keys and values of the Engine contract are JavaScript strings, ordered as their UTF-8 encodings
 * compare byte by byte (memcmp order, LevelDB's BytewiseComparator). Why strings, not Uint8Array:
 *
 * - the node's keys are UTF-8 strings and its values JSON text; a byte API would make every request
 *   encode on the way in and decode on the way out, on the read path the node calls synchronously;
 * - strings are immutable: an engine can keep the caller's key in its memtable without the
 *   defensive copy a Uint8Array would need (the caller could change it afterwards);
 * - strings hash and compare natively, so in-memory structures (the memtable, Bitcask's keydir,
 *   the memory engine) need no key objects of their own.
 *
 * The order is still the field's byte order: on disk every key is UTF-8 and compared with memcmp,
 * and compareKeys orders strings by code point, which is exactly the order of their UTF-8 bytes.
 * (JavaScript's own `<` compares UTF-16 code units, which differs for characters above U+FFFF
 * against U+E000..U+FFFF; compareKeys fixes that up as ICU's u_strCmpCodePointOrder does.)
 *
 * A string that is not well-formed UTF-16 (a lone surrogate) has no UTF-8 encoding; TextEncoder
 * would silently store U+FFFD instead, so such keys and values are refused.
 */

/** Largest key, in UTF-8 bytes. Keys are copied into every index block and manifest entry. */
export const KEY_BYTES_MAX = 16 * 1024;
/** Largest value, in UTF-8 bytes. Bounded so one record never dominates a log segment or a table. */
export const VALUE_BYTES_MAX = 8 * 1024 * 1024;
/** Most operations in one atomic batch, and most bytes (keys plus values). */
export const BATCH_OPS_MAX = 100_000;
export const BATCH_BYTES_MAX = 32 * 1024 * 1024;

/** A code unit that can make `<` disagree with code point order (a surrogate, or E000..FFFF). */
const HIGH_UNIT = /[\ud800-\uffff]/;

/** Code point order of two well-formed strings, equal to memcmp of their UTF-8 encodings. */
export function compareKeys(a: string, b: string): number {
  // `<` and code point order differ only where the first differing code units are both at or
  // above U+D800; a string without such a unit cannot be on either side of that. The native
  // comparison is several times faster than the loop below on the long shared prefixes a node's
  // keys have (session and result keys of one client), and memtable inserts and SSTable
  // searches compare keys about twenty times each.
  if (!HIGH_UNIT.test(a) || !HIGH_UNIT.test(b)) return a === b ? 0 : a < b ? -1 : 1;
  return compareCodePoints(a, b);
}

/**
 * For a key without high code units, `<` already is code point order against any other key (the
 * first differing units cannot both be high), so a search for it needs no test per comparison.
 * Memtable inserts test the one key once instead of a stored key at every step of the search.
 */
compareKeys.forKey = (key: string): ((a: string, b: string) => number) => (HIGH_UNIT.test(key) ? compareKeys : compareUnits);

function compareUnits(a: string, b: string): number {
  return a === b ? 0 : a < b ? -1 : 1;
}

function compareCodePoints(a: string, b: string): number {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x !== y) {
      // Surrogates (D800..DFFF) encode code points above U+FFFF, which sort after E000..FFFF.
      if (x >= 0xd800 && y >= 0xd800) {
        x += x >= 0xe000 ? -0x800 : 0x2000;
        y += y >= 0xe000 ? -0x800 : 0x2000;
      }
      return x - y;
    }
  }
  return a.length - b.length;
}

interface WellFormed {
  isWellFormed(): boolean;
}

/** UTF-8 length of a well-formed string, without encoding it. */
export function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c < 0xdc00) {
      // A surrogate pair: two code units, four bytes.
      n += 2;
      i++;
    } else n += 2;
  }
  return n;
}

/**
 * Why the string cannot be a key (or value): null when it can. `what` names it in the message.
 */
export function checkString(s: unknown, what: 'key' | 'value'): string | null {
  if (typeof s !== 'string') return `${what} must be a string, got ${s === null ? 'null' : typeof s}`;
  if (!(s as unknown as WellFormed).isWellFormed()) return `${what} is not well-formed UTF-16 (a lone surrogate has no UTF-8 encoding)`;
  const max = what === 'key' ? KEY_BYTES_MAX : VALUE_BYTES_MAX;
  // Three bytes per code unit bounds the UTF-8 length from above, so short strings skip the count.
  if (s.length * 3 > max && utf8Length(s) > max) return `${what} is longer than ${max} bytes of UTF-8`;
  return null;
}
