import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { HistoryEvent } from '../../src/check/history.js';
import { encodeLogRecord, logEntryText } from '../../src/node/log-records.js';
import type { Request } from '../../src/node/protocol.js';
import { AppliedResults } from '../../sim/applied-results.js';
import { leaderStability, recovery } from '../../sim/availability.js';
import type { FaultEvent } from '../../sim/nemesis.js';
import type { Campaign } from '../../sim/raft-observer.js';

// The checks of issue 17 that read a run's record at its end: leader stability, throughput
// recovery after a heal, and the applied-results check. Each is shown passing a good record and
// failing the bad one it exists for.

const MS = 1e6;
const C = suite('checks that see more');

const campaign = (node: string, atMs: number, voter = true): Campaign => ({ node, atNs: atMs * MS, term: 2, voter });
const timeline: FaultEvent[] = [
  { atNs: 1000 * MS, active: 1, what: 'partition' },
  { atNs: 2000 * MS, active: 0, what: 'end partition' },
];

C('leader stability: campaigns during a fault or soon after it are fine', () => {
  const v = leaderStability([campaign('n1', 100), campaign('n2', 1500), campaign('n3', 2500)], { timeline, others: [] }, 1000 * MS);
  assert.is(v.verdict, 'pass', v.summary);
});

C('leader stability: a campaign long after every disturbance fails, naming node and time', () => {
  const v = leaderStability([campaign('n2', 1500), campaign('n3', 3500)], { timeline, others: [] }, 1000 * MS);
  assert.is(v.verdict, 'fail');
  assert.match(v.summary, /n3 began to campaign at 3500 ms/);
  // A node exit (and its supervisor's restart) is a disturbance too; a removed node's campaigns do not count.
  assert.is(leaderStability([campaign('n3', 3500)], { timeline, others: [3000 * MS] }, 1000 * MS).verdict, 'pass');
  assert.is(leaderStability([campaign('n5', 3500, false)], { timeline, others: [] }, 1000 * MS).verdict, 'pass');
});

const ok = (t: number, i: number): HistoryEvent => ({ process: i, type: 'ok', f: 'write', key: 'k', value: i, time: t * MS });

C('recovery: throughput back within the time allowed after the faults end passes; a cluster still slow fails', () => {
  // 40 answers per 250 ms before the fault; after it ends at 2000 ms, answers resume at 2500 ms.
  const before = Array.from({ length: 150 }, (_, i) => ok(100 + i * 6, i));
  const resumed = Array.from({ length: 300 }, (_, i) => ok(2500 + i * 6, 1000 + i));
  const good = recovery([...before, ...resumed], timeline, 6000 * MS, 3000 * MS, 0.5);
  assert.is(good.verdict, 'pass', good.summary);
  const slowAfter = Array.from({ length: 30 }, (_, i) => ok(2500 + i * 100, 1000 + i));
  const bad = recovery([...before, ...slowAfter], timeline, 6000 * MS, 3000 * MS, 0.5);
  assert.is(bad.verdict, 'fail');
  assert.match(bad.summary, /after the faults ended at 2000 ms/);
  // A heal too close to the end of the run, or followed by another fault, is not judged.
  assert.is(recovery(before, timeline, 4000 * MS, 3000 * MS, 0.5).verdict, 'pass');
});

const utf8 = new TextEncoder();
const req = (seq: number, op: Request['op']): Request => ({ kind: 'req', client: 'c1', seq, ackSeq: 0, db: '', op });
const entry = (...reqs: Request[]) => utf8.encode(logEntryText(reqs.map(encodeLogRecord)));
const done = (type: 'ok' | 'fail', f: 'write' | 'cas' | 'append', value: unknown, error?: string): HistoryEvent =>
  ({ process: 1, type, f, key: 'k', value, ...(error !== undefined ? { error } : {}) }) as HistoryEvent;

C('applied results: answers that match the applied entries pass', () => {
  const a = new AppliedResults();
  a.observe(1, null); // a configuration entry
  a.observe(2, entry(req(1, { f: 'write', key: 'k', value: 'w1;' })));
  a.observe(3, entry(req(2, { f: 'cas', key: 'k', expected: 'w1;', value: 'w2;' }), req(3, { f: 'cas', key: 'k', expected: 'w9;', value: 'w3;' })));
  a.observe(2, entry(req(1, { f: 'write', key: 'k', value: 'w1;' }))); // another node applying it again
  const r = a.compare([done('ok', 'write', 'w1;'), done('ok', 'cas', ['w1;', 'w2;']), done('fail', 'cas', ['w9;', 'w3;'], 'cas_mismatch')]);
  assert.equal(r, { checked: 3, mismatches: [] });
  assert.is(a.entries, 3);
});

C('applied results: an ok with no entry, an ok whose entry failed, a refusal whose entry applied, all fail', () => {
  const a = new AppliedResults();
  a.observe(1, entry(req(1, { f: 'write', key: 'k', value: 'w1;' })));
  a.observe(2, entry(req(2, { f: 'cas', key: 'k', expected: 'w0;', value: 'w2;' }), req(3, { f: 'cas', key: 'k', expected: 'w1;', value: 'w3;' })));
  const r = a.compare([done('ok', 'write', 'w7;'), done('ok', 'cas', ['w0;', 'w2;']), done('fail', 'cas', ['w1;', 'w3;'], 'cas_mismatch')]);
  assert.is(r.mismatches.length, 3, r.mismatches.join('\n'));
  assert.match(r.mismatches[0] as string, /write k "w7;".*no applied entry carries it/);
  assert.match(r.mismatches[1] as string, /entry at index 2 that carries it failed with cas_mismatch/);
  assert.match(r.mismatches[2] as string, /answered cas_mismatch \(a definite failure\), but the entry at index 2 that carries it took effect/);
});

C('applied results: a write answered unavailable whose entry was applied after all fails; one never applied passes', () => {
  const a = new AppliedResults();
  a.observe(1, entry(req(1, { f: 'append', key: 'k', value: 'a1;' })));
  const r = a.compare([done('fail', 'append', 'a1;', 'unavailable'), done('fail', 'write', 'w5;', 'unavailable')]);
  assert.equal(r.checked, 1);
  assert.is(r.mismatches.length, 1);
  assert.match(r.mismatches[0] as string, /append k "a1;" \(process 1\) was answered unavailable \(a definite failure\), but the entry at index 1 that carries it took effect/);
});

C('applied results: a gap in the applied indexes stops the reference instead of guessing', () => {
  const a = new AppliedResults();
  a.observe(1, entry(req(1, { f: 'write', key: 'k', value: 'w1;' })));
  a.observe(3, entry(req(2, { f: 'write', key: 'k', value: 'w2;' })));
  assert.is(a.gapAt, 2);
  assert.equal(a.compare([done('ok', 'write', 'w1;'), done('ok', 'write', 'w2;')]), { checked: 1, mismatches: [] }, 'what came after the gap is not judged');
});

C.run();
