/**
 * The kv-lab package: clients for a running cluster, and the request protocol's types.
 *
 * - connectKv / KvRemote: the TypeScript client over the nodes' peer ports (leader discovery,
 *   retries with idempotent request ids, deadlines);
 * - HttpKvClient: the HTTP API's client;
 * - KvClient: the same client over any Net seam (the simulator uses it);
 * - the line protocol's parser and formatter, for tools that speak it.
 */
export { KvError, KvRemote } from './client/remote.js';
export { connectKv, discoverNodes, HttpKvClient, type RemoteOptions } from './host/connect.js';
export { KvHttpError, type BatchOp, type HttpClientOptions, type RangeOptions } from './client/http-client.js';
export { LineKvClient, type LineClientOptions } from './client/line-client.js';
export { KvClient, ATTEMPTS_MAX, DEFAULT_CLIENT_OPTIONS, type ClientOptions, type InvokeOptions, type Outcome } from './client/client.js';
export { TransactionError, RETRYABLE_ABORTS, type Transaction, type TransactionOptions } from './client/transaction.js';
export {
  formatCommand,
  formatReply,
  formatToken,
  parseCommand,
  parseReply,
  tokenize,
  LineSyntaxError,
  type LineCommand,
  type LineReply,
} from './wire/line.js';
export { tcpDialer } from './host/socket-stream.js';
export type { Stream, Dialer } from './env/stream.js';
export type { ErrorCode, KvOp, Permission, Request, Result, WriteOp, ReadOp, AdminOp, TxnOp, TxnWriteOp } from './node/protocol.js';
export { KEY_BYTES_MAX, VALUE_BYTES_MAX, BATCH_OPS_MAX, RANGE_LIMIT_MAX } from './node/protocol.js';
export type { Json } from './util/json.js';
export { KV_LAB_VERSION } from './util/version.js';
