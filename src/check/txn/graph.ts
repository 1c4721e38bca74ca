import { assert } from '../../util/assert.js';

/**
 * The dependency graph over transactions: edges kept as recorded (one entry per kind and reason;
 * a pair of transactions may have several), then laid out by source (compressed sparse rows) so
 * that the searches walk typed arrays, not objects: 100,000 transactions make a few million
 * entries.
 */
export class EdgeBuilder {
  private src = new Int32Array(1024);
  private dst = new Int32Array(1024);
  private kind = new Uint8Array(1024);
  /** The key the edge was inferred from (an index into the keys), or -1 for real time and process. */
  private key = new Int32Array(1024);
  length = 0;

  add(from: number, to: number, kind: number, key: number): void {
    if (from === to) return;
    if (this.length === this.src.length) this.grow();
    const i = this.length++;
    this.src[i] = from;
    this.dst[i] = to;
    this.kind[i] = kind;
    this.key[i] = key;
  }

  private grow(): void {
    const size = this.src.length * 2;
    const src = new Int32Array(size);
    src.set(this.src);
    const dst = new Int32Array(size);
    dst.set(this.dst);
    const kind = new Uint8Array(size);
    kind.set(this.kind);
    const key = new Int32Array(size);
    key.set(this.key);
    this.src = src;
    this.dst = dst;
    this.kind = kind;
    this.key = key;
  }

  /** Lays the edges out by source: edges of node v are at offsets start[v] .. start[v + 1]. */
  build(nodeCount: number): Graph {
    const start = new Int32Array(nodeCount + 1);
    for (let i = 0; i < this.length; i++) start[(this.src[i] as number) + 1] = (start[(this.src[i] as number) + 1] as number) + 1;
    for (let v = 0; v < nodeCount; v++) start[v + 1] = (start[v + 1] as number) + (start[v] as number);
    const fill = start.slice(0, nodeCount);
    const dst = new Int32Array(this.length);
    const kind = new Uint8Array(this.length);
    const key = new Int32Array(this.length);
    for (let i = 0; i < this.length; i++) {
      const from = this.src[i] as number;
      const at = fill[from] as number;
      fill[from] = at + 1;
      dst[at] = this.dst[i] as number;
      kind[at] = this.kind[i] as number;
      key[at] = this.key[i] as number;
    }
    return { nodeCount, start, dst, kind, key };
  }
}

export interface Graph {
  readonly nodeCount: number;
  readonly start: Int32Array;
  readonly dst: Int32Array;
  readonly kind: Uint8Array;
  readonly key: Int32Array;
}

/**
 * Strongly connected components over the edges whose kind is in `mask` (Tarjan, 1972), iterative
 * with explicit stacks: a recursive walk overflows the call stack on a path of 100,000
 * transactions. Returns each node's component (-1: none of size ≥ 2, the only ones that hold
 * cycles, since no edge goes from a node to itself) and the components' members.
 */
export function stronglyConnected(g: Graph, mask: number): { component: Int32Array; members: number[][] } {
  const n = g.nodeCount;
  const index = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const onStack = new Uint8Array(n);
  const stack = new Int32Array(n);
  let stackTop = 0;
  const callNode = new Int32Array(n);
  const callEdge = new Int32Array(n);
  let callTop = 0;
  const component = new Int32Array(n).fill(-1);
  const members: number[][] = [];
  let counter = 0;
  for (let root = 0; root < n; root++) {
    if (index[root] !== -1) continue;
    callNode[0] = root;
    callEdge[0] = g.start[root] as number;
    callTop = 1;
    index[root] = low[root] = counter++;
    stack[stackTop++] = root;
    onStack[root] = 1;
    while (callTop > 0) {
      const v = callNode[callTop - 1] as number;
      const e = callEdge[callTop - 1] as number;
      if (e < (g.start[v + 1] as number)) {
        callEdge[callTop - 1] = e + 1;
        if (((g.kind[e] as number) & mask) === 0) continue;
        const w = g.dst[e] as number;
        if (index[w] === -1) {
          index[w] = low[w] = counter++;
          stack[stackTop++] = w;
          onStack[w] = 1;
          callNode[callTop] = w;
          callEdge[callTop] = g.start[w] as number;
          callTop++;
        } else if (onStack[w] === 1 && (index[w] as number) < (low[v] as number)) {
          low[v] = index[w] as number;
        }
        continue;
      }
      callTop--;
      if (callTop > 0) {
        const parent = callNode[callTop - 1] as number;
        if ((low[v] as number) < (low[parent] as number)) low[parent] = low[v] as number;
      }
      if (low[v] !== index[v]) continue;
      const scc: number[] = [];
      let w: number;
      do {
        w = stack[--stackTop] as number;
        onStack[w] = 0;
        scc.push(w);
      } while (w !== v);
      if (scc.length >= 2) {
        for (const m of scc) component[m] = members.length;
        members.push(scc.sort((a, b) => a - b));
      }
    }
  }
  assert(stackTop === 0, 'Tarjan leaves its stack empty');
  return { component, members };
}

/** One step of a cycle: the edge entry (offset into the graph's arrays) from `from` to `to`. */
export interface Step {
  readonly from: number;
  readonly to: number;
  readonly edge: number;
}

/**
 * Shortest paths inside one component by breadth-first search, with visited marks stamped by a
 * generation number so that thousands of searches share one set of arrays.
 */
export class PathFinder {
  private readonly seen: Int32Array;
  private readonly via: Int32Array;
  private readonly queue: Int32Array;
  private generation = 0;
  /** Edges looked at, over all searches: the caller's budget. */
  steps = 0;

  constructor(private readonly g: Graph, private readonly component: Int32Array) {
    this.seen = new Int32Array(g.nodeCount);
    this.via = new Int32Array(g.nodeCount);
    this.queue = new Int32Array(g.nodeCount);
  }

  /**
   * The shortest path from `from` to `to` over edges of kinds in `mask` that stay in their
   * component, as edge offsets in order; null when there is none (or `stepsMax` ran out).
   */
  path(from: number, to: number, mask: number, stepsMax: number): number[] | null {
    const g = this.g;
    const comp = this.component[from] as number;
    const gen = ++this.generation;
    let head = 0;
    let tail = 0;
    this.queue[tail++] = from;
    this.seen[from] = gen;
    while (head < tail) {
      const v = this.queue[head++] as number;
      if (v === to) break;
      const end = g.start[v + 1] as number;
      for (let e = g.start[v] as number; e < end; e++) {
        this.steps++;
        if (((g.kind[e] as number) & mask) === 0) continue;
        const w = g.dst[e] as number;
        if (this.seen[w] === gen || this.component[w] !== comp) continue;
        this.seen[w] = gen;
        this.via[w] = e;
        this.queue[tail++] = w;
      }
      if (this.steps > stepsMax) return null;
    }
    if (this.seen[to] !== gen) return null;
    const edges: number[] = [];
    for (let v = to; v !== from;) {
      const e = this.via[v] as number;
      edges.push(e);
      v = this.sourceOf(e);
    }
    return edges.reverse();
  }

  /** The source of an edge offset: the node whose rows hold it (binary search over starts). */
  sourceOf(e: number): number {
    const start = this.g.start;
    let lo = 0;
    let hi = this.g.nodeCount - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((start[mid] as number) <= e) lo = mid;
      else hi = mid - 1;
    }
    // Nodes without edges share a start with the next: the last node starting at or before e
    // that has edges is the one (the search above finds the highest start ≤ e, which is it).
    return lo;
  }
}
