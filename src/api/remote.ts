import { randomBytes } from 'node:crypto';
import type { Json } from '../util/json.js';
import { RealClock } from '../env/real/clock.js';
import { RealNet, type PeerAddress } from '../env/real/net.js';
import type { KvOp, Permission, WriteOp } from '../node/protocol.js';
import { KvClient, type ClientOptions, type Outcome } from './client.js';

/**
 * The TypeScript client for programs: KvClient (leader discovery through `not_leader` hints,
 * retries that keep the request's id so the cluster applies it once, deadlines) over TCP to the
 * nodes' peer ports, with a promise API.
 *
 *   const kv = await connectKv({ nodes: { n1: '127.0.0.1:9001', n2: '127.0.0.1:9002' }, username, password });
 *   await kv.put('nickname', 'codejitsu');
 *   await kv.get('nickname'); // 'codejitsu'
 *   kv.close();
 *
 * `discoverNodes('http://127.0.0.1:8000')` reads the members' peer addresses from a node's
 * /status, for when only one HTTP address is known.
 */

export interface RemoteOptions {
  /** Node id → "host:peerPort" of every member (or as many as are known). */
  nodes: Record<string, string>;
  username?: string;
  password?: string;
  /** Database of key operations ('' the default). */
  database?: string;
  timeoutMs?: number;
  attemptTimeoutMs?: number;
}

/** A failed operation. `definite`: it certainly did not take effect; otherwise the outcome is unknown. */
export class KvError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly definite: boolean,
  ) {
    super(message);
    this.name = 'KvError';
  }
}

function parseAddress(id: string, text: string): PeerAddress {
  const m = /^(.+):(\d{1,5})$/.exec(text);
  if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new KvError('bad_request', `node ${id}: expected host:port, got ${JSON.stringify(text)}`, true);
  return { host: (m[1] as string).replace(/^\[(.*)\]$/, '$1'), port: Number(m[2]) };
}

function unwrap(o: Outcome): { value: Json; entries?: [string, Json][] } {
  if (o.type === 'ok') return o;
  if (o.type === 'fail') throw new KvError(o.code, o.message, true);
  throw new KvError('unknown', `outcome unknown: ${o.reason}`, false);
}

export class KvRemote {
  constructor(
    private readonly client: KvClient,
    private readonly database: string,
  ) {}

  /** The raw operation, for anything the helpers below do not cover. */
  call(op: KvOp, db = this.database): Promise<Outcome> {
    return this.client.call(op, db);
  }

  private async run(op: KvOp, db = this.database) {
    return unwrap(await this.client.call(op, db));
  }

  /** The value, or null when absent. */
  async get(key: string): Promise<Json> {
    return (await this.run({ f: 'read', key })).value;
  }

  async put(key: string, value: Json): Promise<void> {
    await this.run({ f: 'write', key, value });
  }

  async delete(key: string): Promise<void> {
    await this.run({ f: 'delete', key });
  }

  /** Writes value if key holds expected (null: absent); KvError cas_mismatch otherwise. */
  async cas(key: string, expected: Json, value: Json): Promise<void> {
    await this.run({ f: 'cas', key, expected, value });
  }

  async append(key: string, value: string): Promise<void> {
    await this.run({ f: 'append', key, value });
  }

  async range(start = '', end: string | null = null, limit = 100, reverse = false): Promise<[string, Json][]> {
    return (await this.run({ f: 'range', start, end, limit, reverse })).entries ?? [];
  }

  async batch(ops: WriteOp[]): Promise<void> {
    await this.run({ f: 'batch', ops });
  }

  async createDatabase(name: string): Promise<void> {
    await this.run({ f: 'db.create', name }, '');
  }

  async deleteDatabase(name: string): Promise<void> {
    await this.run({ f: 'db.delete', name }, '');
  }

  async listDatabases(): Promise<string[]> {
    return (await this.run({ f: 'db.list' }, '')).value as string[];
  }

  async grant(name: string, db: string, perms: Permission[]): Promise<void> {
    await this.run({ f: 'user.grant', name, db, perms }, '');
  }

  /** Logs in and uses the token for every later operation. */
  async login(username: string, password: string): Promise<void> {
    const token = (await this.run({ f: 'auth.login', user: username, password }, '')).value;
    this.client.setToken(typeof token === 'string' ? token : null);
  }

  close(): void {
    this.client.close();
  }
}

export async function connectKv(options: RemoteOptions): Promise<KvRemote> {
  const ids = Object.keys(options.nodes);
  if (ids.length === 0) throw new KvError('bad_request', 'connectKv needs at least one node', true);
  const peers = new Map(ids.map((id) => [id, parseAddress(id, options.nodes[id] as string)]));
  const net = new RealNet({ self: `client-${randomBytes(6).toString('hex')}`, role: 'client', peers, secret: null });
  const clientOptions: Partial<ClientOptions> & { nodes: string[] } = {
    nodes: ids,
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.attemptTimeoutMs !== undefined ? { attemptTimeoutMs: options.attemptTimeoutMs } : {}),
  };
  const remote = new KvRemote(new KvClient(net, new RealClock(), clientOptions), options.database ?? '');
  if (options.username !== undefined) {
    try {
      await remote.login(options.username, options.password ?? '');
    } catch (err) {
      remote.close();
      throw err;
    }
  }
  return remote;
}

/** Every member's "host:peerPort", from a node's GET /status (which lists them when it knows). */
export async function discoverNodes(httpUrl: string, timeoutMs = 5_000): Promise<Record<string, string>> {
  const res = await fetch(`${httpUrl.replace(/\/+$/, '')}/status`, { signal: AbortSignal.timeout(timeoutMs) });
  const status = (await res.json()) as { addresses?: Record<string, { host: string; peerPort: number }> };
  if (status.addresses === undefined) throw new KvError('unavailable', `${httpUrl}/status lists no addresses (the node was started without a cluster file)`, true);
  return Object.fromEntries(Object.entries(status.addresses).map(([id, a]) => [id, `${a.host}:${a.peerPort}`]));
}
