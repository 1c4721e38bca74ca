/**
 * Every shipped gossip scenario passes both checks on a small cluster (Lifeguard on, the default).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GOSSIP_SCENARIOS, runGossipScenario } from '../../../sim/gossip/scenarios.js';

for (const name of Object.keys(GOSSIP_SCENARIOS)) {
  test(`scenario ${name} passes at 8 nodes`, () => {
    const r = runGossipScenario(name, { seed: 1 });
    assert.ok(r.pass, r.checks.map((c) => `${c.name}: ${c.summary}\n  ${c.details.join('\n  ')}`).join('\n'));
  });
}

test.run();
