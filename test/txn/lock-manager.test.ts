import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { compatible, LockManager, type LockMode } from '../../src/txn/lock-manager.js';

// Strict 2PL with wound-wait (src/txn/lock-manager.ts): exclusive means exclusive, waits only
// ever point at older (or committing, or pinned) holders so no deadlock can form, and the oldest
// live transaction always makes progress.

const L = suite('lock manager');

L('shared locks are shared, exclusive ones wait behind them', () => {
  const m = new LockManager();
  m.begin('a', 1);
  m.begin('b', 2);
  m.begin('c', 3);
  assert.ok(m.acquire('a', 'x', 'S').granted);
  assert.ok(m.acquire('b', 'x', 'S').granted);
  const c = m.acquire('c', 'x', 'X');
  assert.not.ok(c.granted, 'the youngest waits for older readers');
  assert.equal(c.wounded, []);
  assert.equal(m.release('a'), []);
  assert.equal(m.release('b'), [{ txn: 'c', key: 'x', mode: 'X' }]);
});

L('an older requester wounds a younger holder; a younger one waits', () => {
  const m = new LockManager();
  m.begin('old', 1);
  m.begin('young', 2);
  assert.ok(m.acquire('young', 'x', 'X').granted);
  const r = m.acquire('old', 'x', 'S');
  assert.not.ok(r.granted);
  assert.equal(r.wounded, ['young']);
  assert.equal(m.release('young'), [{ txn: 'old', key: 'x', mode: 'S' }]);
  m.begin('younger', 3);
  const w = m.acquire('younger', 'x', 'X');
  assert.equal(w, { granted: false, wounded: [] });
});

L('a committing holder is never wounded: the older requester waits for it', () => {
  const m = new LockManager();
  m.begin('old', 1);
  m.begin('young', 2);
  m.acquire('young', 'x', 'X');
  m.markCommitting('young');
  assert.equal(m.acquire('old', 'x', 'X'), { granted: false, wounded: [] });
  assert.equal(m.release('young'), [{ txn: 'old', key: 'x', mode: 'X' }]);
});

L('two readers upgrading: the older wounds the younger instead of deadlocking', () => {
  const m = new LockManager();
  m.begin('a', 1);
  m.begin('b', 2);
  m.acquire('a', 'x', 'S');
  m.acquire('b', 'x', 'S');
  assert.equal(m.acquire('b', 'x', 'X'), { granted: false, wounded: [] });
  const r = m.acquire('a', 'x', 'X');
  assert.equal(r.wounded, ['b']);
  assert.equal(m.release('b'), [{ txn: 'a', key: 'x', mode: 'X' }]);
  assert.is(m.holding('a', 'x'), 'X');
});

L('a pin blocks grants until unpinned and wounds active holders, not committing ones', () => {
  const m = new LockManager();
  m.begin('a', 1);
  m.begin('b', 2);
  m.acquire('a', 'x', 'S');
  m.acquire('b', 'y', 'X');
  m.markCommitting('b');
  assert.equal(m.pin('x', 'X'), ['a']);
  assert.equal(m.pin('y', 'X'), []);
  m.release('a');
  m.begin('c', 3);
  assert.not.ok(m.acquire('c', 'x', 'S').granted);
  assert.equal(m.unpin('x', 'X'), [{ txn: 'c', key: 'x', mode: 'S' }]);
});

L('IX guards: writers share them, a range reader excludes writers', () => {
  const m = new LockManager();
  m.begin('w1', 1);
  m.begin('w2', 2);
  m.begin('r', 3);
  assert.ok(m.acquire('w1', 'g', 'IX').granted);
  assert.ok(m.acquire('w2', 'g', 'IX').granted);
  assert.not.ok(m.acquire('r', 'g', 'S').granted);
  assert.ok(compatible('S', 'S') && compatible('IX', 'IX') && !compatible('S', 'IX') && !compatible('X', 'X'));
});

// ---- properties over random schedules ----

type Cmd =
  | { c: 'acquire'; t: number; k: number; mode: LockMode }
  | { c: 'release'; t: number }
  | { c: 'commit'; t: number }
  | { c: 'pin'; k: number }
  | { c: 'unpin'; k: number };

const TXNS = 5;
const KEYS = 3;
const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ c: fc.constant('acquire' as const), t: fc.nat(TXNS - 1), k: fc.nat(KEYS - 1), mode: fc.constantFrom<LockMode>('S', 'X', 'IX') }) },
  { weight: 2, arbitrary: fc.record({ c: fc.constant('release' as const), t: fc.nat(TXNS - 1) }) },
  { weight: 1, arbitrary: fc.record({ c: fc.constant('commit' as const), t: fc.nat(TXNS - 1) }) },
  { weight: 1, arbitrary: fc.record({ c: fc.constant('pin' as const), k: fc.nat(KEYS - 1) }) },
  { weight: 1, arbitrary: fc.record({ c: fc.constant('unpin' as const), k: fc.nat(KEYS - 1) }) },
);

/** The service's part, modelled: wounded transactions are aborted at once; released ones restart younger. */
class Harness {
  readonly m = new LockManager();
  readonly ts = new Map<string, number>();
  readonly committing = new Set<string>();
  readonly pins: number[] = Array(KEYS).fill(0);
  private next = 1;
  constructor() {
    for (let t = 0; t < TXNS; t++) this.start(`t${t}`);
  }
  start(id: string): void {
    this.ts.set(id, this.next);
    this.m.begin(id, this.next++);
    this.committing.delete(id);
  }
  abort(ids: string[]): void {
    for (const id of ids) {
      if (!this.m.has(id)) continue;
      this.m.release(id);
      this.start(id);
    }
  }
  run(cmd: Cmd): void {
    if (cmd.c === 'acquire') {
      const id = `t${cmd.t}`;
      if (this.committing.has(id) || this.m.waitingFor(id) !== null) return;
      this.abort(this.m.acquire(id, `k${cmd.k}`, cmd.mode).wounded);
    } else if (cmd.c === 'release') this.abort([`t${cmd.t}`]);
    else if (cmd.c === 'commit') {
      const id = `t${cmd.t}`;
      if (this.m.waitingFor(id) !== null || this.committing.has(id)) return;
      this.m.markCommitting(id);
      this.committing.add(id);
    } else if (cmd.c === 'pin') {
      this.pins[cmd.k] = (this.pins[cmd.k] as number) + 1;
      this.abort(this.m.pin(`k${cmd.k}`, 'X'));
    } else if ((this.pins[cmd.k] as number) > 0) {
      this.pins[cmd.k] = (this.pins[cmd.k] as number) - 1;
      this.m.unpin(`k${cmd.k}`, 'X');
    }
  }
  /** Who each waiting transaction waits for: conflicting holders (pins are not transactions). */
  waitsFor(): Map<string, string[]> {
    const edges = new Map<string, string[]>();
    for (const id of this.ts.keys()) {
      const w = this.m.waitingFor(id);
      if (w === null) continue;
      const blockers = [...this.ts.keys()].filter((o) => {
        if (o === id) return false;
        const h = this.m.holding(o, w.key);
        return h !== null && !compatible(h, w.mode);
      });
      edges.set(id, blockers);
    }
    return edges;
  }
}

function hasCycle(edges: Map<string, string[]>): boolean {
  const state = new Map<string, 1 | 2>();
  const visit = (n: string): boolean => {
    if (state.get(n) === 1) return true;
    if (state.get(n) === 2) return false;
    state.set(n, 1);
    for (const m of edges.get(n) ?? []) if (visit(m)) return true;
    state.set(n, 2);
    return false;
  };
  return [...edges.keys()].some(visit);
}

L('property: never two conflicting holders, waiters in age order (checkInvariants)', () => {
  fc.assert(
    fc.property(fc.array(cmdArb, { maxLength: 120 }), (cmds) => {
      const h = new Harness();
      for (const c of cmds) {
        h.run(c);
        h.m.checkInvariants();
      }
    }),
    { numRuns: 300 },
  );
});

L('property: no deadlock — every wait is on an older or committing holder, and the wait-for graph has no cycle', () => {
  fc.assert(
    fc.property(fc.array(cmdArb, { maxLength: 120 }), (cmds) => {
      const h = new Harness();
      for (const c of cmds) {
        h.run(c);
        const edges = h.waitsFor();
        for (const [w, blockers] of edges) {
          for (const b of blockers) assert.ok((h.ts.get(b) as number) < (h.ts.get(w) as number) || h.committing.has(b), `${w} waits for younger active ${b}`);
        }
        assert.not.ok(hasCycle(edges), 'a cycle of waits');
      }
    }),
    { numRuns: 300 },
  );
});

L('property: the oldest active transaction waits only for committing holders or pins, and finishing those frees it', () => {
  fc.assert(
    fc.property(fc.array(cmdArb, { maxLength: 120 }), (cmds) => {
      const h = new Harness();
      for (const c of cmds) h.run(c);
      const active = [...h.ts.entries()].filter(([id]) => !h.committing.has(id)).sort((a, b) => a[1] - b[1]);
      const oldest = active[0]?.[0];
      if (oldest === undefined) return;
      const blockers = h.waitsFor().get(oldest) ?? [];
      for (const b of blockers) assert.ok(h.committing.has(b), `the oldest ${oldest} waits for active ${b}`);
      // Let every committing transaction finish and every pin go: the oldest then holds its lock.
      for (const id of [...h.committing]) {
        h.m.release(id);
        h.committing.delete(id);
      }
      for (let k = 0; k < KEYS; k++) while ((h.pins[k] as number) > 0) h.run({ c: 'unpin', k });
      assert.is(h.m.waitingFor(oldest), null, 'the oldest still waits');
    }),
    { numRuns: 300 },
  );
});

L('property: repeatedly granting and finishing always drains every transaction (no deadlock, no livelock)', () => {
  fc.assert(
    fc.property(fc.array(cmdArb, { maxLength: 80 }), fc.array(fc.nat(KEYS - 1), { minLength: 1, maxLength: 4 }), (cmds, script) => {
      const h = new Harness();
      for (const c of cmds) h.run(c);
      for (let k = 0; k < KEYS; k++) while ((h.pins[k] as number) > 0) h.run({ c: 'unpin', k });
      // Each live transaction now runs `script` (X locks) to completion, the scheduler always
      // stepping the first transaction that is not waiting: with no deadlock one always exists.
      const progress = new Map<string, number>([...h.ts.keys()].map((id) => [id, 0]));
      for (const id of [...h.committing]) {
        h.m.release(id);
        h.committing.delete(id);
        progress.delete(id);
      }
      let steps = 0;
      while (progress.size > 0) {
        assert.ok(++steps < 10_000, 'no progress');
        const runnable = [...progress.keys()].find((id) => h.m.waitingFor(id) === null);
        assert.ok(runnable !== undefined, 'every live transaction waits: a deadlock');
        const at = progress.get(runnable) as number;
        if (at === script.length) {
          h.m.release(runnable);
          progress.delete(runnable);
          continue;
        }
        const r = h.m.acquire(runnable, `k${script[at]}`, 'X');
        progress.set(runnable, at + 1);
        for (const w of r.wounded) {
          h.m.release(w);
          h.m.begin(w, (h.ts.get(w) as number) + 1000); // restarts, younger
          h.ts.set(w, (h.ts.get(w) as number) + 1000);
          progress.set(w, 0);
        }
      }
    }),
    { numRuns: 200 },
  );
});

L.run();
