import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { KvClient, type Outcome } from '../../src/client/client.js';
import type { Request } from '../../src/node/protocol.js';
import { KvNode } from '../../src/node/node.js';
import { DEFAULT_DISK_OPTIONS } from '../../sim/disk.js';
import { NS_PER_MS } from '../../sim/scheduler.js';
import { Trace } from '../../sim/trace.js';
import { World } from '../../sim/world.js';

// KvClient.resume, on the simulator: a request numbered elsewhere keeps its client and seq, so
// the node applies it once however often it arrives; and its preconditions are checked.

function setup() {
  const world = new World({
    seed: 'client-resume',
    nodeIds: ['n1'],
    net: { latency: { minMs: 0.1, meanMs: 0.2, maxMs: 1 } },
    disk: DEFAULT_DISK_OPTIONS,
    trace: new Trace(false),
    createNode: (env) => new KvNode(env, { members: ['n1'], replication: 'none', engine: 'memory', bugs: new Set(), auth: null }),
  });
  world.start();
  const { net, clock } = world.clientEndpoint('gw');
  const client = new KvClient(net, clock, { nodes: ['n1'], timeoutMs: 200, attemptTimeoutMs: 50 });
  const run = (f: (done: (o: Outcome) => void) => void): Outcome => {
    let out: Outcome | undefined;
    f((o) => (out = o));
    world.sched.runUntil(world.nowNs + 500 * NS_PER_MS);
    assert.ok(out !== undefined, 'answered');
    return out as Outcome;
  };
  return { client, run };
}

const C = suite('KvClient.resume');

C('a resumed request keeps its seq: sent twice, applied once, answered the same', () => {
  const { client, run } = setup();
  const req: Request = { kind: 'req', client: 'gw', seq: 7, ackSeq: 1, db: '', op: { f: 'append', key: 'k', value: 'x' } };
  const first = run((done) => client.resume(req, done));
  const second = run((done) => client.resume(req, done, { node: 'n1', uncertain: true }));
  assert.equal(first, second);
  assert.is(first.type, 'ok');
  const read = run((done) => client.resume({ ...req, seq: 8, op: { f: 'read', key: 'k' } }, done));
  assert.equal([read.type, (read as { value: unknown }).value], ['ok', 'x'], 'the append applied once');
});

C('resume refuses a request of another client or a seq already in progress', () => {
  const { client } = setup();
  const req: Request = { kind: 'req', client: 'someone-else', seq: 1, ackSeq: 1, db: '', op: { f: 'read', key: 'k' } };
  assert.throws(() => client.resume(req, () => {}), /resume: request of someone-else on client gw/);
  client.resume({ ...req, client: 'gw' }, () => {});
  assert.throws(() => client.resume({ ...req, client: 'gw' }, () => {}), /seq 1 is already in progress/);
});

C.run();
