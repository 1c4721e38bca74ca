import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import type { Command } from 'commander';
import type { Json } from '../util/json.js';
import { KvHttpError } from '../client/http-client.js';
import type { HttpKvClient } from '../host/connect.js';
import { hashPassword } from '../node/auth.js';
import { DB_NAME, PERMISSIONS, RANGE_LIMIT_MAX, USER_NAME, type Permission } from '../node/protocol.js';
import { clientFor, effectiveConnection, loadConnection, parseUrls, readPasswordFile, saveConnection, type Connection, type ConnectionFlags } from './connection.js';
import { EXIT_FAILED, EXIT_UNKNOWN, UsageError } from './errors.js';
import { registerMemberCommands } from './members.js';

/**
 * The CLI as a client of a running cluster, over the HTTP API: connect, put/get/delete/cas/scan,
 * db and user administration, status, health and ping. Every command takes the connection flags
 * (--url, --username, --password[-file], --db) to override the saved connection.
 *
 * Output: values on stdout (a string as itself, anything else as JSON; --json for JSON always);
 * errors on stderr as `kv-lab: <code>: <message>`. Exit codes: 0 done, 1 refused or failed,
 * 2 bad usage, 3 outcome unknown (a write that timed out or lost its connection).
 */

interface CommonFlags extends ConnectionFlags {
  json?: boolean;
  timeout?: string;
}

function withConnectionFlags(cmd: Command): Command {
  return cmd
    .option('--url <urls>', 'node URLs, comma-separated (default: the saved connection, else http://127.0.0.1:8000)')
    .option('--username <name>', 'user name (default: the saved connection\'s)')
    .option('--password <password>', 'password (prefer --password-file: command lines are visible to other users)')
    .option('--password-file <file>', 'file holding the password')
    .option('--db <name>', 'database ("" the default one; default: the saved connection\'s)')
    .option('--timeout <ms>', 'give up after this many milliseconds', '10000');
}

function timeoutOf(flags: CommonFlags): number {
  const t = flags.timeout ?? '10000';
  if (!/^\d{1,7}$/.test(t) || Number(t) < 1) throw new UsageError(`--timeout expects milliseconds (1-9999999), got ${JSON.stringify(t)}`);
  return Number(t);
}

function checkDb(db: string | undefined): void {
  if (db !== undefined && db !== '' && !DB_NAME.test(db)) throw new UsageError(`--db expects a database name (1-64 letters, digits, _ and -) or "", got ${JSON.stringify(db)}`);
}

/** Runs an action with a client, turning the API's errors into a message and an exit code. */
async function run(flags: CommonFlags, action: (client: HttpKvClient, c: Connection) => Promise<void>, write = false): Promise<void> {
  checkDb(flags.db);
  const c = effectiveConnection(flags);
  const client = clientFor(c, timeoutOf(flags));
  try {
    await action(client, c);
  } catch (err) {
    if (!(err instanceof KvHttpError)) throw err;
    process.stderr.write(`kv-lab: ${err.code}: ${err.message}\n`);
    if (err.code === 'unauthorized' && c.username === undefined) process.stderr.write('kv-lab: log in first: kv-lab connect --host … --port … --username … --password-file …\n');
    // A write whose answer never came may still take effect: say so with its own exit code.
    process.exitCode = write && (err.code === 'timeout' || /outcome is unknown/.test(err.message)) ? EXIT_UNKNOWN : EXIT_FAILED;
  } finally {
    client.close();
  }
}

function show(value: Json, json: boolean | undefined): string {
  return json || typeof value !== 'string' ? JSON.stringify(value) : value;
}

function parseValue(text: string, json: boolean | undefined, what: string): Json {
  if (!json) return text;
  try {
    return JSON.parse(text) as Json;
  } catch (err) {
    throw new UsageError(`${what} is not JSON (${(err as Error).message}); drop --json to store it as a string`);
  }
}

export function registerClientCommands(program: Command): void {
  registerConnect(program);
  registerKeyCommands(program);
  registerDbCommands(program);
  registerUserCommands(program);
  registerStatusCommands(program);
  registerMemberCommands(program);
}

function registerConnect(program: Command): void {
  program
    .command('connect')
    .description('check and save how to reach a cluster (used by every other client command)')
    .option('--host <host>', 'a node\'s host', '127.0.0.1')
    .option('--port <port>', 'its HTTP port', '8000')
    .option('--url <urls>', 'instead of --host/--port: node URLs, comma-separated')
    .option('--username <name>', 'user name')
    .option('--password <password>', 'password (saved, mode 600)')
    .option('--password-file <file>', 'file holding the password (saved as the file\'s path)')
    .option('--database <name>', 'database for key commands', '')
    .action(async (flags: { host: string; port: string; url?: string; username?: string; password?: string; passwordFile?: string; database: string }) => {
      if (!/^\d{1,5}$/.test(flags.port) || Number(flags.port) < 1 || Number(flags.port) > 65535) throw new UsageError(`--port expects a port number, got ${JSON.stringify(flags.port)}`);
      checkDb(flags.database);
      if ((flags.password !== undefined || flags.passwordFile !== undefined) && flags.username === undefined) throw new UsageError('a password goes with --username');
      if (flags.password !== undefined && flags.passwordFile !== undefined) throw new UsageError('give --password or --password-file, not both');
      const urls = flags.url !== undefined ? parseUrls(flags.url) : [`http://${flags.host.includes(':') ? `[${flags.host}]` : flags.host}:${flags.port}`];
      const c: Connection = { urls, database: flags.database };
      if (flags.username !== undefined) c.username = flags.username;
      if (flags.password !== undefined) c.password = flags.password;
      if (flags.passwordFile !== undefined) {
        readPasswordFile(flags.passwordFile);
        c.passwordFile = (await import('node:path')).resolve(flags.passwordFile);
      }
      const client = clientFor(c, 5_000);
      try {
        const status = await client.status();
        // Learn every member's HTTP address, so later commands fail over when this node is down.
        const addresses = status.addresses as Record<string, { host: string; httpPort: number }> | undefined;
        if (addresses !== undefined && flags.url === undefined) {
          const others = Object.values(addresses).map((a) => `http://${a.host}:${a.httpPort}`).filter((u) => u !== urls[0]);
          c.urls = [...urls, ...others];
        }
        if (c.username !== undefined) await client.login(c.username, c.password ?? readPasswordFile(c.passwordFile as string));
        if (c.database !== '' && !(await client.listDatabases()).includes(c.database)) throw new KvHttpError('no_such_db', `no database ${c.database} (kv-lab db create ${c.database})`, 404, urls[0] as string);
      } catch (err) {
        if (!(err instanceof KvHttpError)) throw err;
        process.stderr.write(`kv-lab: cannot connect: ${err.code}: ${err.message}\n`);
        process.exitCode = EXIT_FAILED;
        return;
      } finally {
        client.close();
      }
      const file = saveConnection(c);
      process.stdout.write(`connected to ${c.urls[0]}${c.username !== undefined ? ` as ${c.username}` : ''}${c.database !== '' ? `, database ${c.database}` : ''}; saved in ${file}\n`);
    });
}

function registerKeyCommands(program: Command): void {
  withConnectionFlags(program.command('put').description('write a key').argument('<key>').argument('<value>', 'a string (with --json: any JSON value)'))
    .option('--json', 'the value is JSON')
    .action((key: string, value: string, flags: CommonFlags) => run(flags, async (client) => {
      await client.put(key, parseValue(value, flags.json, 'the value'));
      process.stdout.write('OK\n');
    }, true));

  withConnectionFlags(program.command('get').description('read a key (exit 1 when absent)').argument('<key>'))
    .option('--json', 'print the value as JSON, even a string')
    .action((key: string, flags: CommonFlags) => run(flags, async (client) => {
      const value = await client.get(key);
      if (value === undefined) {
        process.stderr.write(`kv-lab: no key ${JSON.stringify(key)}\n`);
        process.exitCode = EXIT_FAILED;
        return;
      }
      process.stdout.write(show(value, flags.json) + '\n');
    }));

  withConnectionFlags(program.command('delete').description('delete a key').argument('<key>'))
    .action((key: string, flags: CommonFlags) => run(flags, async (client) => {
      await client.delete(key);
      process.stdout.write('OK\n');
    }, true));

  withConnectionFlags(program.command('cas').description('compare-and-set: write <new> only if the key holds <expected>').argument('<key>').argument('<expected>').argument('<new>'))
    .option('--json', 'both values are JSON (null expects the key absent)')
    .action((key: string, expected: string, value: string, flags: CommonFlags) => run(flags, async (client) => {
      await client.cas(key, parseValue(expected, flags.json, 'the expected value'), parseValue(value, flags.json, 'the new value'));
      process.stdout.write('OK\n');
    }, true));

  withConnectionFlags(program.command('scan').description('list keys in order: one "key<TAB>value" line each'))
    .option('--start <key>', 'first key', '')
    .option('--end <key>', 'stop before this key')
    .option('--prefix <prefix>', 'only keys with this prefix')
    .option('--limit <n>', `most keys (1-${RANGE_LIMIT_MAX})`, '100')
    .option('--reverse', 'descending')
    .option('--json', 'one JSON object per line')
    .action((flags: CommonFlags & { start: string; end?: string; prefix?: string; limit: string; reverse?: boolean }) => {
      if (!/^\d{1,9}$/.test(flags.limit) || Number(flags.limit) < 1 || Number(flags.limit) > RANGE_LIMIT_MAX) throw new UsageError(`--limit expects 1-${RANGE_LIMIT_MAX}, got ${JSON.stringify(flags.limit)}`);
      if (flags.prefix !== undefined && (flags.start !== '' || flags.end !== undefined)) throw new UsageError('give --prefix, or --start/--end, not both');
      const start = flags.prefix ?? flags.start;
      const end = flags.prefix !== undefined ? prefixEnd(flags.prefix) : flags.end;
      return run(flags, async (client) => {
        const entries = await client.rangeAll({ start, ...(end !== undefined ? { end } : {}), limit: Number(flags.limit), reverse: flags.reverse ?? false });
        for (const e of entries) process.stdout.write(flags.json ? JSON.stringify(e) + '\n' : `${e.key}\t${show(e.value, false)}\n`);
      });
    });
}

/** The first key after every key with this prefix (undefined: no bound, e.g. a prefix of U+10FFFF). */
export function prefixEnd(prefix: string): string | undefined {
  const cps = [...prefix];
  while (cps.length > 0) {
    const last = (cps.pop() as string).codePointAt(0) as number;
    if (last < 0x10ffff) {
      let next = last + 1;
      if (next >= 0xd800 && next <= 0xdfff) next = 0xe000; // skip the surrogate block
      return cps.join('') + String.fromCodePoint(next);
    }
  }
  return undefined;
}

function registerDbCommands(program: Command): void {
  const db = program.command('db').description('databases: each its own keyspace');
  withConnectionFlags(db.command('create').description('create a database').argument('<name>'))
    .action((name: string, flags: CommonFlags) => run(flags, async (client) => {
      if (!DB_NAME.test(name)) throw new UsageError(`a database name has 1-64 letters, digits, _ and -; got ${JSON.stringify(name)}`);
      await client.createDatabase(name);
      process.stdout.write(`created database ${name}\n`);
    }, true));
  withConnectionFlags(db.command('delete').description('delete a database and every key in it').argument('<name>'))
    .action((name: string, flags: CommonFlags) => run(flags, async (client) => {
      if (!DB_NAME.test(name)) throw new UsageError(`a database name has 1-64 letters, digits, _ and -; got ${JSON.stringify(name)}`);
      const n = await client.deleteDatabase(name);
      process.stdout.write(`deleted database ${name} and its ${n} key${n === 1 ? '' : 's'}\n`);
    }, true));
  withConnectionFlags(db.command('list').description('list databases (the default one shows as "")'))
    .option('--json', 'as a JSON list')
    .action((flags: CommonFlags) => run(flags, async (client) => {
      const names = await client.listDatabases();
      process.stdout.write(flags.json ? JSON.stringify(names) + '\n' : names.map((n) => (n === '' ? '""' : n)).join('\n') + '\n');
    }));
  withConnectionFlags(db.command('use').description('make a database the default of later commands (saved in the connection)').argument('<name>', 'a database, or "" for the default one'))
    .action((name: string, flags: CommonFlags) => run(flags, async (client, c) => {
      if (name !== '' && !DB_NAME.test(name)) throw new UsageError(`a database name has 1-64 letters, digits, _ and -; got ${JSON.stringify(name)}`);
      if (name !== '' && !(await client.listDatabases()).includes(name)) throw new KvHttpError('no_such_db', `no database ${name} (kv-lab db create ${name})`, 404, c.urls[0] as string);
      const saved = loadConnection() ?? c;
      const file = saveConnection({ ...saved, database: name });
      process.stdout.write(`using ${name === '' ? 'the default database' : `database ${name}`} (saved in ${file})\n`);
    }));
}

function parsePerms(text: string): Permission[] {
  if (text === 'none') return [];
  const perms = text.split(',').map((p) => p.trim()).filter((p) => p !== '');
  for (const p of perms) if (!(PERMISSIONS as readonly string[]).includes(p)) throw new UsageError(`permissions are ${PERMISSIONS.join(', ')} (comma-separated) or none; got ${JSON.stringify(p)}`);
  return perms as Permission[];
}

function registerUserCommands(program: Command): void {
  const user = program.command('user').description('users, passwords and permissions (needs admin)');
  withConnectionFlags(user.command('add').description('create a user, or set its password').argument('<name>'))
    .option('--new-password <password>', 'the user\'s password (default: generated and printed)')
    .option('--new-password-file <file>', 'file holding the user\'s password')
    .action((name: string, flags: CommonFlags & { newPassword?: string; newPasswordFile?: string }) => run(flags, async (client) => {
      if (!USER_NAME.test(name)) throw new UsageError(`a user name has 1-64 letters, digits and _.@-; got ${JSON.stringify(name)}`);
      if (flags.newPassword !== undefined && flags.newPasswordFile !== undefined) throw new UsageError('give --new-password or --new-password-file, not both');
      const generated = flags.newPassword === undefined && flags.newPasswordFile === undefined;
      const password = flags.newPassword ?? (flags.newPasswordFile !== undefined ? readPasswordFile(flags.newPasswordFile) : randomBytes(15).toString('base64url'));
      if (password.length < 8) throw new UsageError('a password needs at least 8 characters');
      // Salted and hashed here: the password itself never reaches the cluster's storage.
      await client.putUser(name, hashPassword(password, randomBytes(16)));
      process.stdout.write(generated ? `user ${name} saved; password (printed once): ${password}\n` : `user ${name} saved\n`);
    }, true));
  withConnectionFlags(user.command('delete').description('delete a user (its tokens stop working)').argument('<name>'))
    .action((name: string, flags: CommonFlags) => run(flags, async (client) => {
      await client.deleteUser(name);
      process.stdout.write(`user ${name} deleted\n`);
    }, true));
  withConnectionFlags(user.command('grant').description('set a user\'s permissions in a database').argument('<name>').argument('<db>', 'a database, "" for the default one, * for every one').argument('<perms>', 'read,write,admin (comma-separated), or none to revoke'))
    .action((name: string, db: string, perms: string, flags: CommonFlags) => run(flags, async (client) => {
      const grants = await client.grant(name, db, parsePerms(perms));
      process.stdout.write(`${name}: ${JSON.stringify(grants)}\n`);
    }, true));
  withConnectionFlags(user.command('list').description('list users and their permissions'))
    .option('--json', 'as JSON')
    .action((flags: CommonFlags) => run(flags, async (client) => {
      const users = await client.listUsers();
      if (flags.json) process.stdout.write(JSON.stringify(users) + '\n');
      else for (const u of users) process.stdout.write(`${u.name}\t${JSON.stringify(u.grants)}\n`);
    }));
}

function registerStatusCommands(program: Command): void {
  withConnectionFlags(program.command('status').description('the connected node: role, term, leader, members, indexes'))
    .option('--json', 'the whole status as JSON')
    .action((flags: CommonFlags) => run(flags, async (client) => {
      const s = await client.status();
      if (flags.json) {
        process.stdout.write(JSON.stringify(s) + '\n');
        return;
      }
      process.stdout.write(`${s.id}  ${s.role}  term ${s.term}  leader ${s.leader ?? '-'}  members ${(s.members as string[]).join(',')}  commit ${s.commitIndex}  applied ${s.appliedIndex}  replication ${s.replication}  engine ${s.engine}\n`);
    }));

  withConnectionFlags(program.command('health').description('whether each node of the connection serves (exit 1 if one does not)'))
    .option('--json', 'one JSON object per node')
    .action((flags: CommonFlags) => {
      checkDb(flags.db);
      const c = effectiveConnection(flags);
      return healthOf(c, timeoutOf(flags), flags.json ?? false);
    });

  withConnectionFlags(program.command('ping').description('round-trip time to a node (GET /health)'))
    .option('--count <n>', 'pings to send', '3')
    .action(async (flags: CommonFlags & { count: string }) => {
      if (!/^\d{1,4}$/.test(flags.count) || Number(flags.count) < 1) throw new UsageError(`--count expects 1-9999, got ${JSON.stringify(flags.count)}`);
      const c = effectiveConnection(flags);
      const url = c.urls[0] as string;
      for (let i = 0; i < Number(flags.count); i++) {
        const t0 = process.hrtime.bigint();
        try {
          const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(timeoutOf(flags)) });
          await res.text();
          process.stdout.write(`${res.ok ? 'pong' : `HTTP ${res.status}`} from ${url} in ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(2)} ms\n`);
          if (!res.ok) process.exitCode = EXIT_FAILED;
        } catch (err) {
          process.stdout.write(`no answer from ${url}: ${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message}\n`);
          process.exitCode = EXIT_FAILED;
        }
      }
    });
}

async function healthOf(c: Connection, timeoutMs: number, json: boolean): Promise<void> {
  for (const url of c.urls) {
    let line: Record<string, unknown>;
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(timeoutMs) });
      const body = (await res.json()) as Record<string, unknown>;
      line = { url, healthy: res.ok, node: body.node, role: body.role, leader: body.leader ?? null, ...(res.ok ? {} : { message: body.message }) };
    } catch (err) {
      line = { url, healthy: false, message: `unreachable (${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message})` };
    }
    if (line.healthy !== true) process.exitCode = EXIT_FAILED;
    process.stdout.write(json ? JSON.stringify(line) + '\n' : `${url}  ${line.healthy ? 'ok' : 'UNHEALTHY'}  ${line.node ?? ''} ${line.role ?? ''}${line.healthy ? `  leader ${line.leader ?? '-'}` : `  ${line.message}`}\n`);
  }
}

/** `kv-lab hash-password`: the scrypt hash of a password read from stdin or a file. */
export function registerHashPassword(program: Command): void {
  program
    .command('hash-password')
    .description('print the scrypt hash of a password (for --admin-hash-file and cluster files)')
    .option('--password-file <file>', 'read the password from this file (default: the first line of stdin)')
    .action((flags: { passwordFile?: string }) => {
      const password = flags.passwordFile !== undefined ? readPasswordFile(flags.passwordFile) : (fs.readFileSync(0, 'utf8').split(/\r?\n/)[0] ?? '');
      if (password.length < 8) throw new UsageError('a password needs at least 8 characters');
      process.stdout.write(hashPassword(password, randomBytes(16)) + '\n');
    });
}
