import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { recoveryLines } from '../../src/cli/cluster.js';
import type { ShardStatus } from '../../src/node/sharded-replica.js';

// `kv-lab cluster status` after the table: each member that repairs or holds back after
// corruption (its /status `recovery`), loudly when its group has had no leader to repair from.

test('nothing to say: no lines', () => {
  assert.is(recoveryLines([{ id: 'n1' }, { id: 'n2', recovery: undefined }]), '');
});

test('a repair, a vote hold and a mute member, each said once, in the operator\'s words', () => {
  const text = recoveryLines([
    { id: 'n1', recovery: { votesHeld: { throughTerm: 5, at: 'raft/wal/0000000001.wal offset 2392', reason: 'rot, not a torn write' } } },
    { id: 'n2', recovery: { stateMachine: { need: 812, applied: 0, why: 'its files were quarantined', installing: false } } },
    { id: 'n3', recovery: { mute: 'both copies and the log record failed their checks' } },
  ]);
  assert.match(text, /^recovering from corruption:\n/);
  assert.match(text, /n1: its log was cut at raft\/wal\/0000000001\.wal offset 2392 \(rot, not a torn write\): no vote until it holds an entry of a term above 5/);
  assert.match(text, /n2: repairing its state machine from the leader: it needs the state up to index 812 and holds it up to 0 \(its files were quarantined\)/);
  assert.match(text, /n3: its term and vote are lost .*replace it/);
  assert.not.match(text, /DATA MAY BE LOST/);
});

test('a shard replica with no leader to repair from for long: DATA MAY BE LOST, per shard', () => {
  const shards = { count: 4, replicas: 3, leading: 0, epoch: 1, members: ['n1', 'n2', 'n3'], hosted: [
    { shard: 0, role: 'follower', term: 3, leader: 'n2', commitIndex: 9, replicas: ['n1', 'n2', 'n3'] },
    { shard: 2, role: 'candidate', term: 7, leader: null, commitIndex: 40, replicas: ['n1', 'n2', 'n3'], recovery: { stateMachine: { need: 40, applied: 0, why: 'snapshot file s.snap failed its checks', installing: false }, stalledMs: 31_000 } },
  ] } as ShardStatus;
  const text = recoveryLines([{ id: 'n1', shards }]);
  assert.match(text, /^DATA MAY BE LOST: recovering from corruption:\n/);
  assert.match(text, /shard 2 on n1: repairing its state machine/);
  assert.match(text, /shard 2 on n1: NO LEADER for 31 s to repair from/);
  assert.not.match(text, /shard 0/);
});

test('a malformed recovery field from a node is left out, not printed half', () => {
  const shards = { count: 1, replicas: 3, leading: 0, epoch: 1, members: ['n1'], hosted: [{ shard: 0, role: 'follower', term: 1, leader: null, commitIndex: 0, replicas: ['n1'], recovery: { stateMachine: { need: 'x' } } }] } as unknown as ShardStatus;
  assert.is(recoveryLines([{ id: 'n1', shards }]), '');
});

test('a hosted entry of another shape is left out, not read half', () => {
  const shards = { count: 2, replicas: 3, leading: 0, epoch: 1, members: ['n1'], hosted: [null, 7, { shard: 1, role: 'follower', term: 2, leader: null, commitIndex: 0, replicas: ['n1'], recovery: { mute: 'gone' } }] } as unknown as ShardStatus;
  assert.match(recoveryLines([{ id: 'n1', shards }]), /shard 1 on n1: its term and vote are lost \(gone\)/);
});

test.run();
