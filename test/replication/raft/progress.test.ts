import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Inflights } from '../../../src/replication/raft/inflights.js';
import { Progress } from '../../../src/replication/raft/progress.js';
import { committedIndex, majority, quorumMin, voteResult } from '../../../src/replication/raft/quorum.js';

test('inflights: full at the count limit or the byte limit; freeLE frees in order', () => {
  const f = new Inflights(3, 100);
  f.add(1, 10);
  f.add(2, 10);
  assert.not.ok(f.full());
  f.add(5, 10);
  assert.ok(f.full(), 'three sends in flight');
  f.freeLE(2);
  assert.is(f.count, 1);
  assert.is(f.bytes, 10);
  f.add(6, 95);
  assert.ok(f.full(), '105 bytes in flight');
  f.freeLE(6);
  assert.is(f.count, 0);
  assert.throws(() => {
    f.add(7, 1);
    f.add(7, 1);
  }, /not after/);
});

test('inflights: the ring wraps around', () => {
  const f = new Inflights(2, 1000);
  for (let i = 1; i <= 10; i++) {
    f.add(i, 1);
    f.freeLE(i - 1);
    assert.is(f.count, 1);
  }
  f.add(11, 1);
  assert.ok(f.full());
});

test('probe: one append in flight until an answer or a heartbeat answer', () => {
  const pr = new Progress(5, false, 8, 1 << 20);
  assert.not.ok(pr.isPaused());
  pr.sentEntries(2, 6, 50);
  assert.ok(pr.isPaused());
  assert.is(pr.next, 5, 'probe does not move next optimistically');
  pr.probeSent = false; // what a heartbeat answer does
  assert.not.ok(pr.isPaused());
});

test('replicate: next moves at send time and the inflight window bounds the stream', () => {
  const pr = new Progress(5, false, 2, 1 << 20);
  pr.match = 4;
  pr.becomeReplicate();
  pr.sentEntries(2, 6, 50);
  assert.is(pr.next, 7);
  pr.sentEntries(1, 7, 50);
  assert.ok(pr.isPaused(), 'two appends in flight');
  assert.ok(pr.maybeUpdate(6));
  pr.inflights.freeLE(6);
  assert.not.ok(pr.isPaused());
});

test('maybeDecrTo ignores stale rejections and backs off to the hint', () => {
  const pr = new Progress(10, false, 8, 1 << 20);
  assert.not.ok(pr.maybeDecrTo(5, 3), 'rejection of an append with prev 5 while next-1 is 9: stale');
  assert.ok(pr.maybeDecrTo(9, 3));
  assert.is(pr.next, 4, 'next = hint + 1');
  pr.match = 6;
  pr.becomeReplicate();
  assert.not.ok(pr.maybeDecrTo(6, 0), 'a rejection at or below match is stale in replicate');
  pr.next = 12;
  assert.ok(pr.maybeDecrTo(11, 0));
  assert.is(pr.next, 7, 'replicate falls back to match + 1');
});

test('after a snapshot, probing starts right after it', () => {
  const pr = new Progress(3, false, 8, 1 << 20);
  pr.becomeSnapshot(20, 0);
  assert.ok(pr.isPaused());
  pr.becomeProbe();
  assert.is(pr.next, 21);
});

test('quorum: majority, committed index and vote results', () => {
  assert.equal([1, 2, 3, 4, 5].map(majority), [1, 2, 2, 3, 3]);
  const match = new Map([['a', 5], ['b', 3], ['c', 9]]);
  assert.is(committedIndex(['a', 'b', 'c'], (id) => match.get(id) ?? 0), 5);
  assert.is(committedIndex(['a', 'b', 'c', 'd'], (id) => match.get(id) ?? 0), 3);
  assert.is(committedIndex([], () => 7), 0);
  const votes = new Map([['a', true], ['b', false]]);
  assert.is(voteResult(['a', 'b', 'c'], votes), 'pending');
  votes.set('c', true);
  assert.is(voteResult(['a', 'b', 'c'], votes), 'won');
  votes.set('c', false);
  assert.is(voteResult(['a', 'b', 'c'], votes), 'lost');
  assert.is(quorumMin(['a', 'b', 'c'], (id) => (id === 'a' ? 10 : id === 'b' ? 4 : -Infinity)), 4);
});

test.run();
