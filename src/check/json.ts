import type { Json } from './history.js';

/** Nesting deeper than this is refused: a history value is data, not a stack-overflow attempt. */
export const JSON_DEPTH_MAX = 64;

/**
 * Whether `value` is JSON data: null, a boolean, a finite number, a string, or arrays and plain
 * objects of those, no deeper than JSON_DEPTH_MAX. Histories built in memory (the simulator's)
 * come through here, so `undefined`, NaN or a class instance is caught where it enters.
 */
export function isJson(value: unknown, depth = 0): value is Json {
  if (depth > JSON_DEPTH_MAX) return false;
  if (value === null) return true;
  switch (typeof value) {
    case 'boolean':
    case 'string':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object': {
      if (Array.isArray(value)) return value.every((v) => isJson(v, depth + 1));
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) return false;
      return Object.values(value).every((v) => isJson(v, depth + 1));
    }
    default:
      return false;
  }
}

/**
 * One text per JSON value, whatever order its objects' members were written in: `{"a":1,"b":2}`
 * and `{"b":2,"a":1}` are the same value to a store, so they must compare equal in the model.
 * REQUIRES: isJson(value).
 */
export function canonicalJson(value: Json): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const members = Object.keys(value)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k] as Json)}`);
  return `{${members.join(',')}}`;
}

/** A short rendering of a value for explanations: long values are cut with an ellipsis. */
export function showValue(value: Json, charsMax = 40): string {
  const text = canonicalJson(value);
  return text.length <= charsMax ? text : `${text.slice(0, charsMax - 1)}…`;
}
