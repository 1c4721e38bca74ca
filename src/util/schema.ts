import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';

/**
 * A small validator for YAML files that knows where every value came from, so that a bad file
 * gets errors naming the file, line, column, field and what was expected — all of them at once,
 * never a stack trace.
 */

export interface Problem {
  file: string;
  line: number;
  col: number;
  path: string;
  message: string;
}

export class SchemaError extends Error {
  constructor(readonly problems: Problem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'SchemaError';
  }
}

export function formatProblem(p: Problem): string {
  return `${p.file}:${p.line}:${p.col}: ${p.path === '' ? '' : `${p.path}: `}${p.message}`;
}

export interface Ctx {
  file: string;
  lines: LineCounter;
  problems: Problem[];
}

type YNode = YamlNode | null;

/** Returns the value, or undefined after recording a problem. `at` locates a missing value. */
export type Validator<T> = (node: YNode, path: string, ctx: Ctx, at: YNode) => T | undefined;

export function problem(ctx: Ctx, node: YNode, path: string, message: string): undefined {
  const offset = node?.range?.[0] ?? 0;
  const pos = ctx.lines.linePos(offset);
  ctx.problems.push({ file: ctx.file, line: pos.line, col: pos.col, path, message });
  return undefined;
}

function describe(node: YNode): string {
  if (node === null) return 'nothing';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) return JSON.stringify(node.value);
  return 'something else';
}

function scalar(node: YNode): unknown {
  return node !== null && isScalar(node) ? node.value : undefined;
}

export function int(opts: { min?: number; max?: number } = {}): Validator<number> {
  return (node, path, ctx) => {
    const v = scalar(node);
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) return problem(ctx, node, path, `expected an integer, got ${describe(node)}`);
    if (opts.min !== undefined && v < opts.min) return problem(ctx, node, path, `must be at least ${opts.min}, got ${v}`);
    if (opts.max !== undefined && v > opts.max) return problem(ctx, node, path, `must be at most ${opts.max}, got ${v}`);
    return v;
  };
}

export function num(opts: { min?: number; max?: number; minExclusive?: number } = {}): Validator<number> {
  return (node, path, ctx) => {
    const v = scalar(node);
    if (typeof v !== 'number' || !Number.isFinite(v)) return problem(ctx, node, path, `expected a number, got ${describe(node)}`);
    if (opts.min !== undefined && v < opts.min) return problem(ctx, node, path, `must be at least ${opts.min}, got ${v}`);
    if (opts.minExclusive !== undefined && v <= opts.minExclusive) return problem(ctx, node, path, `must be more than ${opts.minExclusive}, got ${v}`);
    if (opts.max !== undefined && v > opts.max) return problem(ctx, node, path, `must be at most ${opts.max}, got ${v}`);
    return v;
  };
}

export const probability: Validator<number> = num({ min: 0, max: 1 });

export function str(opts: { pattern?: RegExp; patternText?: string; maxLength?: number } = {}): Validator<string> {
  return (node, path, ctx) => {
    const v = scalar(node);
    if (typeof v !== 'string') return problem(ctx, node, path, `expected a string, got ${describe(node)}`);
    if (opts.maxLength !== undefined && v.length > opts.maxLength) return problem(ctx, node, path, `longer than ${opts.maxLength} characters`);
    if (opts.pattern && !opts.pattern.test(v)) return problem(ctx, node, path, `expected ${opts.patternText ?? opts.pattern.source}, got ${JSON.stringify(v)}`);
    return v;
  };
}

export function oneOf<T extends string>(choices: readonly T[]): Validator<T> {
  return (node, path, ctx) => {
    const v = scalar(node);
    if (typeof v !== 'string' || !(choices as readonly string[]).includes(v)) {
      return problem(ctx, node, path, `expected one of ${choices.join(', ')}; got ${describe(node)}`);
    }
    return v as T;
  };
}

export const bool: Validator<boolean> = (node, path, ctx) => {
  const v = scalar(node);
  if (typeof v !== 'boolean') return problem(ctx, node, path, `expected true or false, got ${describe(node)}`);
  return v;
};

const DURATION_UNITS_NS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** A duration such as 500ms, 2s, 1.5m; returned in nanoseconds. `signed` allows a leading minus. */
export function duration(opts: { signed?: boolean; minNs?: number } = {}): Validator<number> {
  return (node, path, ctx) => {
    const v = scalar(node);
    const m = typeof v === 'string' ? /^(-?)(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|m|h)$/.exec(v.trim()) : null;
    if (m === null) return problem(ctx, node, path, `expected a duration such as 500ms, 2s or 1.5m; got ${describe(node)}`);
    if (m[1] === '-' && !opts.signed) return problem(ctx, node, path, `must not be negative`);
    const ns = Math.round(Number(m[2]) * (DURATION_UNITS_NS[m[3] as string] as number)) * (m[1] === '-' ? -1 : 1);
    if (opts.minNs !== undefined && ns < opts.minNs) return problem(ctx, node, path, `must be at least ${opts.minNs / 1e6} ms`);
    return ns;
  };
}

const SIZE_UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, KB: 1e3, MB: 1e6, GB: 1e9 };

/** A size in bytes: an integer, or text such as 64MiB. */
export const bytes: Validator<number> = (node, path, ctx) => {
  const v = scalar(node);
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  const m = typeof v === 'string' ? /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|KB|MB|GB)$/.exec(v.trim()) : null;
  if (m === null) return problem(ctx, node, path, `expected a size such as 4096, 512KiB or 64MiB; got ${describe(node)}`);
  return Math.floor(Number(m[1]) * (SIZE_UNITS[m[2] as string] as number));
};

export function list<T>(of: Validator<T>, opts: { min?: number; max?: number } = {}): Validator<T[]> {
  return (node, path, ctx) => {
    if (node === null || !isSeq(node)) return problem(ctx, node, path, `expected a list, got ${describe(node)}`);
    const items = node.items as YNode[];
    if (opts.min !== undefined && items.length < opts.min) return problem(ctx, node, path, `needs at least ${opts.min} item(s)`);
    if (opts.max !== undefined && items.length > opts.max) return problem(ctx, node, path, `allows at most ${opts.max} items`);
    const out: T[] = [];
    let ok = true;
    items.forEach((item, i) => {
      const v = of(item, `${path}[${i}]`, ctx, item ?? node);
      if (v === undefined) ok = false;
      else out.push(v);
    });
    return ok ? out : undefined;
  };
}

export interface Field<T> {
  v: Validator<T>;
  required?: boolean;
  default?: T;
}

type ValueOf<F> = F extends { v: Validator<infer T> } ? T : never;
type Present<F> = F extends { required: true } ? true : 'default' extends keyof F ? true : false;
export type FieldsOf<S> = { [K in keyof S]: Present<S[K]> extends true ? ValueOf<S[K]> : ValueOf<S[K]> | undefined };

/** A mapping with known fields; unknown fields are errors (a typo must not be silently ignored). */
export function obj<S extends Record<string, Field<unknown>>>(fields: S): Validator<FieldsOf<S>> {
  return (node, path, ctx, at) => {
    if (node === null || !isMap(node)) return problem(ctx, node ?? at, path, `expected a mapping, got ${describe(node)}`);
    const out: Record<string, unknown> = {};
    let ok = true;
    const seen = new Set<string>();
    for (const pair of node.items) {
      const keyNode = pair.key as YNode;
      const key = scalar(keyNode);
      const sub = path === '' ? String(key) : `${path}.${String(key)}`;
      if (typeof key !== 'string' || !(key in fields)) {
        problem(ctx, keyNode, sub, `unknown field; expected one of ${Object.keys(fields).join(', ')}`);
        ok = false;
        continue;
      }
      if (seen.has(key)) {
        problem(ctx, keyNode, sub, 'given twice');
        ok = false;
        continue;
      }
      seen.add(key);
      const v = (fields[key] as Field<unknown>).v(pair.value as YNode, sub, ctx, keyNode);
      if (v === undefined) ok = false;
      else out[key] = v;
    }
    for (const [key, field] of Object.entries(fields)) {
      if (seen.has(key)) continue;
      if (field.required) {
        problem(ctx, node, path === '' ? key : `${path}.${key}`, 'required field is missing');
        ok = false;
      } else if (field.default !== undefined) out[key] = field.default;
    }
    return ok ? (out as FieldsOf<S>) : undefined;
  };
}

/** Parses YAML text and validates it; throws SchemaError listing every problem. */
export function parseYaml<T>(text: string, file: string, root: Validator<T>): T {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const ctx: Ctx = { file, lines, problems: [] };
  if (doc.errors.length > 0) {
    throw new SchemaError(
      doc.errors.map((e) => {
        const pos = lines.linePos(e.pos[0]);
        return { file, line: pos.line, col: pos.col, path: '', message: `YAML syntax: ${e.message.split('\n')[0] ?? e.message}` };
      }),
    );
  }
  const value = root(doc.contents as YNode, '', ctx, null);
  if (value === undefined || ctx.problems.length > 0) {
    if (ctx.problems.length === 0) problem(ctx, null, '', 'invalid');
    throw new SchemaError(ctx.problems);
  }
  return value;
}
