import { assert } from '../../util/assert.js';

/**
 * An ordered map as a B+tree with copy-on-write snapshots: the memtable of the LSM tree, Bitcask's
 * keydir and the memory engine are all one of these.
 *
 * Snapshots are O(1): freeze() bumps the tree's epoch and hands out the current root. Nodes made in
 * an older epoch are never changed again; a write that reaches one copies it (and so the path above
 * it) into the current epoch first, the way persistent trees share structure. Without a live
 * snapshot every node is in the current epoch and writes change nodes in place, so the common case
 * pays nothing. (The "transient" idea of Clojure's persistent vectors, on a B+tree.)
 *
 * Why a B+tree and not LevelDB's skiplist: a snapshot of a skiplist needs per-entry versions (and a
 * sequence number in every lookup); a tree gets snapshots from structural sharing. Wide nodes also
 * suit V8: a search is a binary search over a small dense array.
 *
 * Layout: a leaf holds sorted keys and their values. A branch with n children holds n - 1
 * separators; every key in children[i] is < keys[i] <= every key in children[i + 1]. Deletes merge
 * or rebalance nodes that fall below a quarter full, so the height stays logarithmic.
 */

export type Comparator<K> = ((a: K, b: K) => number) & {
  /**
   * Optionally, a cheaper comparator that orders `key` against any other key exactly as this one
   * does (compareKeys: the native `<` for a key without high code units). A point operation
   * compares its one key against twenty-odd others, so choosing once per operation pays.
   */
  forKey?: (key: K) => (a: K, b: K) => number;
};

/** The comparator for operations on one key. */
function comparatorFor<K>(cmp: Comparator<K>, key: K): (a: K, b: K) => number {
  return cmp.forKey === undefined ? cmp : cmp.forKey(key);
}

class Node<K, V> {
  constructor(
    public epoch: number,
    public keys: K[],
    /** Leaf: the values, parallel to keys. Branch: null. */
    public values: V[] | null,
    /** Branch: the children, one more than keys. Leaf: null. */
    public children: Node<K, V>[] | null,
  ) {}
}

function lowerBound<K>(keys: K[], key: K, cmp: (a: K, b: K) => number): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cmp(keys[mid] as K, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function upperBound<K>(keys: K[], key: K, cmp: (a: K, b: K) => number): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cmp(keys[mid] as K, key) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function lookup<K, V>(root: Node<K, V>, key: K, treeCmp: Comparator<K>): V | undefined {
  const cmp = comparatorFor(treeCmp, key);
  let node = root;
  while (node.children !== null) node = node.children[upperBound(node.keys, key, cmp)] as Node<K, V>;
  const i = lowerBound(node.keys, key, cmp);
  if (i < node.keys.length && cmp(node.keys[i] as K, key) === 0) return (node.values as V[])[i];
  return undefined;
}

/** A read-only, unchanging view of a tree at one moment. */
export class BTreeView<K, V> {
  constructor(
    protected root_: Node<K, V>,
    protected size_: number,
    readonly cmp: Comparator<K>,
  ) {}

  get size(): number {
    return this.size_;
  }

  get(key: K): V | undefined {
    return lookup(this.root_, key, this.cmp);
  }

  /** A cursor over this view; on a live BTree it is valid only until the tree next changes. */
  cursor(): BTreeCursor<K, V> {
    return new BTreeCursor(this.root_, this.cmp);
  }
}

export interface BTreeOptions {
  /** Most entries in a leaf and most children of a branch. */
  leafMax: number;
  branchMax: number;
}

export class BTree<K, V> extends BTreeView<K, V> {
  private epoch = 0;
  private readonly leafMax: number;
  private readonly branchMax: number;
  private readonly leafMin: number;
  private readonly branchMin: number;
  // The result of a split, passed up without allocating a tuple on every insert.
  private splitKey: K | undefined = undefined;
  private splitRight: Node<K, V> | null = null;

  constructor(cmp: Comparator<K>, options: BTreeOptions = { leafMax: 64, branchMax: 64 }) {
    super(new Node<K, V>(0, [], [], null), 0, cmp);
    assert(options.leafMax >= 4 && options.branchMax >= 4, 'BTree: nodes must hold at least 4 entries');
    this.leafMax = options.leafMax;
    this.branchMax = options.branchMax;
    this.leafMin = Math.max(1, options.leafMax >> 2);
    this.branchMin = Math.max(2, options.branchMax >> 2);
  }

  /** An O(1) snapshot: later writes copy the nodes they change instead of changing these. */
  freeze(): BTreeView<K, V> {
    this.epoch++;
    return new BTreeView(this.root_, this.size_, this.cmp);
  }

  /** Sets key to value; returns the value it replaced, or undefined if the key was new. */
  set(key: K, value: V): V | undefined {
    const root = this.writable(this.root_);
    this.root_ = root;
    const prev = this.insert(root, key, value, comparatorFor(this.cmp, key));
    if (this.splitRight !== null) {
      this.root_ = new Node<K, V>(this.epoch, [this.splitKey as K], null, [root, this.splitRight]);
      this.splitRight = null;
      this.splitKey = undefined;
    }
    return prev;
  }

  /** Removes key; returns its value, or undefined if it was absent. */
  delete(key: K): V | undefined {
    const prev = this.get(key);
    if (prev === undefined) return undefined;
    const root = this.writable(this.root_);
    this.root_ = root;
    this.remove(root, key, comparatorFor(this.cmp, key));
    this.size_--;
    if (root.children !== null && root.children.length === 1) this.root_ = root.children[0] as Node<K, V>;
    return prev;
  }

  private writable(node: Node<K, V>): Node<K, V> {
    if (node.epoch === this.epoch) return node;
    return new Node<K, V>(this.epoch, node.keys.slice(), node.values === null ? null : node.values.slice(), node.children === null ? null : node.children.slice());
  }

  private insert(node: Node<K, V>, key: K, value: V, cmp: (a: K, b: K) => number): V | undefined {
    if (node.values !== null) {
      const keys = node.keys;
      const i = lowerBound(keys, key, cmp);
      if (i < keys.length && cmp(keys[i] as K, key) === 0) {
        const prev = node.values[i];
        node.values[i] = value;
        return prev;
      }
      keys.splice(i, 0, key);
      node.values.splice(i, 0, value);
      this.size_++;
      if (keys.length > this.leafMax) this.splitLeaf(node);
      return undefined;
    }
    const children = node.children as Node<K, V>[];
    const c = upperBound(node.keys, key, cmp);
    const child = this.writable(children[c] as Node<K, V>);
    children[c] = child;
    const prev = this.insert(child, key, value, cmp);
    if (this.splitRight !== null) {
      node.keys.splice(c, 0, this.splitKey as K);
      children.splice(c + 1, 0, this.splitRight);
      this.splitRight = null;
      if (children.length > this.branchMax) this.splitBranch(node);
    }
    return prev;
  }

  private splitLeaf(node: Node<K, V>): void {
    const mid = node.keys.length >> 1;
    const right = new Node<K, V>(this.epoch, node.keys.splice(mid), (node.values as V[]).splice(mid), null);
    this.splitKey = right.keys[0];
    this.splitRight = right;
  }

  private splitBranch(node: Node<K, V>): void {
    const children = node.children as Node<K, V>[];
    const mid = children.length >> 1;
    // Children [0, mid) stay with keys [0, mid - 1); keys[mid - 1] moves up; the rest go right.
    const rightKeys = node.keys.splice(mid);
    this.splitKey = node.keys.pop();
    this.splitRight = new Node<K, V>(this.epoch, rightKeys, null, children.splice(mid));
  }

  private remove(node: Node<K, V>, key: K, cmp: (a: K, b: K) => number): void {
    if (node.values !== null) {
      const i = lowerBound(node.keys, key, cmp);
      assert(i < node.keys.length && cmp(node.keys[i] as K, key) === 0, 'BTree.remove: key vanished');
      node.keys.splice(i, 1);
      node.values.splice(i, 1);
      return;
    }
    const children = node.children as Node<K, V>[];
    const c = upperBound(node.keys, key, cmp);
    const child = this.writable(children[c] as Node<K, V>);
    children[c] = child;
    this.remove(child, key, cmp);
    const fill = child.values !== null ? child.keys.length : (child.children as Node<K, V>[]).length;
    if (fill < (child.values !== null ? this.leafMin : this.branchMin) && children.length > 1) this.rebalance(node, c);
  }

  /** children[c] of parent fell below its minimum: merge it with a sibling or borrow from one. */
  private rebalance(parent: Node<K, V>, c: number): void {
    const children = parent.children as Node<K, V>[];
    const sep = c > 0 ? c - 1 : 0;
    const left = this.writable(children[sep] as Node<K, V>);
    const right = this.writable(children[sep + 1] as Node<K, V>);
    children[sep] = left;
    children[sep + 1] = right;
    if (left.values !== null) {
      const lv = left.values;
      const rv = right.values as V[];
      if (left.keys.length + right.keys.length <= this.leafMax) {
        for (let i = 0; i < right.keys.length; i++) {
          left.keys.push(right.keys[i] as K);
          lv.push(rv[i] as V);
        }
        parent.keys.splice(sep, 1);
        children.splice(sep + 1, 1);
      } else {
        const keys = left.keys.concat(right.keys);
        const values = lv.concat(rv);
        const half = keys.length >> 1;
        left.keys = keys.slice(0, half);
        left.values = values.slice(0, half);
        right.keys = keys.slice(half);
        right.values = values.slice(half);
        parent.keys[sep] = right.keys[0] as K;
      }
      return;
    }
    const lc = left.children as Node<K, V>[];
    const rc = right.children as Node<K, V>[];
    if (lc.length + rc.length <= this.branchMax) {
      left.keys.push(parent.keys[sep] as K);
      for (const k of right.keys) left.keys.push(k);
      for (const ch of rc) lc.push(ch);
      parent.keys.splice(sep, 1);
      children.splice(sep + 1, 1);
    } else {
      const keys = left.keys.concat([parent.keys[sep] as K], right.keys);
      const all = lc.concat(rc);
      const half = all.length >> 1;
      left.children = all.slice(0, half);
      left.keys = keys.slice(0, half - 1);
      parent.keys[sep] = keys[half - 1] as K;
      right.children = all.slice(half);
      right.keys = keys.slice(half);
    }
  }

  /** Checks every structural invariant (tests call it; O(n)). */
  checkInvariants(): void {
    let count = 0;
    const walk = (node: Node<K, V>, lo: K | undefined, hi: K | undefined, depth: number, isRoot: boolean): number => {
      for (let i = 1; i < node.keys.length; i++) {
        assert(this.cmp(node.keys[i - 1] as K, node.keys[i] as K) < 0, 'BTree: keys out of order');
      }
      for (const k of node.keys) {
        assert(lo === undefined || this.cmp(lo, k) <= 0, 'BTree: key below its lower bound');
        assert(hi === undefined || this.cmp(k, hi) < 0, 'BTree: key at or above its upper bound');
      }
      if (node.values !== null) {
        assert(node.values.length === node.keys.length, 'BTree: leaf values and keys differ in length');
        assert(isRoot || node.keys.length >= 1, 'BTree: empty non-root leaf');
        assert(node.keys.length <= this.leafMax, 'BTree: leaf overfull');
        count += node.keys.length;
        return depth;
      }
      const ch = node.children as Node<K, V>[];
      assert(ch.length === node.keys.length + 1, 'BTree: branch has wrong number of children');
      assert(ch.length <= this.branchMax, 'BTree: branch overfull');
      assert(ch.length >= 2, 'BTree: branch with a single child');
      let leafDepth = -1;
      for (let i = 0; i < ch.length; i++) {
        const d = walk(ch[i] as Node<K, V>, i === 0 ? lo : node.keys[i - 1], i === ch.length - 1 ? hi : node.keys[i], depth + 1, false);
        assert(leafDepth === -1 || leafDepth === d, 'BTree: leaves at different depths');
        leafDepth = d;
      }
      return leafDepth;
    };
    walk(this.root_, undefined, undefined, 0, true);
    assert(count === this.size_, () => `BTree: size ${this.size_} but ${count} entries`);
  }
}

/**
 * A position in a tree, moving both ways. It keeps the path from the root (the nodes have no parent
 * pointers, which copy-on-write could not keep up to date).
 */
export class BTreeCursor<K, V> {
  private readonly path: Node<K, V>[] = [];
  private readonly pathIndex: number[] = [];
  private leaf: Node<K, V> | null = null;
  private i = 0;

  constructor(
    private readonly root: Node<K, V>,
    private readonly cmp: Comparator<K>,
  ) {}

  valid(): boolean {
    return this.leaf !== null;
  }

  key(): K {
    assert(this.leaf !== null, 'BTreeCursor.key: not positioned');
    return this.leaf.keys[this.i] as K;
  }

  value(): V {
    assert(this.leaf !== null, 'BTreeCursor.value: not positioned');
    return (this.leaf.values as V[])[this.i] as V;
  }

  /** Descends to a leaf choosing each child with pick; returns the leaf. */
  private descend(pick: (node: Node<K, V>) => number): Node<K, V> {
    this.path.length = 0;
    this.pathIndex.length = 0;
    let node = this.root;
    while (node.children !== null) {
      const c = pick(node);
      this.path.push(node);
      this.pathIndex.push(c);
      node = node.children[c] as Node<K, V>;
    }
    return node;
  }

  seekFirst(): void {
    this.leaf = this.descend(() => 0);
    this.i = 0;
    if (this.leaf.keys.length === 0) this.leaf = null;
  }

  seekLast(): void {
    this.leaf = this.descend((n) => (n.children as Node<K, V>[]).length - 1);
    this.i = this.leaf.keys.length - 1;
    if (this.i < 0) this.leaf = null;
  }

  /** The first entry with key >= target. */
  seekGE(target: K): void {
    const cmp = comparatorFor(this.cmp, target);
    const leaf = this.descend((n) => upperBound(n.keys, target, cmp));
    this.leaf = leaf;
    this.i = lowerBound(leaf.keys, target, cmp);
    if (this.i >= leaf.keys.length) this.nextLeaf();
  }

  /** The last entry with key < target. */
  seekLT(target: K): void {
    const cmp = comparatorFor(this.cmp, target);
    const leaf = this.descend((n) => lowerBound(n.keys, target, cmp));
    this.leaf = leaf;
    this.i = lowerBound(leaf.keys, target, cmp) - 1;
    if (this.i < 0) this.prevLeaf();
  }

  next(): void {
    assert(this.leaf !== null, 'BTreeCursor.next: not positioned');
    if (++this.i >= this.leaf.keys.length) this.nextLeaf();
  }

  prev(): void {
    assert(this.leaf !== null, 'BTreeCursor.prev: not positioned');
    if (--this.i < 0) this.prevLeaf();
  }

  private nextLeaf(): void {
    for (;;) {
      let d = this.path.length - 1;
      while (d >= 0 && (this.pathIndex[d] as number) + 1 >= ((this.path[d] as Node<K, V>).children as Node<K, V>[]).length) d--;
      if (d < 0) {
        this.leaf = null;
        return;
      }
      this.pathIndex[d] = (this.pathIndex[d] as number) + 1;
      let node = ((this.path[d] as Node<K, V>).children as Node<K, V>[])[this.pathIndex[d] as number] as Node<K, V>;
      this.path.length = d + 1;
      this.pathIndex.length = d + 1;
      while (node.children !== null) {
        this.path.push(node);
        this.pathIndex.push(0);
        node = node.children[0] as Node<K, V>;
      }
      this.leaf = node;
      this.i = 0;
      if (node.keys.length > 0) return;
    }
  }

  private prevLeaf(): void {
    for (;;) {
      let d = this.path.length - 1;
      while (d >= 0 && (this.pathIndex[d] as number) === 0) d--;
      if (d < 0) {
        this.leaf = null;
        return;
      }
      this.pathIndex[d] = (this.pathIndex[d] as number) - 1;
      let node = ((this.path[d] as Node<K, V>).children as Node<K, V>[])[this.pathIndex[d] as number] as Node<K, V>;
      this.path.length = d + 1;
      this.pathIndex.length = d + 1;
      while (node.children !== null) {
        const last = node.children.length - 1;
        this.path.push(node);
        this.pathIndex.push(last);
        node = node.children[last] as Node<K, V>;
      }
      this.leaf = node;
      this.i = node.keys.length - 1;
      if (this.i >= 0) return;
    }
  }
}
