import type { Json, MicroOp, TxnEvent } from '../../../src/check/history.js';

/**
 * Hand-built transactional histories: `b.invoke(p, ops)` then `b.ok(p, ops)` (reads filled in),
 * `b.fail(p)` or `b.info(p)`; `b.txn(p, ops)` is an invoke and its ok at once (nothing concurrent).
 * Invokes carry each read as null, as HISTORY.md says.
 */
export class Build {
  readonly events: TxnEvent[] = [];
  private readonly open = new Map<number, MicroOp[]>();

  invoke(process: number, ops: readonly (readonly [string, string, Json])[]): this {
    const invoked = ops.map(([f, k, v]) => [f, k, f === 'r' ? null : v] as unknown as MicroOp);
    this.open.set(process, ops as unknown as MicroOp[]);
    this.events.push({ process, type: 'invoke', f: 'txn', value: invoked });
    return this;
  }

  ok(process: number, ops?: readonly (readonly [string, string, Json])[]): this {
    const done = (ops ?? this.open.get(process)) as MicroOp[];
    this.events.push({ process, type: 'ok', f: 'txn', value: done });
    return this;
  }

  fail(process: number): this {
    this.events.push({ process, type: 'fail', f: 'txn', value: this.open.get(process)?.map(([f, k, v]) => [f, k, f === 'r' ? null : v] as MicroOp) ?? [] });
    return this;
  }

  info(process: number): this {
    this.events.push({ process, type: 'info', f: 'txn', value: [] });
    return this;
  }

  txn(process: number, ops: readonly (readonly [string, string, Json])[]): this {
    return this.invoke(process, ops).ok(process, ops);
  }

  text(): string {
    return this.events.map((e) => JSON.stringify(e)).join('\n');
  }
}
