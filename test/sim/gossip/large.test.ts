/**
 * A thousand gossiping nodes in one simulated cluster: a crash is detected by all 999 others and
 * a new node is met by all of them, with the default (memberlist LAN) settings.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GossipCluster } from '../../../sim/gossip/cluster.js';
import { checkMembership, EventWatch } from '../../../sim/gossip/checks.js';

test('1,000 nodes: a crash is seen dead everywhere and a join reaches everyone', () => {
  const c = new GossipCluster({ seed: 'large', traceEvents: false });
  const ids = Array.from({ length: 1000 }, (_, i) => `n${i + 1}`);
  const watch = new EventWatch(c);
  c.startConverged(ids);
  c.runForMs(5_000);
  c.crash('n500');
  c.add('n1001', ['n1']);
  const result = checkMembership(c, watch, { healTimeoutMs: 60_000 });
  assert.ok(result.pass, `${result.summary}\n${result.details.join('\n')}`);
  assert.is(c.upIds().length, 1000);
  // Exact views need n500 out of "alive"; dead takes its suspicion timeout (12 s at N = 1000).
  c.runForMs(15_000);
  for (const id of ['n1', 'n999', 'n1001']) {
    assert.is(c.node(id).runtime!.node.member('n500')!.state, 'dead', `${id} sees n500 ${c.node(id).runtime!.node.member('n500')!.state}`);
  }
});

test.run();
