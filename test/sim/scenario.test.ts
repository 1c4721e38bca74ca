import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseScenario, ScenarioError } from '../../sim/scenario.js';
import { SchemaError } from '../../src/util/schema.js';

const S = suite('scenario files');

const GOOD = `name: t
description: a test
duration: 2s
cluster: { nodes: 1 }
workload:
  clients: 2
  mix: { read: 1, write: 1 }
faults:
  - { at: 1s, for: 200ms, kind: loss, probability: 0.1 }
`;

function errorOf(text: string): string {
  try {
    parseScenario(text, 'x.yaml');
  } catch (err) {
    assert.ok(err instanceof SchemaError || err instanceof ScenarioError, `unexpected ${(err as Error).stack}`);
    return (err as Error).message;
  }
  assert.unreachable('the scenario was accepted');
  return '';
}

S('a good file parses, with defaults filled in', () => {
  const s = parseScenario(GOOD, 'x.yaml');
  assert.is(s.durationNs, 2e9);
  assert.is(s.workload.clients, 2);
  assert.is(s.workload.keys, 8);
  assert.equal(s.workload.mix, { read: 1, write: 1, cas: 0, delete: 0, append: 0 });
  assert.equal(s.faults[0], { atNs: 1e9, forNs: 2e8, line: 9, kind: 'loss', probability: 0.1 });
  assert.equal(s.checks, ['linearizable', 'lost-writes', 'liveness', 'assertions']);
  assert.equal(s.seeds, { first: 1, last: 1 });
});

S('an unknown field names the file, line, column and the fields allowed', () => {
  const msg = errorOf(GOOD.replace('clients: 2', 'clients: 2\n  clinets: 3'));
  assert.match(msg, /^x\.yaml:7:3: workload\.clinets: unknown field; expected one of clients, keys, mix/);
});

S('a wrong type says what was expected and what was found', () => {
  assert.match(errorOf(GOOD.replace('clients: 2', 'clients: two')), /x\.yaml:6:12: workload\.clients: expected an integer, got "two"/);
  assert.match(errorOf(GOOD.replace('duration: 2s', 'duration: 2')), /x\.yaml:3:11: duration: expected a duration such as 500ms, 2s or 1\.5m; got 2/);
});

S('impossible values are refused', () => {
  assert.match(errorOf(GOOD.replace('probability: 0.1', 'probability: 1.5')), /faults\[0\]\.probability: must be at most 1, got 1\.5/);
  assert.match(errorOf(GOOD.replace('clients: 2', 'clients: 0')), /workload\.clients: must be at least 1, got 0/);
  assert.match(errorOf(GOOD.replace('at: 1s', 'at: 5s')), /x\.yaml:9: faults: loss at 5s is not before the end of the run/);
  assert.match(errorOf(GOOD.replace('kind: loss, probability: 0.1', 'kind: crash, node: n7')), /names node n7, but the cluster has n1/);
  assert.match(errorOf(GOOD.replace('mix: { read: 1, write: 1 }', 'mix: { read: 0 }')), /every weight is 0/);
  assert.match(errorOf(GOOD.replace('nodes: 1', 'nodes: 3')), /replication none serves a single node/);
});

S('an unknown fault kind lists the kinds', () => {
  assert.match(errorOf(GOOD.replace('kind: loss', 'kind: lose')), /faults\[0\]\.kind: expected one of crash, restart, pause/);
});

S('a fault that cannot be undone refuses for:', () => {
  assert.match(errorOf(GOOD.replace('kind: loss, probability: 0.1', 'kind: corrupt, node: n1')), /a corrupt fault cannot be undone with for:/);
});

S('a corrupt fault names the kind of file it rots, or says which kinds there are', () => {
  const text = (file: string) => GOOD.replace('{ at: 1s, for: 200ms, kind: loss, probability: 0.1 }', `{ at: 1s, kind: corrupt, node: n1, file: ${file} }`);
  const f = parseScenario(text('snapshot'), 'x.yaml').faults[0];
  assert.equal(f?.kind === 'corrupt' ? f.file : null, 'snapshot');
  assert.match(errorOf(text('wal')), /faults\[0\]\.file: expected one of log, snapshot, hardstate, engine, any/);
});

S('a corrupt fault may wait for the other members repairs (whileOthersWhole), a boolean', () => {
  const text = (v: string) => GOOD.replace('{ at: 1s, for: 200ms, kind: loss, probability: 0.1 }', `{ at: 1s, kind: corrupt, node: n1, file: engine, whileOthersWhole: ${v} }`);
  const f = parseScenario(text('true'), 'x.yaml').faults[0];
  assert.is(f?.kind === 'corrupt' ? f.whileOthersWhole : null, true);
  const off = parseScenario(text('false'), 'x.yaml').faults[0];
  assert.is(off?.kind === 'corrupt' ? off.whileOthersWhole : null, undefined);
  assert.match(errorOf(text('3')), /faults\[0\]\.whileOthersWhole: expected true or false/);
});

S('missing required fields are named, all at once', () => {
  const msg = errorOf('description: d\nworkload: {}\n');
  assert.match(msg, /name: required field is missing/);
  assert.match(msg, /duration: required field is missing/);
  assert.match(msg, /cluster: required field is missing/);
});

S('YAML syntax errors carry their position', () => {
  assert.match(errorOf('name: [unclosed\nduration: 1s\n'), /^x\.yaml:\d+:\d+: YAML syntax:/);
});

S('unknown bugs and checks are refused; expect needs the check', () => {
  assert.match(errorOf(GOOD + 'bugs: [ack-before-nothing]\n'), /bugs\[0\]: expected one of duplicate-apply/);
  assert.match(errorOf(GOOD + 'checks: [liveness]\nexpect: { lost-writes: fail }\n'), /expect\.lost-writes: the check is not in checks/);
});

S('a seed range is read', () => {
  assert.equal(parseScenario(GOOD + 'seed: 5..9\n', 'x.yaml').seeds, { first: 5, last: 9 });
  assert.match(errorOf(GOOD + 'seed: 9..5\n'), /range 9\.\.5 is empty/);
});

const RAFT = `name: t
description: a test
duration: 4s
cluster: { nodes: 3, replication: raft, engine: lsm }
workload: { mix: { read: 1, write: 1 } }
faults:
`;

const RAFT_FAULTS = RAFT;

S('the fault kinds of issue 17 parse: crash-at, isolate-leader, leader-churn, delay, transfer', () => {
  const s = parseScenario(
    RAFT +
      `  - { at: 1s, for: 300ms, kind: crash-at, point: raft.afterPersistBeforeSend }
  - { at: 1s, kind: crash-at, point: lsm.flushBeforeEdit, node: n2, after: 3, within: 2s, disk: torn }
  - { at: 1s, for: 500ms, kind: isolate-leader }
  - { at: 2s, until: 3s, kind: leader-churn }
  - { at: 2s, for: 1s, kind: delay, node: leader, max: 900ms, direction: out }
  - { at: 3s, kind: transfer }
`,
    'x.yaml',
  );
  const [a, b, c, d, e, f] = s.faults;
  assert.equal(a, { atNs: 1e9, forNs: 3e8, line: 7, kind: 'crash-at', node: 'any', point: 'raft.afterPersistBeforeSend', after: null, withinNs: 1e9 });
  assert.equal(b, { atNs: 1e9, line: 8, kind: 'crash-at', node: 'n2', point: 'lsm.flushBeforeEdit', after: 3, withinNs: 2e9, disk: 'torn' });
  assert.equal(c, { atNs: 1e9, forNs: 5e8, line: 9, kind: 'isolate-leader', afterWrites: true, clients: 'keep', withinNs: 1e9 });
  // leader-churn is isolate-leader, repeated: every 600ms for 450ms unless the file says otherwise.
  assert.equal(d, { atNs: 2e9, forNs: 4.5e8, everyNs: 6e8, untilNs: 3e9, line: 10, kind: 'isolate-leader', afterWrites: true, clients: 'keep', withinNs: 6e8 });
  assert.equal(e, { atNs: 2e9, forNs: 1e9, line: 11, kind: 'delay', node: 'leader', minNs: 0, maxNs: 9e8, direction: 'out' });
  assert.equal(f, { atNs: 3e9, line: 12, kind: 'transfer', node: 'follower' });
  assert.ok(s.checks.includes('leader-stability') && s.checks.includes('applied-results') && s.checks.includes('recovery'));
});

S('bad values of the new faults are refused, naming what is allowed', () => {
  assert.match(errorOf(RAFT + '  - { at: 1s, kind: crash-at, point: raft.nowhere }\n'), /point: expected one of raft\.beforePersist, /);
  assert.match(errorOf(RAFT + '  - { at: 1s, kind: delay, node: n1, min: 2s, max: 1s }\n'), /delay needs min <= max/);
  assert.match(errorOf(RAFT + '  - { at: 1s, kind: transfer, node: n9 }\n'), /transfer names node n9/);
  assert.match(errorOf(GOOD.replace('kind: loss, probability: 0.1', 'kind: isolate-leader')), /isolate-leader acts on a Raft leader; it needs replication raft/);
  assert.match(errorOf(GOOD + 'checks: [leader-stability]\n'), /checks: leader-stability needs replication raft/);
});

S('the isolation check: on by default for transactional workloads (one group or across shards), refused without transactions', () => {
  const txn = `name: t
description: a test
duration: 2s
cluster: { nodes: 3, replication: raft }
workload: { kind: txn-list-append, clients: 2 }
`;
  assert.ok(parseScenario(txn, 'x.yaml').checks.includes('isolation'));
  assert.not.ok(parseScenario(GOOD, 'x.yaml').checks.includes('isolation'));
  assert.match(errorOf(GOOD + 'checks: [isolation]\n'), /checks: isolation judges transactions; it needs workload.kind txn-list-append or txn-rw-register/);
  assert.ok(parseScenario(txn.replace('nodes: 3, replication: raft', 'nodes: 3, replication: raft, shards: 4'), 'x.yaml').checks.includes('isolation'), 'two-phase commit runs transactions across shards');
});

S('preset tiny shrinks the engines and the Raft log; cluster.storage overrides it field by field', () => {
  const RAFT = RAFT_FAULTS.replace('faults:\n', '');
  const s = parseScenario(RAFT.replace('engine: lsm', 'engine: lsm, preset: tiny, storage: { lsm: { memtableBytes: 4KiB } }'), 'x.yaml');
  assert.is(s.cluster.storage.lsm?.memtableBytes, 4096);
  assert.is(s.cluster.storage.lsm?.targetFileBytes, 2048);
  assert.is(s.cluster.storage.bitcask?.fileBytesMax, 8192);
  assert.is(s.cluster.raft.snapshotEntries, 60);
  assert.is(s.cluster.raft.logSegmentBytes, 8192);
  assert.equal(parseScenario(RAFT, 'x.yaml').cluster.storage, {}, 'without a preset the engines keep their defaults');
  assert.match(errorOf(RAFT.replace('engine: lsm', 'engine: lsm, storage: { lsm: { memtableBytes: 10 } }')), /cluster\.storage: lsm option memtableBytes must be a number in \[256/);
  assert.match(errorOf(RAFT.replace('engine: lsm', 'engine: lsm, storage: { lsm: { memtablBytes: 4096 } }')), /cluster\.storage\.lsm\.memtablBytes: unknown field/);
});

S('workload.attemptTimeout: native clients wait that long per attempt; other protocols refuse it', () => {
  const native = GOOD.replace('  clients: 2\n', '  clients: 2\n  protocol: native\n  attemptTimeout: 1200ms\n');
  assert.is(parseScenario(native, 'x.yaml').workload.attemptTimeoutNs, 1.2e9);
  assert.is(parseScenario(GOOD, 'x.yaml').workload.attemptTimeoutNs, undefined);
  assert.match(errorOf(GOOD.replace('  clients: 2\n', '  clients: 2\n  attemptTimeout: 1s\n')), /workload\.attemptTimeout: only native clients retry by attempt \(protocol is line\)/);
});

S.run();
