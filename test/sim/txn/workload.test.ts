import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runScenario } from '../../../sim/runner.js';
import { parseScenario } from '../../../sim/scenario.js';
import { TxnGenerator } from '../../../sim/txn-workload.js';
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

W.run();
