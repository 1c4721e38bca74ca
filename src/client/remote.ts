import type { Json } from '../util/json.js';
import type { KvOp, Permission, WriteOp } from '../node/protocol.js';
import type { KvClient, Outcome } from './client.js';
import type { Transaction, TransactionOptions } from './transaction.js';

/**
 * The TypeScript client for programs: KvClient (leader discovery through `not_leader` hints,
 * retries that keep the request's id so the cluster applies it once, deadlines) with a promise
 * API. Pure: src/host/connect.ts gives it real TCP (connectKv).
 *
 *   const kv = await connectKv({ nodes: { n1: '127.0.0.1:3001', n2: '127.0.0.1:3002' }, username, password });
 *   await kv.put('nickname', 'codejitsu');
 *   await kv.get('nickname'); // 'codejitsu'
 *   kv.close();
 *
 * `discoverNodes('http://127.0.0.1:8000')` reads the members' client-port addresses from a
 * node's /status, for when only one HTTP address is known.
 */

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

function unwrap(o: Outcome): { value: Json; entries?: [string, Json][]; next?: string } {
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

  /**
   * Runs fn in an interactive transaction (KvClient.transaction): retried with back-off when a
   * conflict aborts it; a TransactionError when it fails for good.
   */
  transaction<T>(fn: (tx: Transaction) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    return this.client.transaction(fn, { ...options, db: this.database });
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

  /**
   * Up to `limit` entries of [start, end), every one there is: a node answers at most
   * RANGE_BYTES_MAX at a time, and this follows its continuations (rangePage reads one answer).
   */
  async range(start = '', end: string | null = null, limit = 100, reverse = false): Promise<[string, Json][]> {
    const out: [string, Json][] = [];
    let page = await this.rangePage(start, end, limit, reverse);
    for (;;) {
      out.push(...page.entries);
      if (page.next === undefined || out.length >= limit) return out;
      page = reverse ? await this.rangePage(start, page.next, limit - out.length, true) : await this.rangePage(page.next, end, limit - out.length, false);
    }
  }

  /** One answer of a range; `next` when the node's byte bound cut it short (pass it as start, or as end with reverse). */
  async rangePage(start = '', end: string | null = null, limit = 100, reverse = false): Promise<{ entries: [string, Json][]; next?: string }> {
    const r = await this.run({ f: 'range', start, end, limit, reverse });
    return { entries: r.entries ?? [], ...(r.next !== undefined ? { next: r.next } : {}) };
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
