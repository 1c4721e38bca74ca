import type { HistoryEvent, Json } from '../../src/check/history.js';
import type { LinearizabilityResult } from '../../src/check/index.js';
import type { LostWritesResult } from '../../src/check/lost-writes.js';
import { assert } from '../../src/util/assert.js';
import type { RunSummary } from '../runner.js';
import type { FaultBand, Marker, NodeSpan, RecordedRun, RoleChange } from './recorder.js';

/**
 * The data a run's report draws, computed from the run's summary, history and recording: every
 * operation packed into parallel arrays (a 100,000-operation run is a few megabytes of JSON that
 * the page parses at once and draws on a canvas), the faults, node states and roles, and each
 * check with the operations, nodes and moment it names, so that the page can point at them.
 */

export interface PackedOps {
  /** Lane (index into ReportData.lanes): the client that issued it. */
  lane: number[];
  process: number[];
  /** Invoke and completion, in microseconds of virtual time; end -1: never completed. */
  startUs: number[];
  endUs: number[];
  /** 0 ok, 1 fail, 2 info (outcome unknown, or still open at the end). */
  status: number[];
  f: number[];
  key: number[];
  /** The node that answered (index into ReportData.nodes); -1: none said. */
  node: number[];
  /** What it wrote or read, shortened for the page. */
  value: string[];
}

export interface CheckView {
  name: string;
  verdict: string;
  expected: boolean;
  summary: string;
  /** Operations the check names (ids: places in invoke order). */
  ops: number[];
  nodes: string[];
  /** When it happened, for checks that name a moment rather than operations. */
  atUs: number | null;
}

export interface ReportData {
  scenario: string;
  seed: number;
  passed: boolean;
  endUs: number;
  nodes: string[];
  lanes: string[];
  keys: string[];
  functions: string[];
  ops: PackedOps;
  bands: (Omit<FaultBand, 'startNs' | 'endNs'> & { startUs: number; endUs: number })[];
  spans: (Omit<NodeSpan, 'startNs' | 'endNs'> & { startUs: number; endUs: number })[];
  roles: (Omit<RoleChange, 'atNs'> & { atUs: number })[];
  markers: (Omit<Marker, 'atNs'> & { atUs: number })[];
  /** Each node's role over time (from its role changes, cut where the node went down). */
  roleSpans: RoleSpan[];
  /** Who led, in which term, from when: the highest term's leader at each change. */
  leaders: { atUs: number; node: string; term: number }[];
  checks: CheckView[];
  /** Latency of the operations that succeeded, over the whole run (ms). */
  latency: { p50Ms: number; p99Ms: number; maxMs: number; count: number };
  truncated: boolean;
}

export interface RoleSpan {
  node: string;
  role: string;
  term: number;
  startUs: number;
  endUs: number;
}

export interface ReportInput {
  summary: RunSummary;
  history: readonly HistoryEvent[];
  recorded: RecordedRun;
  linearizability: LinearizabilityResult | null;
  nodeIds: readonly string[];
}

/** Values are shown up to this many characters (the history file has them whole). */
const VALUE_CHARS_MAX = 24;
const us = (ns: number): number => Math.round(ns / 1000);

export function reportData(input: ReportInput): ReportData {
  const { summary, recorded } = input;
  const endUs = us(summary.virtualMs * 1e6);
  const nodes = [...input.nodeIds];
  const ops = packOps(input.history, nodes);
  const end = (t: number | null) => (t === null ? endUs : us(t));
  return {
    scenario: summary.scenario,
    seed: summary.seed,
    passed: summary.passed,
    endUs,
    nodes,
    lanes: ops.lanes,
    keys: ops.keys,
    functions: ops.functions,
    ops: ops.packed,
    bands: recorded.bands.map(({ startNs, endNs, ...b }) => ({ ...b, startUs: us(startNs), endUs: end(endNs) })),
    spans: recorded.spans.map(({ startNs, endNs, ...s }) => ({ ...s, startUs: us(startNs), endUs: end(endNs) })),
    roles: recorded.roles.map(({ atNs, ...r }) => ({ ...r, atUs: us(atNs) })),
    markers: recorded.markers.map(({ atNs, ...m }) => ({ ...m, atUs: us(atNs) })),
    roleSpans: roleSpans(recorded, endUs),
    leaders: leaders(recorded),
    checks: checkViews(input, ops),
    latency: latencyOf(ops.packed),
    truncated: recorded.truncated,
  };
}

interface Packing {
  packed: PackedOps;
  lanes: string[];
  keys: string[];
  functions: string[];
  /** Per op: the history events it came from (invoke, completion or -1). */
  events: [number, number][];
}

/** Pairs invokes with completions (a process has one operation open at a time) and packs them. */
function packOps(history: readonly HistoryEvent[], nodes: readonly string[]): Packing {
  const packed: PackedOps = { lane: [], process: [], startUs: [], endUs: [], status: [], f: [], key: [], node: [], value: [] };
  const index = <T>(list: T[], map: Map<T, number>, v: T): number => {
    let i = map.get(v);
    if (i === undefined) {
      i = list.length;
      list.push(v);
      map.set(v, i);
    }
    return i;
  };
  const lanes: string[] = [];
  const keys: string[] = [];
  const functions: string[] = [];
  const laneIds = new Map<string, number>();
  const keyIds = new Map<string, number>();
  const fIds = new Map<string, number>();
  const nodeIds = new Map(nodes.map((n, i) => [n, i] as const));
  const open = new Map<number, number>();
  const events: [number, number][] = [];
  history.forEach((ev, at) => {
    if (ev.type === 'invoke') {
      assert(!open.has(ev.process), () => `history event ${at + 1}: process ${ev.process} invokes with an operation open`);
      const id = packed.lane.length;
      open.set(ev.process, id);
      events.push([at, -1]);
      const lane = ev.final === true ? 'final reads' : typeof ev.client === 'string' ? ev.client : `p${ev.process}`;
      packed.lane.push(index(lanes, laneIds, lane));
      packed.process.push(ev.process);
      packed.startUs.push(us(ev.time ?? 0));
      packed.endUs.push(-1);
      packed.status.push(2);
      packed.f.push(index(functions, fIds, ev.f));
      packed.key.push(index(keys, keyIds, String(ev.key)));
      packed.node.push(-1);
      packed.value.push(shortValue(ev.value ?? null));
      return;
    }
    const id = open.get(ev.process);
    if (id === undefined) return;
    open.delete(ev.process);
    (events[id] as [number, number])[1] = at;
    packed.endUs[id] = us(ev.time ?? 0);
    packed.status[id] = ev.type === 'ok' ? 0 : ev.type === 'fail' ? 1 : 2;
    packed.node[id] = typeof ev.node === 'string' ? (nodeIds.get(ev.node) ?? -1) : -1;
    if (ev.type === 'ok' && ev.f === 'read') packed.value[id] = `→ ${shortValue(ev.value ?? null)}`;
    else if (ev.type !== 'ok' && typeof ev.error === 'string') packed.value[id] += ` (${ev.error.slice(0, 60)})`;
  });
  return { packed, lanes, keys, functions, events };
}

function shortValue(v: Json): string {
  const text = typeof v === 'string' ? v : JSON.stringify(v);
  return text.length <= VALUE_CHARS_MAX ? text : `${text.slice(0, VALUE_CHARS_MAX - 1)}…`;
}

function latencyOf(ops: PackedOps): ReportData['latency'] {
  const ms: number[] = [];
  for (let i = 0; i < ops.status.length; i++) if (ops.status[i] === 0) ms.push(((ops.endUs[i] as number) - (ops.startUs[i] as number)) / 1000);
  ms.sort((a, b) => a - b);
  const at = (q: number) => (ms.length === 0 ? 0 : (ms[Math.min(ms.length - 1, Math.floor(q * ms.length))] as number));
  return { p50Ms: at(0.5), p99Ms: at(0.99), maxMs: ms.length === 0 ? 0 : (ms[ms.length - 1] as number), count: ms.length };
}

/** Each check of the summary, with what it names: operations, nodes, a moment. */
function checkViews(input: ReportInput, packing: Packing): CheckView[] {
  const views: CheckView[] = [];
  for (const [name, c] of Object.entries(input.summary.checks)) {
    if (c === undefined) continue;
    const view: CheckView = { name, verdict: c.verdict, expected: c.expected === 'fail', summary: c.summary, ops: [], nodes: [], atUs: null };
    if (c.verdict === 'fail') Object.assign(view, namedBy(name, c.details, c.summary, input, packing));
    views.push(view);
  }
  // Failing checks first: they are what the reader came for.
  return views.sort((a, b) => Number(b.verdict === 'fail') - Number(a.verdict === 'fail'));
}

function namedBy(name: string, details: unknown, summary: string, input: ReportInput, packing: Packing): Partial<CheckView> {
  const p = packing.packed;
  const find = (want: (i: number) => boolean): number[] => {
    const out: number[] = [];
    for (let i = 0; i < p.lane.length && out.length < 1000; i++) if (want(i)) out.push(i);
    return out;
  };
  switch (name) {
    case 'linearizable': {
      const r = input.linearizability;
      if (r === null || r.opCount !== p.lane.length) return {};
      // The checker numbers operations in invoke order, as the packing does.
      const ids = r.keys.flatMap((k) => (k.explanation === undefined ? [] : [...k.explanation.ops, ...k.explanation.context].map((op) => op.id)));
      return { ops: [...new Set(ids)].sort((a, b) => a - b) };
    }
    case 'lost-writes': {
      const r = details as LostWritesResult | undefined;
      if (r === undefined || !Array.isArray(r.lost)) return {};
      const history = input.history;
      const ids = r.lost.slice(0, 50).flatMap((l) => [
        ...find((i) => p.process[i] === l.process && packing.keys[p.key[i] as number] === l.key && p.status[i] === 0 &&
          JSON.stringify(history[(packing.events[i] as [number, number])[0]]?.value) === JSON.stringify(l.value)),
        ...find((i) => p.process[i] === l.readProcess && packing.keys[p.key[i] as number] === l.key && packing.lanes[p.lane[i] as number] === 'final reads'),
      ]);
      return { ops: [...new Set(ids)].sort((a, b) => a - b) };
    }
    case 'liveness': {
      // "after healing, reads of 2 key(s) never succeeded: k1, k3"
      const m = /never succeeded: (.*)$/.exec(summary);
      const keys = new Set((m?.[1] ?? '').split(', '));
      return { ops: find((i) => packing.lanes[p.lane[i] as number] === 'final reads' && keys.has(packing.keys[p.key[i] as number] as string)) };
    }
    case 'raft-safety': {
      const d = details as { nodes?: string[] } | undefined;
      const at = input.recorded.markers.find((m) => m.kind === 'violation');
      return { nodes: d?.nodes ?? [], atUs: at === undefined ? null : us(at.atNs) };
    }
    case 'assertions': {
      const d = details as { node: string; atNs: number }[] | undefined;
      const first = Array.isArray(d) ? d[0] : undefined;
      return { nodes: Array.isArray(d) ? [...new Set(d.map((x) => x.node))] : [], atUs: first === undefined ? null : us(first.atNs) };
    }
    default:
      return { nodes: input.nodeIds.filter((n) => new RegExp(`\\b${n}\\b`).test(summary)) };
  }
}

/** A node holds a role from its change until its next change, or until it goes down. */
function roleSpans(recorded: RecordedRun, endUs: number): RoleSpan[] {
  const byNode = new Map<string, { atUs: number; role: string; term: number }[]>();
  const push = (node: string, e: { atUs: number; role: string; term: number }) => {
    let list = byNode.get(node);
    if (list === undefined) byNode.set(node, (list = []));
    list.push(e);
  };
  for (const r of recorded.roles) push(r.node, { atUs: us(r.atNs), role: r.role, term: r.term });
  for (const s of recorded.spans) if (s.state === 'down') push(s.node, { atUs: us(s.startNs), role: 'down', term: -1 });
  const spans: RoleSpan[] = [];
  for (const [node, list] of byNode) {
    list.sort((a, b) => a.atUs - b.atUs);
    list.forEach((e, i) => {
      if (e.role === 'down') return;
      const next = list[i + 1];
      spans.push({ node, role: e.role, term: e.term, startUs: e.atUs, endUs: next === undefined ? endUs : next.atUs });
    });
  }
  assert(spans.every((s) => s.endUs >= s.startUs), 'role spans run forwards');
  return spans;
}

/** The leader of the highest term seen so far, each time it changes. */
function leaders(recorded: RecordedRun): ReportData['leaders'] {
  const out: ReportData['leaders'] = [];
  let term = -1;
  for (const r of recorded.roles) {
    if (r.role !== 'leader' || r.term < term) continue;
    const last = out[out.length - 1];
    if (last !== undefined && last.node === r.node && last.term === r.term) continue;
    term = r.term;
    out.push({ atUs: us(r.atNs), node: r.node, term: r.term });
  }
  return out;
}
