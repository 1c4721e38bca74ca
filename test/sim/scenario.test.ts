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

S.run();
