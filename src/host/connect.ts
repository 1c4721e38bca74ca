import { randomBytes } from 'node:crypto';
import { KvClient, type ClientOptions } from '../client/client.js';
import { HttpKvClient as PureHttpKvClient, KvHttpError, type HttpClientOptions } from '../client/http-client.js';
import { KvError, KvRemote } from '../client/remote.js';
import { RealClock } from '../env/real/clock.js';
import { StreamNet } from '../client/stream-net.js';
import type { Dialer } from '../env/stream.js';
import { parseHostPort, tcpDialer } from './socket-stream.js';

/**
 * The clients of src/client, on real TCP: what `import … from 'kv-lab'` gives a program.
 *
 *   const kv = await connectKv({ nodes: { n1: '127.0.0.1:3001', n2: '127.0.0.1:3002' }, username, password });
 *   await kv.put('nickname', 'codejitsu');
 *   const http = new HttpKvClient({ urls: ['http://127.0.0.1:8000'] });
 */

export interface RemoteOptions {
  /**
   * Node id → "host:port" of every member's TCP client port (3001, …: the line protocol's port,
   * which also speaks the request protocol's frames), or as many as are known.
   */
  nodes: Record<string, string>;
  username?: string;
  password?: string;
  /** Database of key operations ('' the default). */
  database?: string;
  timeoutMs?: number;
  attemptTimeoutMs?: number;
}

function checkAddress(id: string, text: string): string {
  try {
    parseHostPort(text);
    return text;
  } catch (err) {
    throw new KvError('bad_request', `node ${id}: ${(err as Error).message}`, true);
  }
}

export async function connectKv(options: RemoteOptions): Promise<KvRemote> {
  const ids = Object.keys(options.nodes);
  if (ids.length === 0) throw new KvError('bad_request', 'connectKv needs at least one node', true);
  const addresses = new Map(ids.map((id) => [id, checkAddress(id, options.nodes[id] as string)]));
  const net = new StreamNet(`client-${randomBytes(6).toString('hex')}`, addresses, tcpDialer);
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

/** The HTTP API's client over real TCP (the dialer and clock may still be given, for tests). */
export class HttpKvClient extends PureHttpKvClient {
  constructor(options: Omit<HttpClientOptions, 'dial' | 'clock'> & { dial?: Dialer; clock?: HttpClientOptions['clock'] }) {
    super({ dial: tcpDialer, clock: new RealClock(), ...options });
  }
}

/** Every member's "host:tcpPort" (what connectKv takes), from a node's GET /status (which lists them when it knows). */
export async function discoverNodes(httpUrl: string, timeoutMs = 5_000): Promise<Record<string, string>> {
  const client = new HttpKvClient({ urls: [httpUrl], timeoutMs });
  try {
    const status = (await client.status()) as { addresses?: Record<string, { host: string; tcpPort: number }> };
    if (status.addresses === undefined) throw new KvError('unavailable', `${httpUrl}/status lists no addresses (the node was started without a cluster file)`, true);
    return Object.fromEntries(Object.entries(status.addresses).map(([id, a]) => [id, `${a.host}:${a.tcpPort}`]));
  } catch (err) {
    if (err instanceof KvHttpError) throw new KvError(err.code, err.message, true);
    throw err;
  } finally {
    client.close();
  }
}
