import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Env } from '../../src/env/env.js';
import { RaftReplica } from '../../src/node/raft-replica.js';
import type { RaftDebugState } from '../../src/replication/raft/node.js';
import { failpoint, FailpointCrash, isFailpointName, setFailpointHandler } from '../../src/util/failpoints.js';
import { DEFAULT_DISK_OPTIONS } from '../../sim/disk.js';
import { Nemesis } from '../../sim/nemesis.js';
import { kvNodeOf } from '../../sim/node-process.js';
import { runScenario } from '../../sim/runner.js';
import { NS_PER_MS } from '../../sim/scheduler.js';
import { parseScenario, type Fault } from '../../sim/scenario.js';
import { Trace } from '../../sim/trace.js';
import { World, type SimNode } from '../../sim/world.js';

// The fault patterns of issue 17: failpoints where a node loses power at an exact step, message
// delays long enough that stale frames overtake new ones, and the leader faults that make Raft
// logs diverge (isolate-leader, leader-churn) or move leadership (transfer). Each is shown doing
// what it says on a small protocol or a short Raft run.

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * Each tick: appends its sequence number to a file, passes the failpoint "after persist, before
 * send", then sends the number to every peer. A power cut at the failpoint leaves the number on
 * the page cache only, and never sent.
 */
class Persister implements SimNode {
  seq = 0;
  readonly received = new Map<string, number[]>();
  constructor(
    readonly env: Env,
    peers: string[],
  ) {
    env.net.onReceive((from, frame) => {
      const list = this.received.get(from) ?? [];
      list.push(Number(dec.decode(frame)));
      this.received.set(from, list);
    });
    const file = env.disk.open('log', 'create');
    const tick = () => {
      this.seq++;
      file.append(enc.encode(`${this.seq}\n`));
      failpoint('raft.afterPersistBeforeSend');
      for (const p of peers) if (p !== env.id) env.net.send(p, enc.encode(String(this.seq)));
      env.clock.timer(1, tick);
    };
    env.clock.timer(1, tick);
  }
  stop(): void {}
}

function persisters(seed: string) {
  const ids = ['n1', 'n2'];
  const nodes = new Map<string, Persister>();
  const world: World = new World({
    seed,
    nodeIds: ids,
    net: { latency: { minMs: 0.2, meanMs: 0.3, maxMs: 0.5 } },
    disk: DEFAULT_DISK_OPTIONS,
    trace: new Trace(false),
    createNode: (env) => {
      const p = new Persister(env, ids);
      nodes.set(`${env.id}#${world.machine(env.id).incarnation}`, p);
      return p;
    },
  });
  const nemesis = new Nemesis(world, world.rng.fork('nemesis'));
  world.start();
  return { world, nodes, nemesis, fault: (f: FaultInput) => nemesis.schedule([{ line: 0, ...f } as Fault]) };
}

type FaultInput = Fault extends unknown ? DistributiveOmit<Fault, 'line'> : never;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

const L = suite('lab faults: failpoints, delays, leader faults');

L('an unarmed failpoint does nothing; a handler sees each pass; names are checked', () => {
  failpoint('raft.beforeApply'); // no handler: nothing happens
  const seen: string[] = [];
  const before = setFailpointHandler((p) => seen.push(p));
  try {
    failpoint('lsm.flushBeforeEdit');
    failpoint('raft.proposed');
  } finally {
    setFailpointHandler(before);
  }
  assert.equal(seen, ['lsm.flushBeforeEdit', 'raft.proposed']);
  assert.ok(isFailpointName('raft.afterPersistBeforeSend'));
  assert.not.ok(isFailpointName('raft.afterPersistBeforeSnd'));
  assert.throws(() => new FailpointCrash('nope' as never, 'n1'), /unknown failpoint/);
});

L('crash-at cuts the power on the Nth pass: what followed the failpoint never ran, and for: restarts it', () => {
  const t = persisters('crash-at');
  const before = setFailpointHandler(t.nemesis.onFailpoint);
  try {
    // Armed between two ticks, it fires at the fifth pass after that: the fifth number was
    // persisted (to the page cache) and never sent.
    t.fault({ kind: 'crash-at', atNs: 10.5 * NS_PER_MS, forNs: 20 * NS_PER_MS, node: 'n1', point: 'raft.afterPersistBeforeSend', after: 5, withinNs: 1e9 });
    t.world.sched.runUntil(10.5 * NS_PER_MS);
    const first = t.nodes.get('n1#1') as Persister;
    const sentBefore = first.seq;
    t.world.sched.runUntil(17 * NS_PER_MS);
    assert.is(t.world.machine('n1').state, 'down');
    assert.is(first.seq, sentBefore + 5);
    const atN2 = (t.nodes.get('n2#1') as Persister).received.get('n1') ?? [];
    assert.is(Math.max(...atN2), sentBefore + 4, 'the crash came after persisting and before sending');
    assert.is(t.world.panics.length, 0, 'a failpoint crash is not a failed assertion');
    t.world.sched.runUntil(40 * NS_PER_MS);
    assert.is(t.world.machine('n1').state, 'up', 'for: restarted it');
    assert.ok(t.nodes.has('n1#2'));
    assert.equal(t.nemesis.activeLabels(), []);
  } finally {
    setFailpointHandler(before);
  }
});

L('crash-at without after: draws the pass from the seed; a failpoint not reached in time disarms', () => {
  const passes = (seed: string) => {
    const t = persisters(seed);
    const before = setFailpointHandler(t.nemesis.onFailpoint);
    try {
      t.fault({ kind: 'crash-at', atNs: 5 * NS_PER_MS, node: 'any', point: 'raft.afterPersistBeforeSend', after: null, withinNs: 1e9 });
      t.fault({ kind: 'crash-at', atNs: 5 * NS_PER_MS, node: 'n2', point: 'lsm.flushBeforeEdit', after: 1, withinNs: 10 * NS_PER_MS });
      t.world.sched.runUntil(5 * NS_PER_MS);
      const start = (t.nodes.get('n1#1') as Persister).seq + (t.nodes.get('n2#1') as Persister).seq;
      t.world.sched.runUntil(30 * NS_PER_MS);
      const end = (t.nodes.get('n1#1') as Persister).seq + (t.nodes.get('n2#1') as Persister).seq;
      const down = [...t.world.machines.values()].filter((m) => m.state === 'down').map((m) => m.id);
      assert.is(down.length, 1, 'one crash, by whichever node passed first; the other point was never reached');
      return end - start;
    } finally {
      setFailpointHandler(before);
    }
  };
  const a = passes('seed-a');
  assert.is(passes('seed-a'), a, 'the same seed, the same pass');
  const all = new Set(['seed-a', 'seed-b', 'seed-c', 'seed-d', 'seed-e', 'seed-f'].map(passes));
  assert.ok(all.size > 1, `different seeds crash at different passes (${[...all].join(', ')})`);
});

L('delay holds back one node\'s frames so that later ones overtake them; the other direction is untouched', () => {
  const t = persisters('delay');
  t.fault({ kind: 'delay', atNs: 0, forNs: 200 * NS_PER_MS, node: 'n1', minNs: 20 * NS_PER_MS, maxNs: 80 * NS_PER_MS, direction: 'out' });
  t.world.sched.runUntil(300 * NS_PER_MS);
  const fromN1 = (t.nodes.get('n2#1') as Persister).received.get('n1') ?? [];
  const fromN2 = (t.nodes.get('n1#1') as Persister).received.get('n2') ?? [];
  let inversions = 0;
  for (let i = 1; i < fromN1.length; i++) if ((fromN1[i] as number) < (fromN1[i - 1] as number)) inversions++;
  assert.ok(inversions > 20, `${inversions} of n1's frames arrived after later ones`);
  assert.equal(fromN2, [...fromN2].sort((a, b) => a - b), 'frames to n1 stay in order');
  // Under the delay n1's frames take 20 ms or more: at 100 ms, nothing n1 sent after ~80 ms has arrived.
  const tail = fromN1.slice(-20);
  assert.equal(tail, [...tail].sort((a, b) => a - b), 'after for: the link is FIFO again');
});

/** A short Raft run whose world the test inspects after every slice. */
function raftRun(faults: string, inspect: (world: World, nemesis: Nemesis) => void, extra = '') {
  const text = `name: t\ndescription: t\nduration: 3s\ncluster: { nodes: 3, engine: memory, replication: raft }\nworkload: { clients: 4, keys: 4, mix: { write: 1, read: 1 } }\n${extra}faults:\n${faults}`;
  const s = parseScenario(text, 't.yaml');
  return runScenario(s, { seed: 3, outDir: null, inspect }).summary;
}

function raftStates(world: World): RaftDebugState[] {
  const out: RaftDebugState[] = [];
  for (const m of world.machines.values()) {
    const r = m.state === 'up' ? kvNodeOf(m)?.replicaForInspection : null;
    if (r instanceof RaftReplica && r.raftNode !== null) out.push(r.raftNode.debugState());
  }
  return out;
}

L('isolate-leader leaves the old leader with entries of its term no other node holds, and the logs heal', () => {
  let diverged = false;
  const summary = raftRun('  - { at: 1s, for: 600ms, kind: isolate-leader }\n', (world, nemesis) => {
    if (!nemesis.activeLabels().some((l) => l.startsWith('isolate-leader'))) return;
    const states = raftStates(world);
    const isolated = /isolate-leader (n\d)/.exec(nemesis.activeLabels().join(' '))?.[1];
    const mine = states.find((s) => s.id === isolated);
    const others = states.filter((s) => s.id !== isolated);
    const held = new Set(others.flatMap((s) => s.entries.map((e) => `${e.index}/${e.term}`)));
    if (mine !== undefined && mine.entries.some((e) => e.index > mine.commitIndex && !held.has(`${e.index}/${e.term}`))) diverged = true;
  });
  assert.ok(diverged, 'while cut off, the old leader held uncommitted entries of its own that no one else had');
  assert.ok(summary.passed, JSON.stringify(summary.checks));
});

L('leader-churn cuts off whoever leads, again and again; transfer hands leadership to the node named', () => {
  const leaders: string[] = [];
  const churn = raftRun('  - { at: 500ms, until: 2500ms, kind: leader-churn }\n', (world) => {
    const l = raftStates(world).find((s) => s.role === 'leader')?.id;
    if (l !== undefined && leaders.at(-1) !== l) leaders.push(l);
  });
  assert.ok(leaders.length >= 4, `leaders in turn: ${leaders.join(' ')}`);
  assert.ok(churn.passed, JSON.stringify(churn.checks));

  let before: string | undefined;
  let after: string | undefined;
  raftRun('  - { at: 1s, kind: transfer, node: n2 }\n  - { at: 2s, kind: transfer, node: n3 }\n', (world) => {
    const l = raftStates(world).find((s) => s.role === 'leader')?.id;
    if (world.nowNs <= 1e9) before = l;
    else if (world.nowNs <= 2e9) after = l;
  });
  assert.ok(before !== undefined && after === 'n2', `leader ${before} before, ${after} after the transfer to n2`);
});

L.run();
