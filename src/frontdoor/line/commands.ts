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
  const op = singleOp(c);
  // A trailing transaction id runs the data command inside that transaction.
  if (op !== null && 'txn' in c && c.txn !== undefined && (op.f === 'read' || op.f === 'range' || op.f === 'write' || op.f === 'delete' || op.f === 'append')) return { f: 'txn.op', txn: c.txn, op };
  return op;
}

function singleOp(c: LineCommand): KvOp | null {
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
    case 'BEGIN':
      return c.retryOf === undefined ? { f: 'txn.begin' } : { f: 'txn.begin', retryOf: c.retryOf };
    case 'COMMIT':
      return { f: 'txn.commit', txn: c.txn };
    case 'ROLLBACK':
      return { f: 'txn.rollback', txn: c.txn };
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
    case 'BEGIN':
      return typeof r.value === 'string' ? { kind: 'txn', id: r.value } : { kind: 'error', code: 'internal', message: 'BEGIN answered no transaction id' };
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
