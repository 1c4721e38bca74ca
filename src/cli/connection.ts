import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HttpKvClient } from '../host/connect.js';
import { UsageError } from './errors.js';

/**
 * The CLI's saved connection: which nodes to talk to and as whom. `kv-lab connect` and
 * `kv-lab cluster up` write it; every data command reads it. It may hold a password, so it is
 * written mode 600 in a directory only its owner can enter (as ~/.pgpass is). Its place:
 * $KV_LAB_CONNECTION, else $XDG_CONFIG_HOME/kv-lab/connection.json, else
 * ~/.config/kv-lab/connection.json.
 */
export interface Connection {
  /** HTTP base URLs of the nodes, in order of preference. */
  urls: string[];
  username?: string;
  password?: string;
  /** A file holding the password (a cluster directory's admin.password), read at each use. */
  passwordFile?: string;
  /** Database of key commands ('' the default). */
  database: string;
  /** The cluster directory this connection was made for, if `cluster up` made it. */
  cluster?: string;
}

export const DEFAULT_URL = 'http://127.0.0.1:8000';

export function connectionPath(): string {
  const env = process.env.KV_LAB_CONNECTION;
  if (env !== undefined && env !== '') return path.resolve(env);
  const base = process.env.XDG_CONFIG_HOME !== undefined && process.env.XDG_CONFIG_HOME !== '' ? process.env.XDG_CONFIG_HOME : path.join(os.homedir(), '.config');
  return path.join(base, 'kv-lab', 'connection.json');
}

/** The saved connection, or null when there is none. A damaged file is a UsageError. */
export function loadConnection(file = connectionPath()): Connection | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new UsageError(`cannot read the saved connection ${file}: ${(err as Error).message}`);
  }
  let c: Partial<Connection>;
  try {
    c = JSON.parse(text) as Partial<Connection>;
  } catch {
    throw new UsageError(`the saved connection ${file} is not JSON; run kv-lab connect again`);
  }
  const strOpt = (v: unknown) => v === undefined || typeof v === 'string';
  if (!Array.isArray(c.urls) || c.urls.length === 0 || !c.urls.every((u) => typeof u === 'string') || !strOpt(c.username) || !strOpt(c.password) || !strOpt(c.passwordFile) || !strOpt(c.database) || !strOpt(c.cluster)) {
    throw new UsageError(`the saved connection ${file} is malformed; run kv-lab connect again`);
  }
  return { ...c, urls: c.urls, database: c.database ?? '' } as Connection;
}

/** Saves atomically with mode 600 (a new file, renamed over the old, so the mode always applies). */
export function saveConnection(c: Connection, file = connectionPath()): string {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(c, null, 2) + '\n', { mode: 0o600 });
  fs.renameSync(tmp, file);
  return file;
}

/** Flags every client command takes, to override the saved connection. */
export interface ConnectionFlags {
  url?: string;
  username?: string;
  password?: string;
  passwordFile?: string;
  db?: string;
}

export function parseUrls(text: string): string[] {
  const urls = text.split(',').map((u) => u.trim()).filter((u) => u !== '');
  for (const u of urls) {
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      throw new UsageError(`--url expects http://host:port, got ${JSON.stringify(u)}`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new UsageError(`--url expects an http:// URL, got ${JSON.stringify(u)}`);
  }
  if (urls.length === 0) throw new UsageError('--url is empty');
  return urls;
}

export function readPasswordFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new UsageError(`cannot read the password file ${file}: ${(err as Error).message}`);
  }
}

/** The connection in effect: the saved one, overridden by flags; defaults to a local node. */
export function effectiveConnection(flags: ConnectionFlags): Connection {
  const saved = loadConnection();
  const c: Connection = saved ?? { urls: [DEFAULT_URL], database: '' };
  if (flags.url !== undefined) {
    c.urls = parseUrls(flags.url);
    delete c.cluster;
  }
  if (flags.username !== undefined) {
    c.username = flags.username;
    delete c.password;
    delete c.passwordFile;
  }
  if (flags.password !== undefined) c.password = flags.password;
  if (flags.passwordFile !== undefined) c.passwordFile = flags.passwordFile;
  if (flags.db !== undefined) c.database = flags.db;
  return c;
}

export function clientFor(c: Connection, timeoutMs?: number): HttpKvClient {
  const password = c.password ?? (c.passwordFile !== undefined ? readPasswordFile(c.passwordFile) : undefined);
  return new HttpKvClient({
    urls: c.urls,
    ...(c.username !== undefined ? { username: c.username, password: password ?? '' } : {}),
    database: c.database,
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
  });
}
