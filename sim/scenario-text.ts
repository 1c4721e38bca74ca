import { isDeepStrictEqual } from 'node:util';
import { DEFAULT_GOSSIP_OPTIONS, LIFEGUARD_OFF, LIFEGUARD_ON, NO_GOSSIP_BUGS, type GossipOptions } from '../src/cluster/gossip/options.js';
import { LAB_RAFT_TUNING } from '../src/node/raft-tuning.js';
import { assert } from '../src/util/assert.js';
import { parseScenario, type Fault, type Scenario } from './scenario.js';

/**
 * A scenario written back as a scenario file: what the shrinker leaves behind (minimal.yaml) and
 * what an explored run records, so that either can be run, read and edited like any shipped file.
 * Only what differs from the defaults is written, in the shipped files' compact style (a line per
 * section, a line per fault). The written text parses back into the same scenario: scenarioYaml
 * asserts it, so a field added to the schema but not here fails loudly instead of being dropped.
 */

/** Writes a scenario as YAML that parseScenario reads back into an equal scenario (but for `file` and fault lines). */
export function scenarioYaml(s: Scenario, header: readonly string[] = []): string {
  const base = defaultsFor(s);
  const lines: string[] = header.map((h) => (h === '' ? '#' : `# ${h}`));
  lines.push(`name: ${scalar(s.name)}`);
  lines.push(`description: ${scalar(s.description)}`);
  lines.push(`seed: ${s.seeds.first === s.seeds.last ? s.seeds.first : scalar(`${s.seeds.first}..${s.seeds.last}`)}`);
  lines.push(`duration: ${durationText(s.durationNs)}`);
  lines.push(`cluster: ${flow(clusterFields(s, base))}`);
  const network = diff({ latency: latencyFields(s.network.latency) }, { latency: latencyFields(base.network.latency) });
  if (Object.keys(network).length > 0) lines.push(`network: ${flow(network)}`);
  const disk = diff(diskFields(s), diskFields(base));
  if (Object.keys(disk).length > 0) lines.push(`disk: ${flow(disk)}`);
  lines.push(`workload: ${flow(diff(workloadFields(s), workloadFields(base)))}`);
  if (s.faults.length > 0) {
    lines.push('faults:');
    for (const f of s.faults) lines.push(`  - ${flow(faultFields(f))}`);
  }
  const heal = diff(
    { timeout: durationText(s.healNs), settle: durationText(s.settleNs), recoverWithin: durationText(s.recoverWithinNs), recoverFraction: s.recoverFraction },
    { timeout: durationText(base.healNs), settle: durationText(base.settleNs), recoverWithin: durationText(base.recoverWithinNs), recoverFraction: base.recoverFraction },
  );
  if (Object.keys(heal).length > 0) lines.push(`heal: ${flow(heal)}`);
  if (!isDeepStrictEqual(s.checks, base.checks)) lines.push(`checks: ${flow(s.checks)}`);
  if (s.expectFail.length > 0) lines.push(`expect: ${flow(Object.fromEntries(s.expectFail.map((c) => [c, 'fail'])))}`);
  if (s.bugs.length > 0) lines.push(`bugs: ${flow(s.bugs)}`);
  const text = `${lines.join('\n')}\n`;
  const back = parseScenario(text, s.file);
  const mismatch = firstDifference(comparable(back), comparable(s), 'scenario');
  assert(mismatch === null, () => `scenarioYaml does not round-trip (${mismatch}): a scenario field it does not write yet`);
  return text;
}

/** The scenario a file with the same cluster shape and nothing else would give: what need not be written. */
function defaultsFor(s: Scenario): Scenario {
  const text = `name: x\ndescription: x\nduration: 1s\ncluster: { nodes: ${s.cluster.nodes}, replication: ${s.cluster.replication} }\nworkload: {}\n`;
  return parseScenario(text, s.file);
}

function clusterFields(s: Scenario, base: Scenario): Record<string, unknown> {
  const c = s.cluster;
  const out: Record<string, unknown> = { nodes: c.nodes };
  if (c.voters !== c.nodes) out.voters = c.voters;
  out.engine = c.engine;
  out.replication = c.replication;
  const raft: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(c.raft)) {
    if (isDeepStrictEqual(v, (LAB_RAFT_TUNING as unknown as Record<string, unknown>)[k])) continue;
    if (k === 'tickMs') raft.tick = durationText((v as number) * 1e6);
    else raft[k] = v;
  }
  if (Object.keys(raft).length > 0) out.raft = raft;
  const primary = diff({ leader: c.primary.leader, shipInterval: durationText(c.primary.shipIntervalMs * 1e6) },
    { leader: base.cluster.primary.leader, shipInterval: durationText(base.cluster.primary.shipIntervalMs * 1e6) });
  if (Object.keys(primary).length > 0) out.primary = primary;
  if (c.gossip !== null) out.gossip = gossipFields(c.gossip);
  // Shards only when there are several: a one-group file reads as it always did.
  if (c.shards > 1) {
    out.shards = c.shards;
    out.replicas = c.replicas;
    if (c.joinByGossip) out.joinByGossip = true;
  }
  // Engine sizes written whole (a preset's included): the file then says every size it runs with.
  const storage = Object.fromEntries(Object.entries(c.storage).filter(([, v]) => v !== undefined && Object.keys(v).length > 0));
  if (Object.keys(storage).length > 0) out.storage = storage;
  return out;
}

/** cluster.gossip as the file states it: the numbers that differ from memberlist's defaults, lifeguard when off. */
function gossipFields(g: GossipOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(g)) {
    if (typeof v === 'number' && v !== (DEFAULT_GOSSIP_OPTIONS as unknown as Record<string, unknown>)[k]) out[k] = v;
  }
  if (isDeepStrictEqual(g.lifeguard, LIFEGUARD_OFF)) out.lifeguard = false;
  else assert(isDeepStrictEqual(g.lifeguard, LIFEGUARD_ON), 'a scenario file turns Lifeguard on or off as a whole');
  assert(isDeepStrictEqual(g.bugs, NO_GOSSIP_BUGS), 'a scenario file cannot switch gossip bugs on');
  return out;
}

function latencyFields(l: { minNs: number; meanNs: number; maxNs: number }): Record<string, string> {
  return { min: durationText(l.minNs), mean: durationText(l.meanNs), max: durationText(l.maxNs) };
}

function diskFields(s: Scenario): Record<string, unknown> {
  const d = s.disk;
  return {
    syncLatency: { min: durationText(d.syncLatencyMinNs), max: durationText(d.syncLatencyMaxNs) },
    crash: d.crash,
    dirCrash: d.dirCrash,
    ...(d.capacityBytes !== null ? { capacity: d.capacityBytes } : {}),
  };
}

function workloadFields(s: Scenario): Record<string, unknown> {
  const w = s.workload;
  return {
    // Only transactional workloads name their kind, so single-key scenarios print as before.
    ...(w.kind !== 'kv' ? { kind: w.kind, txnLength: w.txnLength, txnKeys: w.txnKeys, ...(w.txnPlain > 0 ? { txnPlain: w.txnPlain } : {}), ...(w.txnRange > 0 ? { txnRange: w.txnRange } : {}) } : {}),
    clients: w.clients,
    keys: w.keys,
    mix: Object.fromEntries(Object.entries(w.mix).filter(([, v]) => v > 0)),
    ...(w.ops !== undefined ? { ops: w.ops } : {}),
    ...(w.rate !== undefined ? { rate: w.rate } : {}),
    distribution: w.distribution,
    zipfTheta: w.zipfTheta,
    timeout: durationText(w.timeoutNs),
    think: durationText(w.thinkNs),
    reads: w.reads,
    protocol: w.protocol,
    // Only native clients take it (a scenario naming it with another protocol is refused).
    ...(w.attemptTimeoutNs !== undefined && w.protocol === 'native' ? { attemptTimeout: durationText(w.attemptTimeoutNs) } : {}),
  };
}

/**
 * A fault as the file writes it: kind and times first, then its own fields. Record fields named
 * with a unit (`skewNs`, `minNs`) are durations in the file under the bare name (`skew`, `min`);
 * every other field is written as it is (null, as in crash-at's `after`, is the field left out), so
 * that a new fault kind following the schema's naming needs nothing here.
 */
function faultFields(f: Fault): Record<string, unknown> {
  const out: Record<string, unknown> = { at: durationText(f.atNs) };
  if (f.forNs !== undefined) out.for = durationText(f.forNs);
  if (f.everyNs !== undefined) out.every = durationText(f.everyNs);
  if (f.untilNs !== undefined) out.until = durationText(f.untilNs);
  if (f.afterElectionNs !== undefined) out.afterElection = durationText(f.afterElectionNs);
  out.kind = f.kind;
  for (const [k, v] of Object.entries(f)) {
    if (k === 'line' || k === 'kind' || k === 'atNs' || k === 'forNs' || k === 'everyNs' || k === 'untilNs' || k === 'afterElectionNs' || v === undefined || v === null) continue;
    if (k.endsWith('Ns') && typeof v === 'number') out[k.slice(0, -2)] = durationText(v);
    else out[k] = v;
  }
  return out;
}

/** Entries of `value` that differ from `base` (compared as written). */
function diff(value: Record<string, unknown>, base: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([k, v]) => !isDeepStrictEqual(v, base[k])));
}

const UNITS: [string, number][] = [['h', 3600e9], ['m', 60e9], ['s', 1e9], ['ms', 1e6], ['us', 1e3], ['ns', 1]];

/** A duration in the largest unit that writes it exactly: 1500000000 → "1500ms", 3e9 → "3s". */
export function durationText(ns: number): string {
  assert(Number.isSafeInteger(ns), () => `a duration in whole nanoseconds, got ${ns}`);
  if (ns === 0) return '0ms';
  const sign = ns < 0 ? '-' : '';
  const abs = Math.abs(ns);
  const [unit, size] = UNITS.find(([, size]) => abs % size === 0) as [string, number];
  return `${sign}${abs / size}${unit}`;
}

/** YAML flow style: `{ a: 1, b: [x, y] }`. */
function flow(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(flow).join(', ')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
    return entries.length === 0 ? '{}' : `{ ${entries.map(([k, x]) => `${k}: ${flow(x)}`).join(', ')} }`;
  }
  return scalar(v);
}

/** A scalar, quoted (as JSON, which YAML reads) unless it is a plain word YAML reads back as the same string. */
function scalar(v: unknown): string {
  if (typeof v === 'number') {
    assert(Number.isFinite(v), () => `a finite number, got ${v}`);
    return String(v);
  }
  if (typeof v === 'boolean') return String(v);
  if (v === null) return 'null';
  assert(typeof v === 'string', () => `a scalar, got ${typeof v}`);
  const plain = /^[A-Za-z0-9][A-Za-z0-9_.\-\/]*$/.test(v) && !/^(true|false|null|yes|no|on|off|~|[-+]?[0-9.][0-9_.e+-]*)$/i.test(v);
  return plain ? v : JSON.stringify(v);
}

/** The parts of a scenario that the text must carry (its source file and fault lines are where it was read). */
function comparable(s: Scenario): unknown {
  return { ...s, file: '', faults: s.faults.map((f) => ({ ...f, line: 0 })) };
}

function firstDifference(a: unknown, b: unknown, path: string): string | null {
  if (isDeepStrictEqual(a, b)) return null;
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const keys = new Set([...Object.keys(a as object), ...Object.keys(b as object)]);
    for (const k of keys) {
      const d = firstDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`);
      if (d !== null) return d;
    }
  }
  return `${path}: written ${JSON.stringify(b)}, read back ${JSON.stringify(a)}`;
}
