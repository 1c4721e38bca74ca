import { createHmac, scryptSync, timingSafeEqual } from 'node:crypto';
import { assert } from '../util/assert.js';
import { credentialEpoch, loadUser, type KvView, type UserRecord } from './kv-state.js';
import type { KvOp, Permission, Request, Result } from './protocol.js';

/**
 * Authentication and authorisation of requests.
 *
 * Passwords are stored as scrypt hashes (`scrypt$N$r$p$salt$key`, base64 parts); the front end
 * that accepts a new password salts it, because a replicated state machine may not draw random
 * numbers. A login checks the password against the stored hash and returns a bearer token:
 * `user.expiryMs.mac`, any node can verify it without shared session state. Expiry uses the
 * node's wall clock: a node whose clock is far off accepts a token for longer, or shorter, than
 * intended (the price of stateless tokens).
 *
 * Revocation (issue 16, item 7): the mac covers, besides the user and the expiry, the user's
 * credential epoch and password hash as the replicated user record holds them at login. Changing
 * a password or deleting a user changes both (kv-state.ts bumps the cluster's credential epoch at
 * every user.put and user.delete), so each of that user's tokens fails verification at once, on
 * every replica that has applied the change — a deleted and re-created user gets a new epoch
 * even if given the very same hash. The root user (defined by configuration) is bound to its
 * configured hash the same way.
 *
 * Password checks are slow on purpose (scrypt, ~30-50 ms). They run through a PasswordVerifier
 * the node is given — on a real node the host passes one that hashes on libuv's thread pool, so
 * the event loop never waits for a hash — and the node caps how many run at once and how many
 * wait (LoginLimits), refusing the rest `unavailable`: a login flood costs the cluster at most
 * that many hashing threads, never its event loop. A login for a user that does not exist is
 * checked against a dummy hash of the same cost, so the time taken does not say which users
 * exist (item 8).
 *
 * The root user is defined by configuration (its password hash comes with the cluster's config,
 * kept mode 600), so a new cluster can be administered before any user exists in it.
 */
export interface AuthConfig {
  tokenSecret: string;
  root: { name: string; hash: string } | null;
  tokenTtlMs: number;
  /**
   * Checks passwords against hashes. Absent: SYNC_PASSWORD_VERIFIER, which hashes on the calling
   * thread — right for the simulator and tests (deterministic, no real thread), wrong for a
   * served node, whose host passes the thread-pool one (src/env/real/password.ts).
   */
  verifier?: PasswordVerifier;
  /** Bounds on password checks in progress (default LOGIN_LIMITS). */
  loginLimits?: LoginLimits;
  /** Successful checks remembered (default VERIFIED_PASSWORDS). */
  verifiedPasswords?: VerifiedPasswordsOptions;
}

/**
 * The seam for password hashing: slow CPU work that a real node runs off its event loop. verify
 * calls done exactly once, with whether the password matches (false for a malformed hash, never
 * an exception).
 */
export interface PasswordVerifier {
  verify(password: string, hash: string, done: (ok: boolean) => void): void;
}

export interface LoginLimits {
  /** Password checks running at once. Small: on a real node each holds a thread of libuv's pool (4 by default), which fsync needs too. */
  verifyingMax: number;
  /** Logins waiting for a check; more are refused `unavailable` at once. */
  waitingMax: number;
}

export const LOGIN_LIMITS: LoginLimits = { verifyingMax: 2, waitingMax: 32 };

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
  keyBytes: number;
}

/** OWASP's minimum for scrypt (N=2^14, r=8, p=1): about 50 ms and 16 MiB per hash. */
export const SCRYPT_PARAMS: ScryptParams = { N: 16384, r: 8, p: 1, keyBytes: 32 };

/** scrypt needs 128·N·r bytes; a stored hash asking for more than this is refused, not computed. */
export const SCRYPT_MEMORY_BYTES_MAX = 64 * 1024 * 1024;

/**
 * What unknown users are checked against: a well-formed hash with the default cost, whose key no
 * password is known to produce. Only the time it takes matters; its answer is thrown away.
 */
export const DUMMY_HASH = `scrypt$${SCRYPT_PARAMS.N}$${SCRYPT_PARAMS.r}$${SCRYPT_PARAMS.p}$a3YtbGFiIGR1bW15IHNhbHQ=$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=`;

/** The scrypt hash of a password with the given salt (the caller draws the salt). */
export function hashPassword(password: string, salt: Uint8Array, params: ScryptParams = SCRYPT_PARAMS): string {
  const key = scryptSync(password, salt, params.keyBytes, { N: params.N, r: params.r, p: params.p, maxmem: 2 * SCRYPT_MEMORY_BYTES_MAX });
  return `scrypt$${params.N}$${params.r}$${params.p}$${Buffer.from(salt).toString('base64')}$${key.toString('base64')}`;
}

/** A stored hash taken apart, or null if it is malformed or would cost too much to check. */
export interface ParsedHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

export function parseHash(hash: string): ParsedHash | null {
  if (hash.length > 512) return null;
  const m = /^scrypt\$(\d{1,8})\$(\d{1,3})\$(\d{1,3})\$([A-Za-z0-9+/=]{1,128})\$([A-Za-z0-9+/=]{1,128})$/.exec(hash);
  if (m === null) return null;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  // A stored hash must not make a login a denial of service (or make scrypt throw).
  if (N < 2 || (N & (N - 1)) !== 0 || r < 1 || p < 1 || p > 16 || 128 * N * r > SCRYPT_MEMORY_BYTES_MAX) return null;
  const key = Buffer.from(m[5] as string, 'base64');
  if (key.length < 16 || key.length > 64) return null;
  return { N, r, p, salt: Buffer.from(m[4] as string, 'base64'), key };
}

/** Checks a password on the calling thread. False for a malformed hash; never throws. */
export function verifyPassword(password: string, hash: string): boolean {
  const h = parseHash(hash);
  if (h === null) return false;
  const got = scryptSync(password, h.salt, h.key.length, { N: h.N, r: h.r, p: h.p, maxmem: 2 * SCRYPT_MEMORY_BYTES_MAX });
  return got.length === h.key.length && timingSafeEqual(got, h.key);
}

/** The default verifier: on the calling thread, synchronously (deterministic; see AuthConfig). */
export const SYNC_PASSWORD_VERIFIER: PasswordVerifier = {
  verify(password, hash, done) {
    done(verifyPassword(password, hash));
  },
};

/**
 * The seam under a verifier that hashes elsewhere: scrypt, computed somewhere that is not the
 * event loop (src/env/real/scrypt.ts: libuv's thread pool), calling done once with the key or an
 * error. Pure code never touches a thread; it only hands the work to this.
 */
export interface ScryptFunction {
  scrypt(password: string, salt: Uint8Array, keyBytes: number, params: { N: number; r: number; p: number; maxmem: number }, done: (err: Error | null, key?: Uint8Array) => void): void;
}

/** A verifier that parses and compares here and leaves the hashing to `hasher`. */
export function scryptVerifier(hasher: ScryptFunction): PasswordVerifier {
  return {
    verify(password, hash, done) {
      const h = parseHash(hash);
      // A malformed stored hash still costs a check, so it answers no faster than a real one.
      const target = h ?? (parseHash(DUMMY_HASH) as ParsedHash);
      hasher.scrypt(password, target.salt, target.key.length, { N: target.N, r: target.r, p: target.p, maxmem: 2 * SCRYPT_MEMORY_BYTES_MAX }, (err, key) => {
        done(h !== null && err === null && key !== undefined && key.length === h.key.length && timingSafeEqual(key, h.key));
      });
    },
  };
}

export interface VerifiedPasswordsOptions {
  /** Users whose last verified password is remembered; the least recently used goes first. */
  entriesMax: number;
  /** How long a verification is remembered without being used again. */
  ttlMs: number;
}

export const VERIFIED_PASSWORDS: VerifiedPasswordsOptions = { entriesMax: 4096, ttlMs: 5 * 60_000 };

/**
 * Successful password checks, remembered so that a client opening connection after connection
 * with the right password (one `AUTH` each) costs the node an HMAC per login, not an scrypt: with
 * nothing remembered, a holder of one password could keep the hashing threads busy on its own.
 *
 * What is kept per user: the credential checked (the stored hash and the user's credential epoch)
 * and an HMAC-SHA256 of the password under a key derived from the token secret — never the
 * password. A login is served from here only if the user's credential is still exactly the one
 * checked (a new password or a deletion changes the hash or the epoch, on every replica, and the
 * entry is dropped at its next use) and the presented password's HMAC matches, compared in
 * constant time; anything else — a wrong password, above all — goes to the verifier as before.
 * Only successes are kept, so a wrong password is never answered from here. Bounded in entries
 * and time (a password verified once is not trusted from memory forever).
 *
 * The trade-off: someone who can read the node's memory could test guesses against an entry at
 * HMAC speed instead of scrypt speed; such a reader also sees the token secret and the passwords
 * of every login as it arrives, so the entries add little. The same reasoning as the gateway's
 * cache of HTTP Basic logins (src/frontdoor/gateway.ts).
 */
export class VerifiedPasswords {
  /** By user name; Map order is the use order (the least recent first). */
  private readonly entries = new Map<string, { hash: string; epoch: number; mac: Buffer; expiresMs: number }>();
  private readonly key: Buffer;
  /** Logins answered from here, for tests and metrics. */
  hits = 0;

  constructor(
    tokenSecret: string,
    private readonly options: VerifiedPasswordsOptions = VERIFIED_PASSWORDS,
  ) {
    assert(options.entriesMax > 0 && options.ttlMs > 0, 'VerifiedPasswords: bad options');
    // Its own key, so that these MACs can never be mistaken for a token's.
    this.key = createHmac('sha256', tokenSecret).update('kv-lab verified passwords v1').digest();
  }

  private mac(user: string, password: string): Buffer {
    return createHmac('sha256', this.key).update(user).update('\0').update(password).digest();
  }

  /** Whether this password was verified for exactly this credential of the user, lately. */
  has(user: string, password: string, hash: string, epoch: number, nowMs: number): boolean {
    const e = this.entries.get(user);
    if (e === undefined) return false;
    if (e.hash !== hash || e.epoch !== epoch || e.expiresMs <= nowMs) {
      this.entries.delete(user); // the credential moved on, or the entry is too old
      return false;
    }
    if (!timingSafeEqual(this.mac(user, password), e.mac)) return false;
    e.expiresMs = nowMs + this.options.ttlMs;
    this.entries.delete(user);
    this.entries.set(user, e);
    this.hits++;
    return true;
  }

  /** Remembers a password the verifier accepted for this credential. */
  remember(user: string, password: string, hash: string, epoch: number, nowMs: number): void {
    this.entries.delete(user);
    this.entries.set(user, { hash, epoch, mac: this.mac(user, password), expiresMs: nowMs + this.options.ttlMs });
    while (this.entries.size > this.options.entriesMax) this.entries.delete(this.entries.keys().next().value as string);
  }

  get size(): number {
    return this.entries.size;
  }
}

/**
 * What a token is bound to besides its user and expiry: the credential epoch and password hash
 * of the user as the replicated state has them (for root: epoch 0 and the configured hash).
 */
function credential(epoch: number, hash: string): string {
  return `${epoch}\n${hash}`;
}

function sign(secret: string, payload: string, cred: string): string {
  return createHmac('sha256', secret).update(payload).update('\n').update(cred).digest('base64url');
}

/** A token for `user`, valid until expiry or until its credential (epoch, hash) changes. */
export function issueToken(cfg: AuthConfig, user: string, epoch: number, hash: string, nowMs: number): string {
  const payload = `${user}.${Math.floor(nowMs + cfg.tokenTtlMs)}`;
  return `${payload}.${sign(cfg.tokenSecret, payload, credential(epoch, hash))}`;
}

/** The user a token names (not yet checked: see verifyToken), or null if it is malformed or expired. */
export function tokenUser(token: string, nowMs: number): { user: string; payload: string; mac: string } | null {
  const m = /^(.{1,256})\.(\d{1,16})\.([A-Za-z0-9_-]{43})$/.exec(token);
  if (m === null) return null;
  if (Number(m[2]) <= nowMs) return null;
  return { user: m[1] as string, payload: `${m[1]}.${m[2]}`, mac: m[3] as string };
}

/** Whether the token was issued for this credential (epoch, hash) and has not expired. */
export function verifyToken(cfg: AuthConfig, token: string, epoch: number, hash: string, nowMs: number): boolean {
  const t = tokenUser(token, nowMs);
  if (t === null) return false;
  const expected = Buffer.from(sign(cfg.tokenSecret, t.payload, credential(epoch, hash)));
  const given = Buffer.from(t.mac);
  return expected.length === given.length && timingSafeEqual(expected, given);
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
    // A transaction's reads need read, its writes write; BEGIN, COMMIT and ROLLBACK change
    // nothing by themselves (the writes were checked as they were buffered).
    case 'txn.begin':
    case 'txn.commit':
    case 'txn.rollback':
      return { db, perm: 'read' };
    case 'txn.op':
      return { db, perm: op.op.f === 'read' || op.op.f === 'range' ? 'read' : 'write' };
    case 'txn.oneshot':
      return { db, perm: op.ops.every((o) => o.f === 'read' || o.f === 'range') ? 'read' : 'write' };
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
    case 'placement.set':
      return { db: '*', perm: 'admin' };
  }
}

export function allowed(user: UserRecord, need: { db: string; perm: Permission }): boolean {
  const has = (db: string) => {
    // A Map: database names come from users, and `constructor` or `__proto__` must find nothing
    // rather than what a plain object inherits (issue 16, item 2).
    const perms = user.grants.get(db) ?? [];
    // admin implies write implies read, within a database.
    return perms.includes('admin') || perms.includes(need.perm) || (need.perm === 'read' && perms.includes('write'));
  };
  return has(need.db) || has('*');
}

/** Who made a request, once its token checks out: the root user (no record) or a stored user. */
export type Principal = { user: string; root: true } | { user: string; root: false; record: UserRecord };

export type AuthOutcome = { ok: true; principal: Principal } | { ok: false; result: Result };

/** Whether a token-bearing request may run. Logins are not decided here (see KvNode.login). */
export function authorize(cfg: AuthConfig, view: KvView, req: Request, nowMs: number): AuthOutcome {
  assert(req.op.f !== 'auth.login', 'authorize: a login is checked by its password, not a token');
  const who = authenticate(cfg, view, req.token, nowMs);
  return who.ok ? permit(who.principal, req) : who;
}

/** Who a token names, once it checks out against the user's current credential. */
export function authenticate(cfg: AuthConfig, view: KvView, token: string | undefined, nowMs: number): AuthOutcome {
  const unauthorized = (message: string): AuthOutcome => ({ ok: false, result: { ok: false, code: 'unauthorized', message } });
  if (token === undefined) return unauthorized('authentication required: log in first');
  const t = tokenUser(token, nowMs);
  if (t === null) return unauthorized('invalid or expired token');
  if (cfg.root !== null && t.user === cfg.root.name) {
    if (!verifyToken(cfg, token, 0, cfg.root.hash, nowMs)) return unauthorized('invalid or expired token');
    return { ok: true, principal: { user: t.user, root: true } };
  }
  const record = loadUser(view, t.user);
  // Deleted, re-created or given a new password since the login: the credential moved on.
  if (record === null || !verifyToken(cfg, token, record.epoch, record.hash, nowMs)) return unauthorized('invalid or expired token');
  return { ok: true, principal: { user: t.user, root: false, record } };
}

/** Whether the principal may run the request (its permission on the request's database). */
export function permit(principal: Principal, req: Request): AuthOutcome {
  const need = requiredPermission(req.op, req.db);
  if (need === null || principal.root || allowed(principal.record, need)) return { ok: true, principal };
  const where = need.db === '*' ? 'the cluster' : need.db === '' ? 'the default database' : `database ${need.db}`;
  return { ok: false, result: { ok: false, code: 'forbidden', message: `user ${principal.user} lacks ${need.perm} permission on ${where}` } };
}

/**
 * The identity a member forwards with a request it has authenticated (Gateway.forward): the user
 * and the credential epoch its token was bound to. It travels only over the peer network, whose
 * every connection proved the cluster secret, and a node accepts it only from a member or a
 * member's forwarding client (KvNode.request); a client's request carrying one is refused
 * (validateRequest). The node that serves the request resolves it against its own copy of the
 * users (resolveForwarded) and checks the permission itself, so a grant revoked there is revoked
 * for forwarded requests too. The token itself is not forwarded: it is a bearer credential, and a
 * member needs none to say whom it speaks for (as a database's coordinator passes the session's
 * user to the nodes it fans out to, rather than the client's password).
 */
export interface ForwardedPrincipal {
  user: string;
  epoch: number;
}

export function forwardedPrincipal(p: Principal): ForwardedPrincipal {
  return { user: p.user, epoch: p.root ? 0 : p.record.epoch };
}

/** What is wrong with a forwarded principal's shape, or null. */
export function forwardedPrincipalProblem(v: unknown): string | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'principal must be an object';
  const p = v as Record<string, unknown>;
  if (typeof p.user !== 'string' || p.user === '' || p.user.length > 256) return 'principal.user must be a user name';
  if (typeof p.epoch !== 'number' || !Number.isSafeInteger(p.epoch) || p.epoch < 0) return 'principal.epoch must be a non-negative integer';
  return null;
}

/**
 * The principal a member forwarded, as this node's users know it: its record must carry the
 * credential epoch the token was bound to. A later epoch here, or no such user although this node
 * has seen that epoch, means the password changed or the user went since the login:
 * `unauthorized`. An earlier one means this node has not yet heard of the change the forwarding
 * node saw: `unavailable`, so the forwarding client tries again (by then a push has arrived).
 */
export function resolveForwarded(cfg: AuthConfig, view: KvView, p: ForwardedPrincipal): AuthOutcome {
  if (cfg.root !== null && p.user === cfg.root.name) return p.epoch === 0 ? { ok: true, principal: { user: p.user, root: true } } : { ok: false, result: { ok: false, code: 'unauthorized', message: 'invalid forwarded principal' } };
  const record = loadUser(view, p.user);
  const behind: AuthOutcome = { ok: false, result: { ok: false, code: 'unavailable', message: `this node has not yet learned user ${p.user}'s current credential: retry` } };
  const gone: AuthOutcome = { ok: false, result: { ok: false, code: 'unauthorized', message: 'invalid or expired token' } };
  if (record === null) return credentialEpoch(view) >= p.epoch ? gone : behind;
  if (record.epoch > p.epoch) return gone;
  if (record.epoch < p.epoch) return behind;
  return { ok: true, principal: { user: p.user, root: false, record } };
}

/** The hash a login for `user` is checked against (the dummy for an unknown user), and the credential a token gets if it matches. */
export function loginTarget(cfg: AuthConfig, view: KvView, user: string): { hash: string; epoch: number; known: boolean } {
  if (cfg.root !== null && user === cfg.root.name) return { hash: cfg.root.hash, epoch: 0, known: true };
  const record = loadUser(view, user);
  return record === null ? { hash: DUMMY_HASH, epoch: 0, known: false } : { hash: record.hash, epoch: record.epoch, known: true };
}
