/**
 * Flow control: what a leader has in flight to each follower is bounded (count and bytes), one
 * append is bounded in bytes, and an isolated leader cannot grow its uncommitted log without bound.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ENTRY_HEADER_BYTES } from '../../../src/replication/raft/types.js';
import { Lone, appResp, heartbeatResp, plainOptions } from './fixtures.js';

const abc = ['a', 'b', 'c'];
const payload = (n: number): Uint8Array => new Uint8Array(n);

/** A leader whose followers b and c are in the replicate state at position 2. */
function streamingLeader(overrides: Parameters<typeof plainOptions>[0]): Lone {
  const n = Lone.of('a', abc, plainOptions(overrides)).becomeLeaderWith(['b']);
  n.step(appResp('b', 'a', 2, 2)).step(appResp('c', 'a', 2, 2));
  n.take();
  return n;
}

function appsTo(n: Lone, to: string): number[][] {
  return n
    .takeOfType('MsgApp')
    .filter((m) => m.to === to && m.entries.length > 0)
    .map((m) => m.entries.map((e) => e.index));
}

test('replicate: at most maxInflightMsgs appends are in flight to a follower; each answer lets one more go', () => {
  const n = streamingLeader({ maxInflightMsgs: 3, maxMsgBytes: 1 });
  for (let i = 0; i < 10; i++) n.node.propose(payload(10));
  n.run();
  assert.equal(appsTo(n, 'b'), [[3], [4], [5]]);
  n.step(appResp('b', 'a', 2, 3));
  assert.equal(appsTo(n, 'b'), [[6]]);
  n.step(appResp('b', 'a', 2, 6));
  assert.equal(appsTo(n, 'b'), [[7], [8], [9]]);
});

test('replicate: the bytes in flight to a follower are bounded too', () => {
  const n = streamingLeader({ maxInflightMsgs: 100, maxInflightBytes: 3 * (ENTRY_HEADER_BYTES + 100), maxMsgBytes: 1 });
  for (let i = 0; i < 10; i++) n.node.propose(payload(100));
  n.run();
  assert.is(appsTo(n, 'c').length, 3);
});

test('maxMsgBytes bounds one append, but an entry larger than it still goes alone', () => {
  const n = streamingLeader({ maxMsgBytes: 2 * (ENTRY_HEADER_BYTES + 10), maxInflightMsgs: 100 });
  for (let i = 0; i < 5; i++) n.node.propose(payload(10));
  n.node.propose(payload(1000));
  n.run();
  assert.equal(appsTo(n, 'b'), [[3, 4], [5, 6], [7], [8]]);
});

test('probe: one append at a time to a follower whose log position is unknown, until it answers', () => {
  const n = Lone.of('a', abc, plainOptions({ maxInflightMsgs: 10 })).becomeLeaderWith(['b']);
  assert.equal(appsTo(n, 'c'), [[2]], 'the probe with the empty entry');
  n.node.propose(payload(1));
  n.node.propose(payload(1));
  n.run();
  assert.equal(appsTo(n, 'c'), [], 'waiting for the probe to be answered');
  n.step(heartbeatResp('c', 'a', 2));
  assert.equal(appsTo(n, 'c'), [[2, 3, 4]], 'a heartbeat answer allows one more probe');
});

test('a follower reported unreachable goes back to probing', () => {
  const n = streamingLeader({ maxInflightMsgs: 10 });
  n.node.reportUnreachable('b');
  n.node.propose(payload(1));
  n.run();
  n.node.propose(payload(1));
  n.run();
  assert.equal(appsTo(n, 'b'), [[3]], 'one probe, then a pause');
  assert.equal(n.node.progressSummary().b, 'probe match=2 next=3 paused');
});

test('an isolated leader refuses proposals once maxUncommittedBytes are uncommitted', () => {
  const n = streamingLeader({ maxUncommittedBytes: 250 });
  const results = Array.from({ length: 5 }, () => n.node.propose(payload(100)).ok);
  assert.equal(results, [true, true, false, false, false]);
  n.run();
  n.step(appResp('b', 'a', 2, 4));
  assert.ok(n.node.propose(payload(100)).ok, 'committed and applied: room again');
  assert.ok(n.node.propose(payload(10_000)).ok === false, 'too big while something is uncommitted');
});

test.run();
