import type { Graph } from './graph.js';
import { PathFinder, stronglyConnected } from './graph.js';
import { PROCESS, RT, RW, WR, WW, type CycleAnomaly } from './models.js';

/**
 * Finding and naming cycles. Every cycle lies inside one strongly connected component of any
 * graph that holds its edges, so the components of the model's graph are found once (Tarjan)
 * and each is searched: for an edge of a "key" kind a → b, the shortest path b ⇝ a over the
 * allowed kinds (breadth-first) closes the shortest cycle through that edge. The searches go from
 * the strictest class to the weakest, as Elle's do: a G-single search (one rw edge, the rest ww
 * and wr) runs before a G2-item search, so a component holding both reports both and a model
 * that allows only one of them is judged right.
 */

interface Strategy {
  /** The kind the cycle must contain (its first edge). */
  readonly key: number;
  /** The kinds its other edges may have. */
  readonly path: number;
  /** The classes it can find (to skip it when the model forbids none of them). */
  readonly yields: readonly CycleAnomaly[];
}

const TIME = RT | PROCESS;

const STRATEGIES: readonly Strategy[] = [
  { key: WW, path: WW, yields: ['G0'] },
  { key: WR, path: WW | WR, yields: ['G1c'] },
  { key: RW, path: WW | WR, yields: ['G-single'] },
  { key: RW, path: WW | WR | RW, yields: ['G2-item'] },
  { key: TIME, path: WW | WR | TIME, yields: ['G0-realtime', 'G1c-realtime'] },
  { key: RW, path: WW | WR | TIME, yields: ['G-single-realtime'] },
  { key: TIME, path: WW | WR | RW | TIME, yields: ['G2-item-realtime'] },
];

/** After the first cycle of a class in a component, how many more key edges are tried for a shorter one. */
const TRIES_AFTER_FOUND = 16;

/** The class of a cycle from the kinds of its edges. */
export function classify(g: Graph, edges: readonly number[]): CycleAnomaly {
  let wr = 0;
  let rw = 0;
  let time = 0;
  for (const e of edges) {
    const kind = g.kind[e] as number;
    if (kind === WR) wr++;
    else if (kind === RW) rw++;
    else if ((kind & TIME) !== 0) time++;
  }
  const base = rw === 0 ? (wr === 0 ? 'G0' : 'G1c') : rw === 1 ? 'G-single' : 'G2-item';
  return (time > 0 ? `${base}-realtime` : base) as CycleAnomaly;
}

export interface FoundCycle {
  readonly class: CycleAnomaly;
  /** Edge offsets into the graph, in order around the cycle. */
  readonly edges: readonly number[];
  readonly component: number;
}

export interface CycleSearch {
  readonly cycles: FoundCycle[];
  /** Components (of size ≥ 2) holding at least one cycle of each class. */
  readonly counts: Map<CycleAnomaly, number>;
  readonly componentCount: number;
  /** Classes the step budget cut short: their absence is not proven. */
  readonly incomplete: Set<CycleAnomaly>;
  readonly steps: number;
}

export function findCycles(g: Graph, mask: number, forbidden: ReadonlySet<string>, stepsMax: number,
  cyclesPerClassMax: number): CycleSearch {
  const { component, members } = stronglyConnected(g, mask);
  const finder = new PathFinder(g, component);
  const cycles: FoundCycle[] = [];
  const counts = new Map<CycleAnomaly, number>();
  const incomplete = new Set<CycleAnomaly>();
  const strategies = STRATEGIES.filter((s) => ((s.key | s.path) & ~mask) === 0 && s.yields.some((c) => forbidden.has(c)));
  for (let c = 0; c < members.length; c++) {
    const best = new Map<CycleAnomaly, number[]>();
    for (const s of strategies) {
      const done = searchComponent(g, finder, members[c] as number[], c, component, s, best, stepsMax);
      if (!done) for (const y of s.yields) if (!best.has(y)) incomplete.add(y);
    }
    for (const [cls, edges] of best) {
      counts.set(cls, (counts.get(cls) ?? 0) + 1);
      if ((counts.get(cls) as number) <= cyclesPerClassMax) cycles.push({ class: cls, edges, component: c });
    }
  }
  return { cycles, counts, componentCount: members.length, incomplete, steps: finder.steps };
}

/** One strategy over one component; false when the step budget ran out first. */
function searchComponent(g: Graph, finder: PathFinder, nodes: readonly number[], c: number, component: Int32Array,
  s: Strategy, best: Map<CycleAnomaly, number[]>, stepsMax: number): boolean {
  let triesAfter = 0;
  for (const a of nodes) {
    const end = g.start[a + 1] as number;
    for (let e = g.start[a] as number; e < end; e++) {
      if (((g.kind[e] as number) & s.key) === 0 || component[g.dst[e] as number] !== c) continue;
      if (finder.steps > stepsMax) return false;
      const path = finder.path(g.dst[e] as number, a, s.path, stepsMax);
      if (path === null) continue;
      const edges = [e, ...path];
      const cls = classify(g, edges);
      const had = best.get(cls);
      if (had === undefined || edges.length < had.length) best.set(cls, edges);
      if (s.yields.includes(cls) && ++triesAfter > TRIES_AFTER_FOUND) return true;
    }
  }
  return finder.steps <= stepsMax;
}
