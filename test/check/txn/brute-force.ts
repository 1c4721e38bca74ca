import fc from 'fast-check';
import type { Json, MicroOp, TxnEvent } from '../../../src/check/history.js';
import type { TxnOperation } from '../../../src/check/operation.js';

/**
 * The oracle: a list-append history is serializable when some order of its committed
 * transactions (every ok one, any subset of those of unknown outcome, no failed one), run one
 * after the other from empty lists, gives every ok transaction exactly the reads it recorded;
 * strictly serializable when such an order also keeps real time (a transaction that completed
 * before another was invoked comes first). Every order is tried: for ≤ 5 transactions, ≤ 5! × 2^k.
 */
export function bruteForceSerializable(txns: readonly TxnOperation[], strict: boolean): boolean {
  const ok = txns.filter((t) => t.status === 'ok');
  const info = txns.filter((t) => t.status === 'info');
  for (let mask = 0; mask < 1 << info.length; mask++) {
    const chosen = [...ok, ...info.filter((_, i) => (mask & (1 << i)) !== 0)];
    if (someOrder(chosen, [], strict)) return true;
  }
  return false;
}

function someOrder(left: readonly TxnOperation[], order: TxnOperation[], strict: boolean): boolean {
  if (left.length === 0) return runs(order);
  for (const t of left) {
    // Real time: nothing still to place may have completed before t was invoked.
    if (strict && left.some((u) => u !== t && u.status === 'ok' && u.returnEvent < t.callEvent)) continue;
    order.push(t);
    if (someOrder(left.filter((u) => u !== t), order, strict)) return true;
    order.pop();
  }
  return false;
}

function runs(order: readonly TxnOperation[]): boolean {
  const lists = new Map<string, Json[]>();
  const registers = new Map<string, Json>();
  for (const t of order) {
    for (const [f, k, v] of t.output ?? t.input) {
      const list = lists.get(k) ?? [];
      if (f === 'append') lists.set(k, [...list, v]);
      else if (f === 'w') registers.set(k, v);
      else if (t.status !== 'ok') continue;
      else if (REGISTER_KEYS.includes(k) ? JSON.stringify(v) !== JSON.stringify(registers.get(k) ?? null) : JSON.stringify(v ?? []) !== JSON.stringify(list)) return false;
    }
  }
  return true;
}

/** Keys that small register histories use; the others are lists. */
export const REGISTER_KEYS: readonly string[] = ['a', 'b'];

/**
 * Small random register histories, made as smallHistory's lists are: reads and (unique) writes
 * over two keys in a random serial order, some reads then replaced by another value written to
 * the key, or by absent.
 */
export function smallRegisterHistory(): fc.Arbitrary<TxnEvent[]> {
  const micro = fc.record({ read: fc.boolean(), key: fc.constantFrom(...REGISTER_KEYS) });
  const txn = fc.record({
    ops: fc.array(micro, { minLength: 1, maxLength: 3 }),
    status: fc.constantFrom('ok', 'ok', 'ok', 'ok', 'fail', 'info'),
    applied: fc.boolean(),
  });
  return fc.record({
    txns: fc.array(txn, { minLength: 1, maxLength: 5 }),
    serial: fc.array(fc.nat(), { minLength: 5, maxLength: 5 }),
    slots: fc.array(fc.nat(), { minLength: 10, maxLength: 10 }),
    perturb: fc.array(fc.nat({ max: 9 }), { minLength: 15, maxLength: 15 }),
  }).map(({ txns, serial, slots, perturb }) => {
    let next = 1;
    const ops: MicroOp[][] = txns.map((t) => t.ops.map((m) => (m.read ? ['r', m.key, null] : ['w', m.key, next++]) as MicroOp));
    const order = txns.map((_, i) => i).sort((a, b) => (serial[a] ?? 0) - (serial[b] ?? 0) || a - b);
    const state = new Map<string, Json>();
    const done: MicroOp[][] = ops.map((o) => o.map((m) => [...m] as unknown as MicroOp));
    for (const i of order) {
      const t = txns[i] as (typeof txns)[number];
      const local = new Map(state);
      (done[i] as MicroOp[]).forEach((m, j) => {
        if (m[0] === 'w') local.set(m[1], m[2]);
        else (done[i] as MicroOp[])[j] = ['r', m[1], local.get(m[1]) ?? null];
      });
      if (t.status === 'ok' || (t.status === 'info' && t.applied)) for (const [k, v] of local) state.set(k, v);
    }
    let p = 0;
    const written = (k: string) => ops.flat().filter(([f, key]) => f === 'w' && key === k).map(([, , v]) => v);
    for (const d of done) {
      d.forEach((m, j) => {
        if (m[0] !== 'r') return;
        const roll = perturb[p++ % perturb.length] as number;
        if (roll >= 3) return;
        const values = [null, ...written(m[1])];
        d[j] = ['r', m[1], values[(roll * 7 + p) % values.length] as Json];
      });
    }
    return interleave(txns.map((t) => t.status as 'ok' | 'fail' | 'info'), ops, done, slots);
  });
}

/** Invoke and completion events in a random interleaving that keeps each invoke first. */
function interleave(statuses: readonly ('ok' | 'fail' | 'info')[], ops: MicroOp[][], done: MicroOp[][], slots: readonly number[]): TxnEvent[] {
  const events: { at: number; e: TxnEvent }[] = [];
  statuses.forEach((status, i) => {
    const a = slots[2 * i] ?? 0;
    const b = slots[2 * i + 1] ?? 0;
    const process = i + 1;
    const invoke = ops[i] as MicroOp[];
    events.push({ at: Math.min(a, b) * 2, e: { process, type: 'invoke', f: 'txn', value: invoke } });
    if (status === 'info') return;
    events.push({ at: Math.max(a, b) * 2 + 1, e: { process, type: status, f: 'txn', value: status === 'ok' ? done[i] as MicroOp[] : invoke } });
  });
  return events.sort((x, y) => x.at - y.at).map((x) => x.e);
}

/**
 * Small random list-append histories: transactions of 1–3 reads and appends over two keys, run
 * in a random serial order (so many are serializable) with real-time intervals drawn at random
 * (so some are not strictly), then some reads replaced by another prefix of what the key came to
 * hold (so some are not serializable at all). Some transactions fail or end unknown.
 */
export function smallHistory(): fc.Arbitrary<TxnEvent[]> {
  const micro = fc.record({ read: fc.boolean(), key: fc.constantFrom('x', 'y') });
  const txn = fc.record({
    ops: fc.array(micro, { minLength: 1, maxLength: 3 }),
    status: fc.constantFrom('ok', 'ok', 'ok', 'ok', 'fail', 'info'),
    applied: fc.boolean(),
  });
  return fc.record({
    txns: fc.array(txn, { minLength: 1, maxLength: 5 }),
    serial: fc.array(fc.nat(), { minLength: 5, maxLength: 5 }),
    slots: fc.array(fc.nat(), { minLength: 10, maxLength: 10 }),
    perturb: fc.array(fc.nat({ max: 9 }), { minLength: 15, maxLength: 15 }),
  }).map(({ txns, serial, slots, perturb }) => {
    let next = 1;
    const ops: MicroOp[][] = txns.map((t) => t.ops.map((m) => (m.read ? ['r', m.key, null] : ['append', m.key, next++]) as MicroOp));
    // Run in a random serial order; failed transactions (and unapplied unknown ones) do not take effect.
    const order = txns.map((_, i) => i).sort((a, b) => (serial[a] ?? 0) - (serial[b] ?? 0) || a - b);
    const state = new Map<string, Json[]>();
    const done: MicroOp[][] = ops.map((o) => o.map((m) => [...m] as unknown as MicroOp));
    for (const i of order) {
      const t = txns[i] as (typeof txns)[number];
      const effective = t.status === 'ok' || (t.status === 'info' && t.applied);
      const local = new Map(state);
      (done[i] as MicroOp[]).forEach((m, j) => {
        const list = local.get(m[1]) ?? [];
        if (m[0] === 'append') local.set(m[1], [...list, m[2]]);
        else (done[i] as MicroOp[])[j] = ['r', m[1], [...list]];
      });
      if (effective) for (const [k, v] of local) state.set(k, v);
    }
    let p = 0;
    for (const d of done) {
      d.forEach((m, j) => {
        if (m[0] !== 'r') return;
        const roll = perturb[p++ % perturb.length] as number;
        if (roll >= 2) return;
        const final = state.get(m[1]) ?? [];
        d[j] = ['r', m[1], final.slice(0, Math.min(final.length, roll === 0 ? 0 : final.length))];
      });
    }
    return interleave(txns.map((t) => t.status as 'ok' | 'fail' | 'info'), ops, done, slots);
  });
}
