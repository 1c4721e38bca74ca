/**
 * The gossip harness replays a seed bit for bit, and each check catches its planted bug: a checker
 * that cannot fail proves nothing.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runGossipScenario } from '../../../sim/gossip/scenarios.js';

test('the same seed gives the same digest; another seed another run', () => {
  for (const name of ['flapping', 'join-storm']) {
    const a = runGossipScenario(name, { seed: 7 });
    const b = runGossipScenario(name, { seed: 7 });
    const c = runGossipScenario(name, { seed: 8 });
    assert.is(a.digest, b.digest, `${name}: two runs of seed 7 differ`);
    assert.is(a.events, b.events);
    assert.is.not(a.digest, c.digest, `${name}: seeds 7 and 8 gave the same run`);
  }
});

test('membership catches the noRefute bug (live members declared dead) in every one of 3 seeds', () => {
  for (const seed of [1, 2, 3]) {
    // A short heal timeout: the views never agree here, so the check would wait it out.
    const r = runGossipScenario('flapping', { seed, bugs: { noRefute: true }, healTimeoutMs: 10_000 });
    const m = r.checks.find((c) => c.name === 'membership')!;
    assert.not.ok(m.pass, `seed ${seed}: ${m.summary}`);
    assert.match(m.details.join('\n'), /false death: at \d+ ms n\d+ declared n2@\d+ dead/);
  }
});

test('ring-balance catches the dropMetaUpdates bug (members disagree on a weight) in every one of 3 seeds', () => {
  for (const seed of [1, 2, 3]) {
    const r = runGossipScenario('leave-and-weight', { seed, bugs: { dropMetaUpdates: true }, healTimeoutMs: 10_000 });
    const ring = r.checks.find((c) => c.name === 'ring-balance')!;
    assert.not.ok(ring.pass, `seed ${seed}: ${ring.summary}`);
    assert.match(ring.summary, /2 different rings among 7 nodes/);
    // Not one straggler: every member but n3 itself kept n3's old weight.
    assert.ok(ring.details.some((d) => /^6 node\(s\) .* build ring .*n3:1:z2/.test(d)), ring.details.join('\n'));
    assert.ok(r.checks.find((c) => c.name === 'membership')!.pass, 'the membership itself is right');
  }
});

test('plain SWIM (Lifeguard off) shows false deaths where Lifeguard has none: flapping, seed 1', () => {
  const off = runGossipScenario('flapping', { seed: 1, lifeguard: false });
  const on = runGossipScenario('flapping', { seed: 1, lifeguard: true });
  assert.ok(off.falseDeaths > 0, `plain SWIM: ${off.falseDeaths}`);
  assert.is(on.falseDeaths, 0);
});

test.run();
