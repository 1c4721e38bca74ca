import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseScenario } from '../../sim/scenario.js';
import { durationText, scenarioYaml } from '../../sim/scenario-text.js';

/**
 * scenarioYaml writes a Scenario back as a file (minimal.yaml, an explored run's scenario.yaml).
 * It asserts the text parses back into the same scenario, so every shipped file written back is
 * a test of every field the schema has: a field added to the schema and not written fails here.
 */
const S = suite('scenario files written back');

const root = join(import.meta.dirname, '..', '..');
const DIRS = ['scenarios', 'scenarios/raft', 'scenarios/primary', 'scenarios/bugs', 'scenarios/shards'];

for (const dir of DIRS) {
  S(`every file of ${dir}/ round-trips`, () => {
    const names = readdirSync(join(root, dir)).filter((n) => n.endsWith('.yaml'));
    assert.ok(names.length > 0);
    for (const n of names) {
      const file = join(root, dir, n);
      const s = parseScenario(readFileSync(file, 'utf8'), file);
      const text = scenarioYaml(s, ['a header']);
      assert.ok(text.startsWith('# a header\nname: '), file);
      // Written twice, the same text: nothing in it depends on where it was read.
      assert.is(scenarioYaml(parseScenario(text, 'back.yaml')), scenarioYaml(s), file);
    }
  });
}

S('a preset and crash-at without after: are written as the sizes and fields they stand for', () => {
  const text = `name: t
description: d
duration: 2s
cluster: { nodes: 3, replication: raft, engine: lsm, preset: tiny }
workload: { clients: 2 }
faults:
  - { at: 1s, kind: crash-at, node: any, point: lsm.flushBeforeEdit }
heal: { recoverWithin: 2s, recoverFraction: 0.25 }
`;
  const s = parseScenario(text, 't.yaml');
  const back = scenarioYaml(s);
  assert.match(back, /storage: \{ lsm: \{ memtableBytes: /);
  assert.not.match(back, /after:/);
  assert.match(back, /recoverWithin: 2s/);
  assert.match(back, /recoverFraction: 0.25/);
  assert.equal(parseScenario(back, 't.yaml').cluster.storage, s.cluster.storage);
});

S('gossip settings: the numbers that differ from the defaults, and Lifeguard when it is off', () => {
  const text = `name: t
description: d
duration: 2s
cluster: { nodes: 3, replication: raft, gossip: { probeIntervalMs: 2000, lifeguard: false } }
workload: { clients: 2 }
`;
  const s = parseScenario(text, 't.yaml');
  const back = scenarioYaml(s);
  assert.match(back, /gossip: \{ probeIntervalMs: 2000, lifeguard: false \}/);
  assert.equal(parseScenario(back, 't.yaml').cluster.gossip, s.cluster.gossip);
  assert.not.match(scenarioYaml(parseScenario(text.replace(', lifeguard: false', ''), 't.yaml')), /lifeguard/);
});

S('durations in the largest unit that is exact', () => {
  assert.is(durationText(3e9), '3s');
  assert.is(durationText(1_500_000_000), '1500ms');
  assert.is(durationText(0), '0ms');
  assert.is(durationText(90e9), '90s');
  assert.is(durationText(120e9), '2m');
  assert.is(durationText(1500), '1500ns');
});

S.run();
