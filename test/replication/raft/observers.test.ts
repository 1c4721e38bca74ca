/**
 * The safety observers on hand-made pictures of node state: each invariant, broken, is reported
 * with its name and the nodes involved; the same pictures made consistent pass.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makeMembership } from '../../../src/replication/raft/membership.js';
import type { RaftDebugState } from '../../../src/replication/raft/node.js';
import { RaftInvariantViolation, RaftSafetyMonitor, type RaftInvariant } from '../../../src/replication/raft/observers.js';

const voters = makeMembership(['a', 'b', 'c']);

/** A node picture: log given as "term:digest" per position from 1. */
function node(id: string, over: Partial<RaftDebugState> & { log?: string[] }): RaftDebugState {
  const entries = (over.log ?? []).map((t, i) => {
    const [term, digest] = t.split(':') as [string, string];
    return { index: i + 1, term: Number(term), type: 'normal' as const, digest };
  });
  return {
    id,
    term: 1,
    vote: null,
    role: 'follower',
    leader: null,
    commitIndex: 0,
    lastApplied: 0,
    logStart: { index: 0, term: 0 },
    membership: voters,
    ...over,
    entries,
  };
}

function expectViolation(invariant: RaftInvariant, nodes: string[], steps: RaftDebugState[][]): void {
  const m = new RaftSafetyMonitor();
  try {
    steps.forEach((states, i) => m.observe(states, `step ${i}`));
  } catch (e) {
    assert.instance(e, RaftInvariantViolation);
    const v = e as RaftInvariantViolation;
    assert.is(v.invariant, invariant, v.message);
    assert.equal([...v.nodes].sort(), nodes.sort(), v.message);
    assert.match(v.message, `step ${steps.length - 1}`);
    return;
  }
  assert.unreachable(`no ${invariant} violation`);
}

function expectSafe(steps: RaftDebugState[][]): void {
  const m = new RaftSafetyMonitor();
  steps.forEach((states, i) => m.observe(states, `step ${i}`));
}

test('electionSafety: two leaders in one term, even at different steps', () => {
  const a = node('a', { term: 2, role: 'leader', log: ['1:x'] });
  const b = node('b', { term: 2, role: 'leader', log: ['1:x'] });
  expectViolation('electionSafety', ['a', 'b'], [[a, b]]);
  expectViolation('electionSafety', ['a', 'b'], [[a, node('b', {})], [node('a', { term: 2 }), b]]);
  expectSafe([[a, node('b', { term: 3, role: 'leader', log: ['1:x'] })]]);
});

test('logMatching: the same index and term with different content, or after different histories', () => {
  expectViolation('logMatching', ['a', 'b'], [[node('a', { log: ['1:x', '2:y'] }), node('b', { log: ['1:x', '2:z'] })]]);
  expectViolation('logMatching', ['a', 'b'], [[node('a', { log: ['1:x', '2:y', '3:w'] }), node('b', { log: ['1:x', '1:q', '3:w'] })]]);
  expectSafe([[node('a', { log: ['1:x', '2:y'] }), node('b', { log: ['1:x', '3:z'] })]]);
});

test('committedEntryLost: a committed position later holds something else on a node that counts it committed', () => {
  const first = [node('a', { log: ['1:x', '2:y'], commitIndex: 2 }), node('b', { log: ['1:x', '2:y'], commitIndex: 2 }), node('c', { log: ['1:x'] })];
  const later = [node('a', { log: ['1:x', '2:y'], commitIndex: 2 }), node('b', { log: ['1:x', '2:y'], commitIndex: 2 }), node('c', { log: ['1:x', '3:z'], commitIndex: 2 })];
  expectViolation('committedEntryLost', ['a', 'c'], [first, later]);
});

test('committedEntryLost: the highest committed entry is no longer on a majority (fixed membership)', () => {
  const first = [node('a', { log: ['1:x', '2:y'], commitIndex: 2 }), node('b', { log: ['1:x', '2:y'] }), node('c', { log: ['1:x'] })];
  const later = [node('a', { log: ['1:x', '2:y'], commitIndex: 2 }), node('b', { log: ['1:x'] }), node('c', { log: ['1:x'] })];
  expectViolation('committedEntryLost', ['b', 'c'], [first, later]);
  expectSafe([first, first]);
});

test('committedEntryLost: a voter whose log was cut, holding its votes through the entry\'s term, still counts; through an earlier term it does not', () => {
  const first = [node('a', { log: ['1:x', '2:y'], commitIndex: 2 }), node('b', { log: ['1:x', '2:y'] }), node('c', { log: ['1:x'] })];
  const held = [node('a', { log: ['1:x', '2:y'], commitIndex: 2 }), node('b', { log: ['1:x'], votesHeldThroughTerm: 2 }), node('c', { log: ['1:x'] })];
  expectSafe([first, held]);
  const heldTooEarly = [node('a', { log: ['1:x', '2:y'], commitIndex: 2 }), node('b', { log: ['1:x'], votesHeldThroughTerm: 1 }), node('c', { log: ['1:x'] })];
  expectViolation('committedEntryLost', ['b', 'c'], [first, heldTooEarly]);
});

test('leaderCompleteness: a leader of a later term lacks an entry seen committed', () => {
  const first = [node('a', { term: 2, log: ['1:x', '2:y'], commitIndex: 2 }), node('b', { term: 2, log: ['1:x', '2:y'] }), node('c', { term: 2, log: ['1:x'] })];
  const later = [node('a', { term: 2, log: ['1:x', '2:y'], commitIndex: 2 }), node('b', { term: 2, log: ['1:x', '2:y'] }), node('c', { term: 3, role: 'leader', log: ['1:x'] })];
  expectViolation('leaderCompleteness', ['a', 'c'], [first, later]);
  const stale = [node('a', { term: 4, log: ['1:x', '2:y'], commitIndex: 2 }), node('b', { term: 4, log: ['1:x', '2:y'] }), node('c', { term: 3, role: 'leader', log: ['1:x'] })];
  expectSafe([stale]); // a leader of an older term, deposed without knowing it, may lack it
});

test('stateMachineSafety: two nodes apply different commands at one position', () => {
  const m = new RaftSafetyMonitor();
  m.observeApply('a', { index: 5, term: 2, digest: 'x' }, 'step 1');
  m.observeApply('b', { index: 5, term: 2, digest: 'x' }, 'step 2');
  try {
    m.observeApply('c', { index: 5, term: 3, digest: 'y' }, 'step 3');
    assert.unreachable('no violation');
  } catch (e) {
    assert.instance(e, RaftInvariantViolation);
    assert.is((e as RaftInvariantViolation).invariant, 'stateMachineSafety');
    assert.equal((e as RaftInvariantViolation).nodes, ['a', 'c']);
  }
});

test('readLinearizability: a read answered below what was committed before it was asked', () => {
  const m = new RaftSafetyMonitor();
  m.observe([node('a', { log: ['1:x', '1:y', '1:z'], commitIndex: 3 }), node('b', { log: ['1:x', '1:y', '1:z'] }), node('c', {})], 'step 0');
  m.readStarted('b', 'r1');
  m.readAnswered('b', { index: 3, requestCtx: 'r1' }, 'step 1');
  m.readStarted('c', 'r2');
  assert.throws(() => m.readAnswered('c', { index: 1, requestCtx: 'r2' }, 'step 2'), (e: unknown) => e instanceof RaftInvariantViolation && e.invariant === 'readLinearizability');
});

test.run();
