import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runScenario } from '../../../sim/runner.js';
import { parseScenario } from '../../../sim/scenario.js';
import { TxnGenerator, type TxnEnd } from '../../../sim/txn-workload.js';
import type { Outcome } from '../../../src/client/client.js';
import type { KvOp } from '../../../src/node/protocol.js';
import { SeededRng } from '../../../src/env/rng.js';
import { anomalies, txnFacts } from './facts.js';

// The transactional workloads record one `f: txn` operation per transaction, in the format the
// isolation checker reads (src/check/HISTORY.md): reads null in the invoke, filled in the ok.

const W = suite('transactional workloads');

const scenario = (kind: string, protocol: string) =>
  parseScenario(
    `name: t\ndescription: d\nduration: 1s\ncluster: { nodes: 3, engine: memory, replication: raft }\nworkload: { kind: ${kind}, txnLength: 4, txnKeys: 2, clients: 3, keys: 4, protocol: ${protocol} }\nchecks: [liveness, raft-safety]\n`,
    't.yaml',
  );

W('list-append over the line protocol: invoke and completion shapes, reads as lists, no anomaly', () => {
  const { summary, history } = runScenario(scenario('txn-list-append', 'line'), { seed: 2, outDir: null });
  assert.ok(summary.passed, JSON.stringify(summary.checks));
  const open = new Map<number, unknown>();
  let oks = 0;
  for (const e of history) {
    assert.is(e.f as string, 'txn');
    assert.not.ok('key' in e, 'a transaction names no single key');
    const ops = e.value as unknown as [string, string, unknown][];
    assert.ok(Array.isArray(ops) && ops.length >= 1 && ops.length <= 4);
    if (e.type === 'invoke') {
      for (const [f, k, v] of ops) {
        assert.ok(f === 'r' || f === 'append', f);
        assert.match(k, /^k[0-3]$/);
        if (f === 'r') assert.is(v, null);
        else assert.ok(Number.isInteger(v));
      }
      open.set(e.process, ops.map(([f, k, v]) => [f, k, f === 'r' ? null : v]));
      continue;
    }
    assert.equal(ops.map(([f, k, v]) => [f, k, f === 'r' ? null : v]), open.get(e.process), 'the completion has the invoke\'s operations');
    open.delete(e.process);
    if (e.type === 'ok') {
      oks++;
      for (const [f, , v] of ops) if (f === 'r') assert.ok(Array.isArray(v) && (v as unknown[]).every((x) => Number.isInteger(x)), JSON.stringify(v));
    }
  }
  assert.ok(oks > 50, `${oks} committed`);
  assert.equal(anomalies(txnFacts(history)), []);
});

W('rw-register over HTTP: reads are numbers or null', () => {
  const { summary, history } = runScenario(scenario('txn-rw-register', 'http'), { seed: 1, outDir: null });
  assert.ok(summary.passed, JSON.stringify(summary.checks));
  const reads = history.filter((e) => e.type === 'ok').flatMap((e) => (e.value as unknown as [string, string, unknown][]).filter(([f]) => f === 'r').map(([, , v]) => v));
  assert.ok(reads.length > 20);
  assert.ok(reads.every((v) => v === null || Number.isInteger(v)));
  assert.ok(reads.some((v) => v !== null), 'some read saw a write');
});

W('the generator: distinct keys per transaction, unique values, length within bounds; decode refuses foreign values', () => {
  const keys = ['a', 'b', 'c', 'd'];
  const rng = new SeededRng('gen');
  const g = new TxnGenerator('txn-list-append', 5, 2, rng, () => rng.pick(keys));
  const values = new Set<unknown>();
  for (let i = 0; i < 200; i++) {
    const ops = g.next();
    assert.ok(ops.length >= 1 && ops.length <= 5);
    assert.ok(new Set(ops.map(([, k]) => k)).size <= 2);
    for (const [f, , v] of ops) if (f === 'append') {
      assert.not.ok(values.has(v));
      values.add(v);
    }
  }
  assert.equal(g.decode('1 2 3 '), [1, 2, 3]);
  assert.equal(g.decode(null), []);
  assert.is(g.decode('w1;'), undefined);
  assert.is(g.decode(7), undefined);
});

W('txnPlain runs one GET or APPEND outside a transaction; txnRange begins with a RANGE recorded as a read of every key', () => {
  const keys = ['a', 'b', 'c'];
  const rng = new SeededRng('mixed');
  const g = new TxnGenerator('txn-list-append', 3, 2, rng, () => rng.pick(keys), 0.5, { share: 0.5, keys });
  const stored = new Map<string, string>([['b', '7 ']]);
  const sent: string[] = [];
  const client = {
    invoke(op: KvOp, done: (o: Outcome) => void) {
      sent.push(op.f === 'txn.op' ? `txn.${op.op.f}` : op.f);
      if (op.f === 'read') return done({ type: 'ok', value: stored.get(op.key) ?? null, node: 'n1' });
      if (op.f === 'append') return done({ type: 'ok', value: op.value, node: 'n1' });
      if (op.f === 'txn.begin') return done({ type: 'ok', value: '0.1.1', node: 'n1' });
      if (op.f === 'txn.op' && op.op.f === 'range') return done({ type: 'ok', value: 1, entries: [['b', '7 ']], node: 'n1' });
      done({ type: 'ok', value: null, node: 'n1' });
    },
  };
  let plain = 0;
  let ranged = 0;
  for (let i = 0; i < 100; i++) {
    sent.length = 0;
    const ops = g.next();
    let end: TxnEnd | null = null;
    g.run(client, ops, (e) => (end = e));
    const e = end as TxnEnd | null;
    assert.ok(e !== null && e.type === 'ok');
    if (sent[0] !== 'txn.begin') {
      plain++;
      assert.equal(sent.length, 1, 'one operation, no transaction');
      assert.is(ops.length, 1);
      if (sent[0] === 'read') assert.equal(e.value, [['r', ops[0]?.[1], ops[0]?.[1] === 'b' ? [7] : []]]);
    } else if (sent[1] === 'txn.range') {
      ranged++;
      assert.equal(e.value.slice(0, 3), [['r', 'a', []], ['r', 'b', [7]], ['r', 'c', []]], 'every key, an absent one read empty');
    }
  }
  assert.ok(plain > 20 && ranged > 10, `${plain} plain, ${ranged} ranged`);
});

W.run();
