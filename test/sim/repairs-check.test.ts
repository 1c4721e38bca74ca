import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KvNode } from '../../src/node/node.js';
import type { NodeStatus } from '../../src/node/node.js';
import { NS_PER_MS } from '../../sim/scheduler.js';
import { RepairWatch } from '../../sim/repairs.js';
import { Trace } from '../../sim/trace.js';
import { World } from '../../sim/world.js';
import { DEFAULT_DISK_OPTIONS } from '../../sim/disk.js';

// The lab's `repairs` check holds what each running member's status says it repairs (what `kv-lab
// cluster status` prints) to its repair events, kind by kind.

function group() {
  const ids = ['n1', 'n2', 'n3'];
  const world = new World({
    seed: 'repairs-check',
    nodeIds: ids,
    net: { latency: { minMs: 0.1, meanMs: 0.3, maxMs: 2 } },
    disk: DEFAULT_DISK_OPTIONS,
    trace: new Trace(false),
    createNode: (env) => new KvNode(env, { members: ids, replication: 'raft', engine: 'memory', bugs: new Set() }),
  });
  world.start();
  world.sched.runUntil(2000 * NS_PER_MS);
  return { world, node: (id: string) => world.machine(id).node as KvNode };
}

const detail = (what: 'state-machine' | 'log' | 'hard-state') => ({ what, need: 10, applied: 0, why: 'test' });

test('events and statuses that agree pass; a log hold lifted does not finish a state machine repair begun meanwhile', () => {
  const { world } = group();
  const watch = new RepairWatch(world);
  assert.is(watch.verdict().verdict, 'pass');
  watch.onRepair('n2', 'needed', detail('log'));
  watch.onRepair('n2', 'needed', detail('state-machine'));
  watch.onRepair('n2', 'repaired', detail('log'));
  const v = watch.verdict();
  assert.is(v.verdict, 'fail', 'the state machine repair is still pending');
  assert.match(v.summary, /n2 since .*state below 10 lost: test/);
  assert.match(v.summary, /n2: its status does not say it repairs its state-machine, its last state-machine event says it must/);
  watch.onRepair('n2', 'repaired', detail('state-machine'));
  assert.is(watch.verdict().verdict, 'pass');
});

test('a need that an earlier run of the node did not see through is not one when the latest run does not say it again', () => {
  // A node that crashed after its repair's install was durable, and before it said so, starts with
  // nothing to repair and says nothing: its earlier run's need failed the check (found in review).
  const { world } = group();
  const watch = new RepairWatch(world);
  watch.onRepair('n2', 'needed', detail('state-machine'));
  assert.is(watch.verdict().verdict, 'fail');
  world.crash('n2');
  world.restart('n2');
  world.sched.runUntil(world.nowNs + 1000 * NS_PER_MS);
  assert.is(watch.verdict().verdict, 'pass', watch.verdict().summary);
  assert.equal([...watch.pendingNodes()], []);
  // The latest run saying it again is a need again.
  watch.onRepair('n2', 'needed', detail('state-machine'));
  assert.is(watch.verdict().verdict, 'fail');
});

test('a status that says a member repairs what its events say it holds again fails the check', () => {
  const { world, node } = group();
  const watch = new RepairWatch(world);
  watch.onRepair('n3', 'needed', detail('log'));
  watch.onRepair('n3', 'repaired', detail('log'));
  const n3 = node('n3');
  const real = n3.status.bind(n3);
  n3.status = (): NodeStatus => ({ ...real(), recovery: { votesHeld: { throughTerm: 4, at: 'raft/wal/x.wal at offset 9', reason: 'rot' } } });
  const v = watch.verdict();
  assert.is(v.verdict, 'fail');
  assert.match(v.summary, /n3: its status says it repairs its log, its last log event says it did/);
});

test.run();
