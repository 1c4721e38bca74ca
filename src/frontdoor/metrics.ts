import { assert } from '../util/assert.js';

/**
 * Counters and latency histograms of a node's front ends, and the Prometheus text exposition
 * format (version 0.0.4) they are scraped in. Pure: the caller measures, this module counts and
 * renders.
 *
 * Histograms use fixed cumulative buckets, as Prometheus' client libraries do, so that a scrape is
 * cheap and quantiles can be aggregated across nodes with histogram_quantile().
 */

/** Upper bounds of the latency buckets, in seconds: 0.25 ms to 10 s. */
export const LATENCY_BUCKETS_S: readonly number[] = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Histogram {
  /** counts[i]: observations <= bounds[i] and > bounds[i-1]; the last slot is +Inf. */
  private readonly counts: number[];
  private sumS = 0;
  private total = 0;

  constructor(readonly bounds: readonly number[] = LATENCY_BUCKETS_S) {
    assert(bounds.every((b, i) => i === 0 || b > (bounds[i - 1] as number)), 'histogram bounds must increase');
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  /** Records `times` observations of the same duration (one, unless given). */
  observe(seconds: number, times = 1): void {
    let i = 0;
    while (i < this.bounds.length && seconds > (this.bounds[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + times;
    this.sumS += seconds * times;
    this.total += times;
  }

  get count(): number {
    return this.total;
  }

  get sum(): number {
    return this.sumS;
  }

  /** Cumulative counts per bound, then +Inf (the Prometheus `le` series). */
  cumulative(): number[] {
    const out: number[] = [];
    let run = 0;
    for (const c of this.counts) out.push((run += c));
    return out;
  }
}

export type Labels = Record<string, string>;

/** A labelled family of counters or histograms, created on first use of a label set. */
export class Family<T> {
  private readonly series = new Map<string, { labels: Labels; value: T }>();

  constructor(
    private readonly make: () => T,
    /** A bound on label combinations, so that a caller's bug cannot grow memory without end. */
    private readonly seriesMax = 1000,
  ) {}

  get(labels: Labels): T {
    const key = labelText(labels);
    let s = this.series.get(key);
    if (s === undefined) {
      assert(this.series.size < this.seriesMax, () => `more than ${this.seriesMax} label sets in one metric family`);
      s = { labels, value: this.make() };
      this.series.set(key, s);
    }
    return s.value;
  }

  entries(): { labels: Labels; value: T }[] {
    return [...this.series.values()];
  }
}

export class Counter {
  value = 0;
  inc(by = 1): void {
    this.value += by;
  }
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** `{a="x",b="y"}`, or '' without labels. Label order is the caller's (kept stable). */
export function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** Builds one exposition text, a family at a time. */
export class Exposition {
  private readonly lines: string[] = [];
  private readonly seen = new Set<string>();

  private header(name: string, type: 'counter' | 'gauge' | 'histogram', help: string): void {
    assert(METRIC_NAME.test(name), () => `bad metric name ${name}`);
    assert(!this.seen.has(name), () => `metric ${name} rendered twice`);
    this.seen.add(name);
    this.lines.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`);
  }

  scalar(name: string, type: 'counter' | 'gauge', help: string, samples: { labels?: Labels; value: number }[]): this {
    if (samples.length === 0) return this;
    this.header(name, type, help);
    for (const s of samples) this.lines.push(`${name}${labelText(s.labels ?? {})} ${num(s.value)}`);
    return this;
  }

  histogram(name: string, help: string, series: { labels: Labels; value: Histogram }[]): this {
    if (series.length === 0) return this;
    this.header(name, 'histogram', help);
    for (const { labels, value: h } of series) {
      const cumulative = h.cumulative();
      h.bounds.forEach((b, i) => this.lines.push(`${name}_bucket${labelText({ ...labels, le: String(b) })} ${cumulative[i]}`));
      this.lines.push(`${name}_bucket${labelText({ ...labels, le: '+Inf' })} ${h.count}`);
      this.lines.push(`${name}_sum${labelText(labels)} ${num(h.sum)}`);
      this.lines.push(`${name}_count${labelText(labels)} ${h.count}`);
    }
    return this;
  }

  text(): string {
    return this.lines.join('\n') + '\n';
  }
}

/**
 * Every finite number in a status object, as (snake_case path, value): how fields a node adds to
 * its status later (storage sizes, compactions, raft indexes) reach /metrics without a change here.
 */
export function numericLeaves(value: unknown, prefix = '', depth = 0): [string, number][] {
  if (depth > 4) return [];
  if (typeof value === 'number' && Number.isFinite(value)) return [[prefix, value]];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [];
  const out: [string, number][] = [];
  for (const [k, v] of Object.entries(value)) {
    const name = k.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/[^a-zA-Z0-9_]/g, '_').toLowerCase();
    out.push(...numericLeaves(v, prefix === '' ? name : `${prefix}_${name}`, depth + 1));
  }
  return out;
}
