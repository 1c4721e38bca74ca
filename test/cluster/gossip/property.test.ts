/**
 * Random schedules of crashes, restarts, one-way cuts and message loss against small clusters of
 * gossip cores. Safety, checked after every step: a member never sees itself other than alive, and
 * nobody holds an incarnation of a member higher than that member ever had (only a member raises
 * its own). Liveness, once everything heals: every running member sees exactly the running
 * members alive. fast-check prints the seed and path of a failure.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Harness } from './harness.js';

const IDS = ['n1', 'n2', 'n3', 'n4', 'n5'];

type Action =
  | { kind: 'run'; ms: number }
  | { kind: 'crash'; id: string }
  | { kind: 'restart'; id: string }
  | { kind: 'cut'; from: string; to: string }
  | { kind: 'heal' }
  | { kind: 'loss'; rate: number };

const idArb = fc.constantFrom(...IDS);
const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 50, max: 3000 }).map((ms) => ({ kind: 'run' as const, ms })) },
  { weight: 1, arbitrary: idArb.map((id) => ({ kind: 'crash' as const, id })) },
  { weight: 1, arbitrary: idArb.map((id) => ({ kind: 'restart' as const, id })) },
  { weight: 2, arbitrary: fc.tuple(idArb, idArb).map(([from, to]) => ({ kind: 'cut' as const, from, to })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'heal' as const }) },
  { weight: 1, arbitrary: fc.constantFrom(0, 0.05, 0.2).map((rate) => ({ kind: 'loss' as const, rate })) },
);

function checkSafety(h: Harness, maxIncarnation: Map<string, number>): void {
  for (const [id, node] of h.nodes) {
    if (h.down.has(id)) continue;
    maxIncarnation.set(id, Math.max(maxIncarnation.get(id) ?? 0, node.incarnation));
  }
  for (const [id, node] of h.nodes) {
    if (h.down.has(id)) continue;
    for (const s of node.snapshot()) {
      if (s.id === id) assert.is(s.state, 'alive', `${id} sees itself ${s.state}`);
      else assert.ok(s.incarnation <= (maxIncarnation.get(s.id) ?? 0), `${id} holds ${s.id}@${s.incarnation}, above anything ${s.id} ever had`);
    }
  }
}

function runSchedule(actions: Action[], seed: number, lifeguard: boolean): void {
  const h = new Harness({ ids: IDS, options: { lifeguard }, seed: `p${seed}` });
  const maxIncarnation = new Map<string, number>();
  for (const a of actions) {
    if (a.kind === 'run') h.run(a.ms);
    else if (a.kind === 'crash') h.crash(a.id);
    else if (a.kind === 'restart') {
      if (h.down.has(a.id)) h.restart(a.id, IDS.filter((x) => x !== a.id));
    } else if (a.kind === 'cut') h.cutLink(a.from, a.to);
    else if (a.kind === 'heal') h.heal();
    else h.lossRate = a.rate;
    checkSafety(h, maxIncarnation);
  }
  // Heal everything; then long enough for a reconnection attempt (one every 30 s) to each of up
  // to 4 dead members, a push-pull period (30 s) and the longest suspicion (24 s).
  h.heal();
  h.lossRate = 0;
  h.run(200_000);
  checkSafety(h, maxIncarnation);
  const up = IDS.filter((id) => !h.down.has(id)).sort();
  for (const id of up) {
    const alive = h.node(id).snapshot().filter((s) => s.state === 'alive').map((s) => s.id).sort();
    assert.equal(alive, up, `after healing, ${id} sees ${h.view(id)}`);
  }
}

test('regression: both sides of a healed cut declared each other dead, and must meet again (Serf-style reconnect)', () => {
  // FC_SEED=20261122 found it: n2 could hear nobody, declared everyone dead and was declared dead;
  // nobody probes, gossips with or syncs with the dead, so the split outlived the cut.
  const actions: Action[] = [
    { kind: 'crash', id: 'n3' }, { kind: 'cut', from: 'n4', to: 'n2' }, { kind: 'cut', from: 'n1', to: 'n2' }, { kind: 'run', ms: 50 },
    { kind: 'cut', from: 'n5', to: 'n2' }, { kind: 'run', ms: 1647 }, { kind: 'run', ms: 1148 }, { kind: 'run', ms: 2847 }, { kind: 'run', ms: 2211 },
  ];
  runSchedule(actions, 0, false);
});

test('regression: two survivors dead to each other among truly dead members must still meet (FC seed 1845719010)', () => {
  const actions: Action[] = [
    { kind: 'cut', from: 'n4', to: 'n2' }, { kind: 'crash', id: 'n5' }, { kind: 'cut', from: 'n1', to: 'n4' }, { kind: 'crash', id: 'n3' },
    { kind: 'run', ms: 50 }, { kind: 'run', ms: 50 }, { kind: 'run', ms: 111 }, { kind: 'run', ms: 1488 }, { kind: 'run', ms: 2234 },
    { kind: 'crash', id: 'n1' }, { kind: 'run', ms: 50 },
  ];
  for (const lifeguard of [true, false]) runSchedule(actions, 119918433, lifeguard);
});

test('safety under random faults, and convergence after healing (Lifeguard on and off)', () => {
  for (const lifeguard of [true, false]) {
    fc.assert(
      fc.property(fc.array(actionArb, { minLength: 10, maxLength: 60 }), fc.nat(), (actions, seed) => runSchedule(actions, seed, lifeguard)),
      { numRuns: 40 },
    );
  }
});

test.run();
