import type { Json } from '../../util/json.js';
import type { KvOp, Result } from '../../node/protocol.js';
import { unreachable } from '../../util/assert.js';
import { RANGE_LIMIT_DEFAULT, type LineCommand, type LineReply } from '../../wire/line.js';

/**
 * What each line command means to a node: the request operation it becomes, and the reply line
 * its result becomes. Pure; the server (server.ts) only moves bytes and keeps per-connection
 * state (the selected database and the login token).
 */

/** The node operation of a data command; null for commands the connection answers itself. */
export function commandOp(c: LineCommand): KvOp | null {
  switch (c.verb) {
    case 'PUT':
      return { f: 'write', key: c.key, value: c.value };
    case 'GET':
      return { f: 'read', key: c.key };
    case 'DELETE':
      return { f: 'delete', key: c.key };
    case 'CAS':
      return { f: 'cas', key: c.key, expected: c.expected, value: c.value };
    case 'APPEND':
      return { f: 'append', key: c.key, value: c.value };
    case 'BATCHPUT':
      return { f: 'batch', ops: c.pairs.map(([key, value]) => ({ f: 'write' as const, key, value })) };
    case 'RANGE':
      return { f: 'range', start: c.start, end: c.end === '' ? null : c.end, limit: c.limit ?? RANGE_LIMIT_DEFAULT, reverse: false };
    case 'AUTH':
      return { f: 'auth.login', user: c.user, password: c.password };
    case 'USE':
    case 'PING':
    case 'QUIT':
      return null;
    default:
      return unreachable(c, 'line command');
  }
}

/** The reply line for a command's result. */
export function resultReply(c: LineCommand, r: Result): LineReply {
  if (!r.ok) return { kind: 'error', code: r.code, message: r.message };
  switch (c.verb) {
    case 'GET':
      if (r.value === null) return { kind: 'nil' };
      return typeof r.value === 'string' ? { kind: 'value', value: r.value } : { kind: 'json', text: JSON.stringify(r.value) };
    case 'RANGE':
      return { kind: 'entries', entries: (r.entries ?? []).map(([k, v]) => [k, valueText(v)]), ...(r.next !== undefined ? { next: r.next } : {}) };
    default:
      return { kind: 'ok' };
  }
}

/** A value as the line protocol shows it in a range: a string as itself, anything else as JSON. */
export function valueText(v: Json): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}
