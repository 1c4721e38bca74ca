/**
 * The membership core's rules one at a time: defaults and timings, bounded inputs (malformed
 * frames, ping-req floods, push-pull floods, too many members), suspicion timeouts with and
 * without Lifeguard, metadata updates, and the broadcast queue's order.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SeededRng } from '../../../src/env/rng.js';
import { BroadcastQueue } from '../../../src/cluster/gossip/broadcast.js';
import { encodeMessage, updateSize } from '../../../src/cluster/gossip/codec.js';
import { GossipNode } from '../../../src/cluster/gossip/node.js';
import {
  DEFAULT_GOSSIP_OPTIONS, dynamicSuspicionTimeoutMs, expectedConfirmations, gossipOptions, pushPullIntervalFor, retransmitLimit, suspicionTimeoutMs,
} from '../../../src/cluster/gossip/options.js';
import { EMPTY_META, type Update } from '../../../src/cluster/gossip/types.js';
import { Harness } from './harness.js';

test("defaults are memberlist's LAN profile", () => {
  const o = DEFAULT_GOSSIP_OPTIONS;
  assert.equal(
    [o.probeIntervalMs, o.probeTimeoutMs, o.indirectChecks, o.suspicionMult, o.suspicionMaxTimeoutMult, o.retransmitMult, o.gossipIntervalMs, o.gossipNodes, o.pushPullIntervalMs, o.awarenessMax],
    [1000, 500, 3, 4, 6, 4, 200, 3, 30_000, 8],
  );
  assert.equal(o.lifeguard, { localHealth: true, dynamicSuspicion: true, buddySystem: true });
});

test('timings scale with the cluster size as memberlist computes them', () => {
  const o = DEFAULT_GOSSIP_OPTIONS;
  assert.equal([1, 3, 10, 100, 1000].map((n) => suspicionTimeoutMs(o, n)), [4000, 4000, 4000, 8000, 12000]);
  assert.equal([1, 9, 10, 99, 100, 1000].map((n) => retransmitLimit(o, n)), [4, 4, 8, 8, 12, 16]);
  assert.equal([3, 4, 10].map((n) => expectedConfirmations(o, n)), [0, 2, 2]);
  // 6× the base at first; ln 2 / ln 3 of the way down after one confirmation; the base after two.
  assert.equal([0, 1, 2, 3].map((c) => dynamicSuspicionTimeoutMs(4000, 24000, c, 2)), [24000, 11381, 4000, 4000]);
  assert.equal([32, 33, 64, 1000].map((n) => pushPullIntervalFor(o, n)), [30_000, 60_000, 60_000, 180_000]);
});

test('bad options and bad metadata are refused, naming the knob', () => {
  assert.throws(() => gossipOptions({ probeTimeoutMs: 2000 }), /probeTimeoutMs \(2000\) must not exceed probeIntervalMs/);
  assert.throws(() => gossipOptions({ gossipNodes: 0 }), /gossipNodes must be an integer in \[1, 64\], got 0/);
  assert.throws(() => gossipOptions({ packetBytesMax: 1.5 }), /packetBytesMax must be an integer/);
  assert.throws(() => new GossipNode({ id: 'n 1', meta: EMPTY_META, rng: new SeededRng('x'), nowMs: 0 }), /is not 1-64 letters/);
  assert.throws(() => new GossipNode({ id: 'n1', meta: { ...EMPTY_META, weight: -1 }, rng: new SeededRng('x'), nowMs: 0 }), /weight must be/);
});

test('malformed, oversized and misdirected frames are dropped and counted, never thrown', () => {
  const h = new Harness({ ids: ['n1', 'n2'] });
  const n1 = h.node('n1');
  n1.receive('n2', new Uint8Array([1, 2, 3]), 0);
  n1.receive('n2', Uint8Array.from({ length: 5000 }, (_, i) => [0x47, 1, 5][i] ?? 0), 0);
  n1.receive('n2', encodeMessage({ type: 'ping', seq: 1, source: 'n2', target: 'n9', updates: [] }), 0);
  n1.receive('n2', encodeMessage({ type: 'ping', seq: 1, source: 'n1', target: 'n1', updates: [] }), 0);
  assert.equal([n1.stats.droppedMalformed, n1.stats.droppedOversized, n1.stats.droppedMisdirected], [1, 1, 2]);
  assert.is(h.collect('n1').length, 0, 'nothing answered');
});

test('a flood of ping-reqs is bounded by helpersMax; a flood of push-pulls by its rate', () => {
  const h = new Harness({ ids: ['n1', 'n2', 'n3'], options: { helpersMax: 4, pushPullRepliesPerSecondMax: 2 } });
  const n1 = h.node('n1');
  for (let i = 0; i < 10; i++) n1.receive('n2', encodeMessage({ type: 'ping-req', seq: i, source: 'n2', target: 'n3', wantNack: false, updates: [] }), 0);
  assert.is(n1.stats.droppedHelpersFull, 6);
  assert.is(h.collect('n1').filter((f) => f.message.type === 'ping').length, 4);
  for (let i = 0; i < 5; i++) n1.receive('n2', encodeMessage({ type: 'push-pull', source: 'n2', join: false, reply: false, members: [] }), 0);
  assert.is(n1.stats.pushPullLimited, 3);
  n1.receive('n2', encodeMessage({ type: 'push-pull', source: 'n2', join: false, reply: false, members: [] }), 1000);
  assert.is(n1.stats.pushPullLimited, 3, 'a second later the bucket has refilled');
});

test('members beyond membersMax are dropped and counted', () => {
  const h = new Harness({ ids: ['n1'], options: { membersMax: 3 } });
  const n1 = h.node('n1');
  const updates: Update[] = Array.from({ length: 5 }, (_, i) => ({ kind: 'alive', id: `m${i}`, incarnation: 0, meta: EMPTY_META }));
  n1.receive('m0', encodeMessage({ type: 'gossip', source: 'm0', updates }), 0);
  assert.is(n1.snapshot().length, 4);
  assert.is(n1.stats.droppedMembersFull, 2);
});

/** n1 suspects n2 alone (its probes of n2 fail); how long until n1 declares n2 dead? */
function loneSuspicionMs(lifeguard: boolean, confirmers: string[]): number {
  const ids = ['n1', 'n2', 'n3', 'n4', 'n5'];
  const h = new Harness({ ids, options: { lifeguard } });
  h.cutLink('n1', 'n2'); // n1's pings and helpers' relays to n1 do not matter: n2 never hears n1
  h.cutLink('n2', 'n1');
  for (const x of ['n3', 'n4', 'n5']) {
    h.cutLink(x, 'n2');
    h.cutLink('n2', x);
  }
  let suspectedAt: number | null = null;
  for (let t = 0; t < 60_000; t += 100) {
    h.run(100);
    const m = h.node('n1').member('n2')!;
    if (m.state === 'suspect' && suspectedAt === null) {
      suspectedAt = h.nowMs;
      // Confirmations from others, as their own failed probes would send.
      for (const c of confirmers) h.node('n1').receive(c, encodeMessage({ type: 'gossip', source: c, updates: [{ kind: 'suspect', id: 'n2', incarnation: m.incarnation, from: c }] }), h.nowMs);
    }
    if (m.state === 'dead' && suspectedAt !== null) return h.nowMs - suspectedAt;
  }
  throw new Error('n2 was never declared dead');
}

test('suspicion timeout: fixed without Lifeguard; with it, long for a lone accuser and short once confirmed', () => {
  // Five members: base 4 s (log10 5 < 1), max 24 s, 2 confirmations expected. The others cannot
  // reach n2 either, so they accuse it too unless we look before they do: count what n1 does.
  const plain = loneSuspicionMs(false, []);
  const confirmed = loneSuspicionMs(true, ['n3', 'n4']);
  assert.ok(plain >= 3900 && plain <= 4200, `plain SWIM: ${plain} ms`);
  assert.ok(confirmed >= 3900 && confirmed <= 4200, `two confirmations: ${confirmed} ms`);
});

test('a lone accuser waits the maximum with dynamic suspicion', () => {
  const h = new Harness({ ids: ['n1', 'n2', 'n3', 'n4', 'n5'], options: { lifeguard: true } });
  const n1 = h.node('n1');
  n1.receive('n3', encodeMessage({ type: 'gossip', source: 'n3', updates: [{ kind: 'suspect', id: 'n2', incarnation: 0, from: 'n3' }] }), 0);
  const s = n1.member('n2')!.suspicion!;
  assert.is(s.deadlineMs, 24_000);
  n1.receive('n4', encodeMessage({ type: 'gossip', source: 'n4', updates: [{ kind: 'suspect', id: 'n2', incarnation: 0, from: 'n4' }] }), 10);
  assert.is(n1.member('n2')!.suspicion!.deadlineMs, 11_381);
  n1.receive('n4', encodeMessage({ type: 'gossip', source: 'n4', updates: [{ kind: 'suspect', id: 'n2', incarnation: 0, from: 'n4' }] }), 20);
  assert.is(n1.member('n2')!.suspicion!.deadlineMs, 11_381, 'the same confirmer counts once');
  n1.receive('n5', encodeMessage({ type: 'gossip', source: 'n5', updates: [{ kind: 'suspect', id: 'n2', incarnation: 0, from: 'n5' }] }), 30);
  assert.is(n1.member('n2')!.suspicion!.deadlineMs, 4000);
});

test("a push-pull table's suspicion is nobody's accusation: it confirms nothing and is not re-gossiped", () => {
  const h = new Harness({ ids: ['n1', 'n2', 'n3', 'n4', 'n5'] });
  const n1 = h.node('n1');
  n1.receive('n3', encodeMessage({ type: 'gossip', source: 'n3', updates: [{ kind: 'suspect', id: 'n2', incarnation: 0, from: 'n3' }] }), 0);
  h.collect('n1');
  const table = (source: string) => encodeMessage({ type: 'push-pull', source, join: false, reply: true, members: [{ id: 'n2', incarnation: 0, state: 'suspect', meta: EMPTY_META }] });
  n1.receive('n4', table('n4'), 10);
  n1.receive('n5', table('n5'), 20);
  assert.is(n1.member('n2')!.suspicion!.confirmations, 0);
  assert.is(n1.member('n2')!.suspicion!.deadlineMs, 24_000);
  // A table naming a member we hold alive starts a suspicion here, but sends no accusation on.
  const h2 = new Harness({ ids: ['n1', 'n2', 'n3'] });
  h2.node('n1').receive('n3', table('n3'), 0);
  assert.is(h2.node('n1').member('n2')!.state, 'suspect');
  const sent = h2.collect('n1').flatMap((f) => (f.message.type === 'push-pull' ? [] : f.message.updates));
  assert.not.ok(sent.some((u) => u.kind === 'suspect'), 'the suspicion travelled on');
});

test('a suspicion at a higher incarnation than the running one starts anew; its refutation then counts', () => {
  const h = new Harness({ ids: ['n1', 'n2', 'n3', 'n4', 'n5'] });
  const n1 = h.node('n1');
  const gossip = (u: Update, at: number) => n1.receive('n3', encodeMessage({ type: 'gossip', source: 'n3', updates: [u] }), at);
  gossip({ kind: 'suspect', id: 'n2', incarnation: 0, from: 'n3' }, 0);
  gossip({ kind: 'suspect', id: 'n2', incarnation: 1, from: 'n4' }, 1000);
  const m = n1.member('n2')!;
  assert.is(m.incarnation, 1);
  assert.is(m.suspicion!.startMs, 1000, 'a new timer');
  assert.is(m.suspicion!.accuser, 'n4');
  gossip({ kind: 'alive', id: 'n2', incarnation: 2, meta: EMPTY_META }, 2000);
  assert.is(n1.member('n2')!.state, 'alive');
});

test('reconnect: a member believed dead gets a full-state exchange now and then, the oldest-tried first', () => {
  const h = new Harness({ ids: ['n1', 'n2', 'n3', 'n4'], options: { reconnectIntervalMs: 1000 } });
  const n1 = h.node('n1');
  for (const id of ['n2', 'n3', 'n4']) n1.receive(id, encodeMessage({ type: 'gossip', source: id, updates: [{ kind: 'dead', id, incarnation: 0, from: id === 'n2' ? 'n3' : 'n2', left: false }] }), 0);
  h.collect('n1');
  const targets: string[] = [];
  for (let t = 0; t < 4; t++) {
    h.advance(1000);
    for (const f of h.inflight.splice(0)) if (f.from === 'n1' && f.message.type === 'push-pull') targets.push(f.to);
  }
  assert.equal(targets.slice(0, 3).sort(), ['n2', 'n3', 'n4'], `tried ${targets.join(',')}`);
});

test('new metadata travels with a higher incarnation and is an update event everywhere', () => {
  const h = new Harness({ ids: ['n1', 'n2', 'n3'] });
  h.node('n2').updateMeta({ ...EMPTY_META, zone: 'eu-west-1a', weight: 200 }, 0);
  h.collect('n2');
  h.run(2000);
  for (const id of ['n1', 'n3']) {
    const m = h.node(id).member('n2')!;
    assert.is(m.meta.zone, 'eu-west-1a');
    assert.is(m.incarnation, 1);
    assert.ok(h.events.some((e) => e.observer === id && e.event.type === 'update' && e.event.id === 'n2'));
  }
});

test('the noRefute bug turns a brief cut into a false death; without it the member refutes', () => {
  for (const noRefute of [false, true]) {
    const h = new Harness({ ids: ['n1', 'n2', 'n3', 'n4'], options: { bugs: { noRefute } }, seed: 'refute-bug' });
    for (const x of ['n1', 'n2', 'n3']) h.cutLink(x, 'n4');
    h.run(2500);
    h.heal();
    h.run(30_000); // past the 24 s a lone accusation can last with dynamic suspicion
    const died = h.events.some((e) => e.event.type === 'dead' && e.event.id === 'n4');
    assert.is(died, noRefute, `noRefute=${noRefute}`);
  }
});

test('the broadcast queue sends fewest-sent first, newest first among equals, each once per frame, up to its limit', () => {
  const q = new BroadcastQueue();
  const alive = (id: string, incarnation = 0): Update => ({ kind: 'alive', id, incarnation, meta: EMPTY_META });
  q.enqueue(alive('a'));
  q.enqueue(alive('b'));
  assert.equal(q.take(1000, 10, 3, updateSize).map((u) => u.id), ['b', 'a']);
  q.enqueue(alive('c'));
  assert.equal(q.take(1000, 10, 3, updateSize).map((u) => u.id), ['c', 'b', 'a']);
  q.enqueue(alive('a', 1)); // replaces the older news about a, which had been sent twice
  assert.equal(q.take(1000, 10, 3, updateSize).map((u) => `${u.id}${u.incarnation}`), ['a1', 'c0', 'b0']);
  assert.is(q.size, 2, 'b reached its limit of 3 and left');
  assert.equal(q.take(updateSize(alive('x')), 10, 3, updateSize).length, 1, 'the byte budget holds one');
  assert.equal(q.take(1000, 0, 3, updateSize), []);
});


test('a node that hears nothing at all blames itself: Lifeguard withholds its accusations, for awarenessMax periods at most', () => {
  const deafen = (lifeguard: boolean) => {
    const ids = ['n1', 'n2', 'n3', 'n4', 'n5'];
    const h = new Harness({ ids, options: { lifeguard } });
    h.run(3_000);
    const before = h.node('n1').stats.suspicionsRaised;
    // Its receive path dies (a stalled process): everything to n1 is lost, its own frames go out.
    for (const id of ids) if (id !== 'n1') h.cutLink(id, 'n1');
    h.run(2_500);
    const raisedDeaf = h.node('n1').stats.suspicionsRaised - before;
    const suspectedDeaf = h.view('n1').includes(':suspect');
    // Local health, raised by each probe's missing nacks, stretches the probe period up to 8 s.
    h.run(25_000);
    return { raisedDeaf, suspectedDeaf, withheld: h.node('n1').stats.suspicionsWithheld, raisedLater: h.node('n1').stats.suspicionsRaised - before };
  };
  const lg = deafen(true);
  assert.is(lg.raisedDeaf, 0, 'Lifeguard accused a member while it heard nothing');
  assert.not.ok(lg.suspectedDeaf);
  assert.ok(lg.withheld >= 2, `withheld ${lg.withheld}`);
  // Past awarenessMax (8) probe periods of silence, the silence is the others' failure after all.
  assert.ok(lg.raisedLater > 0, 'a node whose peers all went silent never accused anyone');
  const swim = deafen(false);
  assert.ok(swim.raisedDeaf >= 1 && swim.suspectedDeaf, 'plain SWIM accuses as soon as its probe fails');
  assert.is(swim.withheld, 0);
});

test.run();
