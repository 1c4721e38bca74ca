import { assert } from '../util/assert.js';
import { OP_CAS, OP_DELETE, OP_READ, OP_WRITE } from './model.js';
import { ABSENT, type ValueTable } from './values.js';

/** Writes and deletes examined per dead-end test at most; past it the test says "not dead" (sound). */
const RESCUE_SCAN_MAX = 64;

/**
 * Search rule 6's bookkeeping (search.ts): on a key with appends, once the state is a string no
 * read or cas could ever see (a prefix of no observed string), only appends (which keep it so)
 * and writes or deletes (which replace it) are legal until a write or delete comes. Take the ok
 * read or cas left that returns first, R, seeing r (a cas sees its expected value): it needs a
 * write or delete Z before it, the last one before it, invoked before R returns; after Z only
 * appends change the state until R, so Z leaves a prefix of r (or r itself when r is not a
 * string; a delete leaves the empty state, from which appends spell out any string). When no
 * write or delete left is such a Z, the state is a dead end. This tracks the first R and the
 * writes and deletes left by invoke position, in O(1) per move.
 *
 * Both lists are sorted once by position in the entry list. The search linearizes and undoes ops
 * in stack order, so a cursor per list suffices: every op before the cursor is linearized, and
 * undoing an op before the cursor moves the cursor back to it.
 */
export class ResetDeadline {
  /** Ok reads and cas ops, by return position. */
  private readonly looks: Int32Array;
  /** Writes, deletes and cas ops of any outcome, by invoke position: what can change a state but appends. */
  private readonly resets: Int32Array;
  private readonly lookAt: Int32Array;
  private readonly resetAt: Int32Array;
  private readonly done: Uint8Array;
  private firstLook = 0;
  private firstReset = 0;

  /** callNode/returnNode: entry-list positions of each op (returnNode meaningful for ok ops). */
  constructor(private readonly kind: Uint8Array, private readonly argA: Int32Array, private readonly argB: Int32Array, isOk: Uint8Array,
    private readonly callNode: Int32Array, private readonly returnNode: Int32Array, private readonly values: ValueTable) {
    const n = kind.length;
    const looks: number[] = [];
    const resets: number[] = [];
    for (let i = 0; i < n; i++) {
      if (isOk[i] === 1 && (kind[i] === OP_READ || kind[i] === OP_CAS)) looks.push(i);
      if (kind[i] === OP_WRITE || kind[i] === OP_DELETE || kind[i] === OP_CAS) resets.push(i);
    }
    this.looks = Int32Array.from(looks.sort((a, b) => (returnNode[a] as number) - (returnNode[b] as number)));
    this.resets = Int32Array.from(resets.sort((a, b) => (callNode[a] as number) - (callNode[b] as number)));
    this.lookAt = new Int32Array(n).fill(-1);
    this.resetAt = new Int32Array(n).fill(-1);
    this.looks.forEach((x, j) => (this.lookAt[x] = j));
    this.resets.forEach((x, j) => (this.resetAt[x] = j));
    this.done = new Uint8Array(n);
  }

  /** Op x was linearized. */
  take(x: number): void {
    assert(this.done[x] === 0, () => `op ${x} linearized twice`);
    this.done[x] = 1;
    while (this.firstLook < this.looks.length && this.done[this.looks[this.firstLook] as number] === 1) this.firstLook++;
    while (this.firstReset < this.resets.length && this.done[this.resets[this.firstReset] as number] === 1) this.firstReset++;
  }

  /** Op x, the latest linearized, was taken back. */
  restore(x: number): void {
    assert(this.done[x] === 1, () => `op ${x} restored but not linearized`);
    this.done[x] = 0;
    const look = this.lookAt[x] as number;
    if (look >= 0 && look < this.firstLook) this.firstLook = look;
    const reset = this.resetAt[x] as number;
    if (reset >= 0 && reset < this.firstReset) this.firstReset = reset;
  }

  /**
   * Whether a state no read or cas can see is a dead end now: some ok read or cas R is left, and
   * among the ops left that are invoked before R returns there is no write or delete (to leave
   * the state at all), or none that leaves what R could see next (to be the last before R).
   */
  deadEnd(): boolean {
    if (this.firstLook >= this.looks.length) return false;
    const look = this.looks[this.firstLook] as number;
    const deadline = this.returnNode[look] as number;
    const seen = this.argA[look] as number;
    let scanned = 0;
    let leaves = false;
    let leadsTo = false;
    for (let j = this.firstReset; j < this.resets.length && !(leaves && leadsTo); j++) {
      const z = this.resets[j] as number;
      if ((this.callNode[z] as number) > deadline) break;
      if (this.done[z] === 1) continue;
      if (++scanned > RESCUE_SCAN_MAX) return false;
      if (this.kind[z] !== OP_CAS) leaves = true;
      if (!leadsTo && this.leadsTo(z, seen)) leadsTo = true;
    }
    return !(leaves && leadsTo);
  }

  /** Whether after write, delete or cas z, appends alone can reach value `seen`. */
  private leadsTo(z: number, seen: number): boolean {
    const k = this.kind[z];
    const left = k === OP_DELETE ? ABSENT : k === OP_CAS ? (this.argB[z] as number) : (this.argA[z] as number);
    if (left === seen) return true;
    const target = this.values.value(seen);
    if (typeof target !== 'string') return false;
    if (left === ABSENT) return true;
    const start = this.values.value(left);
    return typeof start === 'string' && target.startsWith(start);
  }
}
