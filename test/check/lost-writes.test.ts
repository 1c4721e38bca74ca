import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkLostWrites } from '../../src/check/lost-writes.js';
import type { HistoryEvent, Json, OpFunction } from '../../src/check/history.js';

// A tiny history builder: ops listed in real-time order of their events. Reads by process 1 are
// the final reads (made after the faults healed); other processes' reads are ordinary.
function h(...events: [number, 'invoke' | 'ok' | 'fail' | 'info', OpFunction, string, Json][]): HistoryEvent[] {
  return events.map(([process, type, f, key, value], i) => ({ process, type, f, key, value, time: i, ...(process === 1 ? { final: true } : {}) }));
}

test('a write followed by a read of nothing is lost', () => {
  const r = checkLostWrites(h([0, 'invoke', 'write', 'x', 1], [0, 'ok', 'write', 'x', 1], [1, 'invoke', 'read', 'x', null], [1, 'ok', 'read', 'x', null]));
  assert.is(r.lost.length, 1);
  assert.equal({ key: r.lost[0]?.key, value: r.lost[0]?.value, read: r.lost[0]?.readValue }, { key: 'x', value: 1, read: null });
});

test('a write that a later read sees is not lost', () => {
  const r = checkLostWrites(h([0, 'invoke', 'write', 'x', 1], [0, 'ok', 'write', 'x', 1], [1, 'invoke', 'read', 'x', null], [1, 'ok', 'read', 'x', 1]));
  assert.is(r.lost.length, 0);
  assert.is(r.readsChecked, 1);
});

test('a concurrent or later write may replace it: not flagged', () => {
  const concurrent = h(
    [0, 'invoke', 'write', 'x', 1], [2, 'invoke', 'write', 'x', 2], [0, 'ok', 'write', 'x', 1], [2, 'ok', 'write', 'x', 2],
    [1, 'invoke', 'read', 'x', null], [1, 'ok', 'read', 'x', 2],
  );
  assert.is(checkLostWrites(concurrent).lost.length, 0);
  const infoLater = h([0, 'invoke', 'write', 'x', 1], [0, 'ok', 'write', 'x', 1], [2, 'invoke', 'delete', 'x', null], [2, 'info', 'delete', 'x', null], [1, 'invoke', 'read', 'x', null], [1, 'ok', 'read', 'x', null]);
  assert.is(checkLostWrites(infoLater).lost.length, 0, 'an info delete may have happened');
});

test('an unknown-outcome write excuses a loss only if it could have left the value read', () => {
  const crash = h(
    [0, 'invoke', 'write', 'x', 1], [0, 'ok', 'write', 'x', 1],
    [2, 'invoke', 'write', 'x', 2], [2, 'info', 'write', 'x', 2],
    [1, 'invoke', 'read', 'x', null], [1, 'ok', 'read', 'x', null],
  );
  assert.equal(checkLostWrites(crash).lost.map((l) => l.value), [1], 'an info write of 2 cannot explain reading nothing');
  const explained = h(
    [0, 'invoke', 'write', 'x', 1], [0, 'ok', 'write', 'x', 1],
    [2, 'invoke', 'write', 'x', 2], [2, 'info', 'write', 'x', 2],
    [1, 'invoke', 'read', 'x', null], [1, 'ok', 'read', 'x', 2],
  );
  assert.is(checkLostWrites(explained).lost.length, 0);
});

test('a failed write cannot replace anything', () => {
  const r = checkLostWrites(h(
    [0, 'invoke', 'write', 'x', 1], [0, 'ok', 'write', 'x', 1], [2, 'invoke', 'cas', 'x', [5, 6]], [2, 'fail', 'cas', 'x', [5, 6]],
    [1, 'invoke', 'read', 'x', null], [1, 'ok', 'read', 'x', 6],
  ));
  assert.is(r.lost.length, 1);
});

test('a read concurrent with the write may precede it: not flagged', () => {
  const r = checkLostWrites(h([0, 'invoke', 'write', 'x', 1], [1, 'invoke', 'read', 'x', null], [0, 'ok', 'write', 'x', 1], [1, 'ok', 'read', 'x', null]));
  assert.is(r.lost.length, 0);
});

test('appends: every acknowledged token must be in later reads; other appends cannot erase one', () => {
  const lost = h(
    [0, 'invoke', 'append', 'x', 'a1;'], [0, 'ok', 'append', 'x', 'a1;'],
    [2, 'invoke', 'append', 'x', 'a2;'], [2, 'ok', 'append', 'x', 'a2;'],
    [1, 'invoke', 'read', 'x', null], [1, 'ok', 'read', 'x', 'a2;'],
  );
  assert.equal(checkLostWrites(lost).lost.map((l) => l.value), ['a1;']);
  const fine = h([0, 'invoke', 'append', 'x', 'a1;'], [0, 'ok', 'append', 'x', 'a1;'], [1, 'invoke', 'read', 'x', null], [1, 'ok', 'read', 'x', 'a1;a2;']);
  assert.is(checkLostWrites(fine).lost.length, 0);
  const tokenPrefix = h([0, 'invoke', 'append', 'x', 'a1;'], [0, 'ok', 'append', 'x', 'a1;'], [1, 'invoke', 'read', 'x', null], [1, 'ok', 'read', 'x', 'a11;']);
  assert.is(checkLostWrites(tokenPrefix).lost.length, 1, 'a11; does not contain the token a1;');
});

test('a delete that a later read contradicts is lost', () => {
  const r = checkLostWrites(h([0, 'invoke', 'write', 'x', 1], [0, 'ok', 'write', 'x', 1], [0, 'invoke', 'delete', 'x', null], [0, 'ok', 'delete', 'x', null], [1, 'invoke', 'read', 'x', null], [1, 'ok', 'read', 'x', 1]));
  assert.equal(r.lost.map((l) => l.f), ['delete']);
});

test('a stale read during the run is not a lost write (the linearizability checker judges it)', () => {
  const r = checkLostWrites(h(
    [0, 'invoke', 'write', 'x', 1], [0, 'ok', 'write', 'x', 1],
    [2, 'invoke', 'read', 'x', null], [2, 'ok', 'read', 'x', null],
    [1, 'invoke', 'read', 'x', null], [1, 'ok', 'read', 'x', 1],
  ));
  assert.is(r.lost.length, 0);
  assert.is(r.readsChecked, 1, 'only the final read is compared');
});

test('keys never read are listed, not judged', () => {
  const r = checkLostWrites(h([0, 'invoke', 'write', 'y', 1], [0, 'ok', 'write', 'y', 1]));
  assert.equal(r.keysUnread, ['y']);
  assert.is(r.lost.length, 0);
});

test.run();
