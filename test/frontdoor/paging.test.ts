import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { KvClient } from '../../src/client/client.js';
import { HttpKvClient } from '../../src/client/http-client.js';
import { LineKvClient } from '../../src/client/line-client.js';
import { KvRemote } from '../../src/client/remote.js';
import { StreamNet } from '../../src/client/stream-net.js';
import { FrontDoor } from '../../src/frontdoor/front-door.js';
import { hashPassword, type AuthConfig } from '../../src/node/auth.js';
import { KvNode } from '../../src/node/node.js';
import { RANGE_BYTES_MAX, VALUE_BYTES_MAX, type KvOp } from '../../src/node/protocol.js';
import type { Json } from '../../src/util/json.js';
import { DEFAULT_DISK_OPTIONS } from '../../sim/disk.js';
import { NodeProcess } from '../../sim/node-process.js';
import { NS_PER_MS } from '../../sim/scheduler.js';
import { Trace } from '../../sim/trace.js';
import { World } from '../../sim/world.js';

// Through the front door, as users meet it (issue 16): a range too large for one answer is paged
// by bytes on the line protocol, over HTTP and for the native client, and each client can follow
// the continuation; a user lists only the databases it may read.

const salt = new Uint8Array(16).fill(7);
const cheap = { N: 1024, r: 8, p: 1, keyBytes: 32 } as const;

function setup(auth: boolean) {
  const authConfig: AuthConfig | null = auth ? { tokenSecret: 'cluster-secret', root: { name: 'admin', hash: hashPassword('root-pw', salt, cheap) }, tokenTtlMs: 3_600_000 } : null;
  const world = new World({
    seed: 'paging',
    nodeIds: ['n1'],
    net: { latency: { minMs: 0.1, meanMs: 0.2, maxMs: 1 } },
    disk: DEFAULT_DISK_OPTIONS,
    trace: new Trace(false),
    createNode: (env) => {
      const kv = new KvNode(env, { members: ['n1'], replication: 'none', engine: 'memory', bugs: new Set(), auth: authConfig });
      return new NodeProcess(kv, new FrontDoor({ id: 'n1', node: kv, members: ['n1'], clock: env.clock, rng: env.rng, log: env.log, openNet: null, authEnabled: auth, version: 'test' }));
    },
  });
  world.start();
  world.sched.runUntil(world.nowNs + 10 * NS_PER_MS);
  const endpoint = world.clientEndpoint('c1');
  /** Runs the world until the promise settles (its continuations run between steps). */
  const drive = async <T>(p: Promise<T>): Promise<T> => {
    let settled = false;
    p.then(() => (settled = true), () => (settled = true));
    for (let i = 0; i < 2000 && !settled; i++) {
      world.sched.runUntil(world.nowNs + 5 * NS_PER_MS);
      await new Promise((r) => setImmediate(r));
    }
    assert.ok(settled, 'settled');
    return p;
  };
  const http = (user?: string, password?: string) =>
    new HttpKvClient({ urls: ['http://n1'], dial: (a) => endpoint.dial(`${a}:http`), clock: endpoint.clock, timeoutMs: 5000, ...(user !== undefined ? { username: user, password } : {}) });
  const line = (user?: string, password?: string) =>
    new LineKvClient({ address: 'n1:line', dial: endpoint.dial, clock: endpoint.clock, timeoutMs: 5000, ...(user !== undefined ? { username: user, password } : {}) });
  let clients = 0;
  const native = () => new KvRemote(new KvClient(new StreamNet(`native-${++clients}`, new Map([['n1', 'n1:line']]), endpoint.dial), endpoint.clock, { nodes: ['n1'], timeoutMs: 5000 }), '');
  return { world, drive, http, line, native };
}

const P = suite('front door: paged ranges, databases by grant');

const keys = Array.from({ length: 20 }, (_, i) => `k${String(i).padStart(2, '0')}`);
const big = (k: string) => k.padEnd(VALUE_BYTES_MAX - 2, 'v'); // with its quotes, 1 MiB of JSON
const pageBytes = (entries: [string, Json][]) => entries.reduce((n, [k, v]) => n + k.length + String(v).length, 0);

P('a range over 20 values of 1 MiB: each answer within RANGE_BYTES_MAX, with where to continue, on every protocol (item 9)', async () => {
  const t = setup(false);
  const kv = t.native();
  for (const k of keys) await t.drive(kv.put(k, big(k)));

  // The native client: one answer is bounded and says where to continue; range() follows.
  const first = await t.drive(kv.rangePage('', null, 100));
  assert.ok(first.entries.length >= 1 && first.entries.length < 20 && pageBytes(first.entries) <= RANGE_BYTES_MAX, `${first.entries.length} entries`);
  assert.is(first.next, keys[first.entries.length]);
  assert.equal((await t.drive(kv.range('', null, 100))).map(([k]) => k), keys);
  assert.equal((await t.drive(kv.range('', null, 100, true))).map(([k]) => k), [...keys].reverse());
  assert.equal((await t.drive(kv.range('', null, 7))).map(([k]) => k), keys.slice(0, 7), 'no more than the limit');

  // The line protocol: ENTRIES … NEXT key; RANGE again from there.
  const line = t.line();
  const got: string[] = [];
  let start = '';
  for (let pages = 0; pages < 40; pages++) {
    const o = await t.drive(line.call({ f: 'range', start, end: null, limit: 100, reverse: false }));
    assert.ok(o.type === 'ok' && o.entries !== undefined, JSON.stringify(o).slice(0, 200));
    if (o.type !== 'ok' || o.entries === undefined) return;
    assert.ok(pageBytes(o.entries) <= RANGE_BYTES_MAX);
    got.push(...o.entries.map(([k]) => k));
    if (o.next === undefined) break;
    start = o.next;
  }
  assert.equal(got, keys);
  line.close();

  // HTTP: "next" in the body; rangeAll follows it, forwards and backwards; the history's
  // outcome of a cut page carries it too.
  const http = t.http();
  const page = await t.drive(http.range({ limit: 100 }));
  assert.ok(page.entries.length < 20 && page.next === keys[page.entries.length], JSON.stringify({ n: page.entries.length, next: page.next }));
  assert.equal((await t.drive(http.rangeAll({ limit: 100 }))).map((e) => e.key), keys);
  assert.equal((await t.drive(http.rangeAll({ limit: 100, reverse: true }))).map((e) => e.key), [...keys].reverse());
  const outcome = await t.drive(new Promise<Parameters<Parameters<HttpKvClient['invoke']>[1]>[0]>((r) => http.invoke({ f: 'range', start: 'k05', end: null, limit: 100, reverse: false } as KvOp, r)));
  assert.ok(outcome.type === 'ok' && outcome.next !== undefined && outcome.entries?.[0]?.[0] === 'k05');
});

P('a read-only user lists only the databases it may read, over HTTP and the TCP client port; an admin lists all (item 11)', async () => {
  const t = setup(true);
  const admin = t.http('admin', 'root-pw');
  for (const db of ['hr', 'ops', 'shop']) await t.drive(admin.createDatabase(db));
  await t.drive(admin.putUser('ann', hashPassword('ann-pw', salt, cheap)));
  await t.drive(admin.grant('ann', 'shop', ['read']));
  assert.equal(await t.drive(admin.listDatabases()), ['', 'hr', 'ops', 'shop']);
  assert.equal(await t.drive(t.http('ann', 'ann-pw').listDatabases()), ['shop']);
  const kv = t.native();
  await t.drive(kv.login('ann', 'ann-pw'));
  assert.equal(await t.drive(kv.listDatabases()), ['shop']);
  // The line protocol has no command that lists databases; there ann is refused what she may not
  // read (the default database).
  const line = t.line('ann', 'ann-pw');
  const o = await t.drive(line.call({ f: 'read', key: 'x' }));
  assert.ok(o.type === 'fail' && o.code === 'forbidden', JSON.stringify(o));
  line.close();
});

P.run();
