import { createHmac, scryptSync, timingSafeEqual } from 'node:crypto';
import { loadUser, type KvView, type UserRecord } from './kv-state.js';
import type { KvOp, Permission, Request, Result } from './protocol.js';

/**
 * Authentication and authorisation of requests.
 *
 * Passwords are stored as scrypt hashes (`scrypt$N$r$p$salt$key`, base64 parts); the front end
 * that accepts a new password salts it, because a replicated state machine may not draw random
 * numbers. A login checks the password against the stored hash and returns a bearer token:
 * `user.expiryMs.hmac`, signed with the cluster's token secret, so any node can verify it without
 * shared session state. Expiry uses the node's wall clock: a node whose clock is far off accepts
 * a token for longer, or shorter, than intended (the price of stateless tokens).
 *
 * The root user is defined by configuration (its password hash comes with the cluster's config,
 * kept mode 600), so a new cluster can be administered before any user exists in it.
 */
export interface AuthConfig {
  tokenSecret: string;
  root: { name: string; hash: string } | null;
  tokenTtlMs: number;
}

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
  keyBytes: number;
}

/** OWASP's minimum for scrypt (N=2^14, r=8, p=1): about 50 ms and 16 MiB per hash. */
export const SCRYPT_PARAMS: ScryptParams = { N: 16384, r: 8, p: 1, keyBytes: 32 };

/** The scrypt hash of a password with the given salt (the caller draws the salt). */
export function hashPassword(password: string, salt: Uint8Array, params: ScryptParams = SCRYPT_PARAMS): string {
  const key = scryptSync(password, salt, params.keyBytes, { N: params.N, r: params.r, p: params.p, maxmem: 64 * 1024 * 1024 });
  return `scrypt$${params.N}$${params.r}$${params.p}$${Buffer.from(salt).toString('base64')}$${key.toString('base64')}`;
}

export function verifyPassword(password: string, hash: string): boolean {
  const m = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(hash);
  if (m === null) return false;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (N > 1 << 20 || r > 32 || p > 16) return false; // a stored hash must not make login a denial of service
  const expected = Buffer.from(m[5] as string, 'base64');
  const got = scryptSync(password, Buffer.from(m[4] as string, 'base64'), expected.length, { N, r, p, maxmem: 256 * 1024 * 1024 });
  return got.length === expected.length && timingSafeEqual(got, expected);
}

function sign(secret: string, payload: string): string {
  return createHmac('sha256', secret).update(payload).digest('base64url');
}

export function issueToken(cfg: AuthConfig, user: string, nowMs: number): string {
  const payload = `${user}.${Math.floor(nowMs + cfg.tokenTtlMs)}`;
  return `${payload}.${sign(cfg.tokenSecret, payload)}`;
}

/** The user a token names, or null if it is forged, malformed or expired. */
export function verifyToken(cfg: AuthConfig, token: string, nowMs: number): string | null {
  const m = /^(.+)\.(\d+)\.([A-Za-z0-9_-]+)$/.exec(token);
  if (m === null) return null;
  const payload = `${m[1]}.${m[2]}`;
  const expected = Buffer.from(sign(cfg.tokenSecret, payload));
  const given = Buffer.from(m[3] as string);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return null;
  return Number(m[2]) > nowMs ? (m[1] as string) : null;
}

/** What an operation needs, in which database ('*': administrative, across databases). */
export function requiredPermission(op: KvOp, db: string): { db: string; perm: Permission } | null {
  switch (op.f) {
    case 'read':
    case 'range':
      return { db, perm: 'read' };
    case 'write':
    case 'cas':
    case 'delete':
    case 'append':
    case 'batch':
      return { db, perm: 'write' };
    case 'db.delete':
      return { db: op.name, perm: 'admin' };
    case 'db.list':
    case 'auth.login':
      return null;
    case 'db.create':
    case 'user.put':
    case 'user.delete':
    case 'user.grant':
    case 'user.list':
    case 'member.add':
    case 'member.remove':
    case 'node.promote':
      return { db: '*', perm: 'admin' };
  }
}

export function allowed(user: UserRecord, need: { db: string; perm: Permission }): boolean {
  const has = (db: string) => {
    const perms = user.grants[db] ?? [];
    // admin implies write implies read, within a database.
    return perms.includes('admin') || perms.includes(need.perm) || (need.perm === 'read' && perms.includes('write'));
  };
  return has(need.db) || has('*');
}

export type AuthOutcome = { ok: true; user: string } | { ok: false; result: Result };

/** Decides whether the request may run; for a login, answers it. */
export function authorize(cfg: AuthConfig, view: KvView, req: Request, nowMs: number): AuthOutcome | { ok: true; login: Result } {
  if (req.op.f === 'auth.login') {
    const { user, password } = req.op;
    const hash = cfg.root !== null && user === cfg.root.name ? cfg.root.hash : loadUser(view, user)?.hash;
    if (hash === undefined || !verifyPassword(password, hash)) {
      return { ok: false, result: { ok: false, code: 'unauthorized', message: 'wrong user name or password' } };
    }
    return { ok: true, login: { ok: true, value: issueToken(cfg, user, nowMs) } };
  }
  const user = req.token === undefined ? null : verifyToken(cfg, req.token, nowMs);
  if (user === null) {
    return { ok: false, result: { ok: false, code: 'unauthorized', message: req.token === undefined ? 'authentication required: log in first' : 'invalid or expired token' } };
  }
  const need = requiredPermission(req.op, req.db);
  if (need === null || (cfg.root !== null && user === cfg.root.name)) return { ok: true, user };
  const record = loadUser(view, user);
  if (record === null) return { ok: false, result: { ok: false, code: 'unauthorized', message: `user ${user} no longer exists` } };
  if (!allowed(record, need)) {
    const where = need.db === '*' ? 'the cluster' : need.db === '' ? 'the default database' : `database ${need.db}`;
    return { ok: false, result: { ok: false, code: 'forbidden', message: `user ${user} lacks ${need.perm} permission on ${where}` } };
  }
  return { ok: true, user };
}
