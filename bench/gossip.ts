/**
 * npm run bench:gossip [-- --json] [-- --quick]
 *
 * SWIM membership (src/cluster/gossip) in the simulator, memberlist's LAN settings, for
 * N = 10, 100 and 1,000 nodes, each with Lifeguard on and off over the same seeds:
 * - crash detection: a random member crashes; virtual time to the first suspicion anywhere, and
 *   until every live member holds it dead (p50/p99 over the crashes);
 * - join: a new node joins through a random seed; virtual time until every member holds it alive;
 * - false positives per 1,000 node-minutes at 0/5/10/20% message loss, and with one node whose
 *   receive path stalls 2 s every 10 s (its timers run on: the slow member of the Lifeguard paper):
 *   false suspicions (episodes: a running, unimpaired member suspected at an incarnation, counted
 *   once) and false deaths (a running member declared dead: episodes, and observer events);
 * - bandwidth: bytes sent per node per second, without loss.
 * Times are virtual (deterministic); the wall time of each part is printed for information only.
 * No peer runs here (memberlist is Go): figures are compared with published ones in the README.
 */
import { SeededRng } from '../src/env/rng.js';
import { gossipOptions } from '../src/cluster/gossip/options.js';
import { GossipCluster, type ObservedEvent } from '../sim/gossip/cluster.js';
import { EventWatch } from '../sim/gossip/checks.js';
import { benchArgs, percentile, type BenchReport, type BenchResult } from './args.js';

const args = benchArgs();
const quick = args.quick;
const SIZES = [10, 100, 1000];
const MODES = [
  { subject: 'lifeguard', lifeguard: true },
  { subject: 'swim', lifeguard: false },
] as const;
const PROBE_MS = 1000;

/** Crash/join cycles per size. */
const cycles = (n: number) => (quick ? { 10: 20, 100: 8, 1000: 2 } : { 10: 150, 100: 60, 1000: 10 })[n as 10 | 100 | 1000];
/**
 * Node-minutes of each false-positive run. The 10% loss target is per 10,000 node-minutes: that
 * many at N = 100 (100 simulated minutes); 2,000 at N = 10 and 1,000, where a node-minute costs
 * as much wall time and the other sizes' figures are there to compare.
 */
const nodeMinutes = (loss: number, n: number) => (quick ? 100 : loss === 0.1 ? (n === 100 ? 10_000 : 2000) : 1000);
/** Simulated minutes of the stall run (60 stalls in 10 minutes). */
const stallMinutes = (n: number) => (quick ? (n === 1000 ? 1 : 2) : n === 1000 ? 3 : 10);

/** The readable figures: on stdout, or with --json on stderr (stdout then holds the one JSON object). */
function log(line: string): void {
  (args.json ? process.stderr : process.stdout).write(`${line}\n`);
}

const ids = (n: number) => Array.from({ length: n }, (_, i) => `n${i + 1}`);
const cluster = (seed: string, lifeguard: boolean, n: number) => {
  const c = new GossipCluster({ seed, gossip: gossipOptions({ lifeguard }), traceEvents: false });
  c.startConverged(ids(n));
  return c;
};

interface Cycles {
  firstSuspicionMs: number[];
  deadEverywhereMs: number[];
  suspicionToDeadMs: number[];
  joinEverywhereMs: number[];
  undetected: number;
  unjoined: number;
}

/** Crash a random member and wait until all hold it dead; then a new node joins; repeat. */
function crashAndJoin(n: number, lifeguard: boolean): Cycles {
  const c = cluster(`bench-gossip/${n}/cycles`, lifeguard, n);
  const pick = new SeededRng(`bench-gossip/${n}/victims`);
  const out: Cycles = { firstSuspicionMs: [], deadEverywhereMs: [], suspicionToDeadMs: [], joinEverywhereMs: [], undetected: 0, unjoined: 0 };
  let victim = '';
  let joiner = '';
  let firstSuspicionAt: number | null = null;
  const deadAt = new Set<string>();
  const joinedAt = new Set<string>();
  c.onEvent((e: ObservedEvent) => {
    const ev = e.event;
    if (ev.id === victim && ev.type === 'suspect' && firstSuspicionAt === null) firstSuspicionAt = e.atNs / 1e6;
    if (ev.id === victim && ev.type === 'dead') deadAt.add(e.observer);
    if (ev.id === joiner && ev.type === 'join') joinedAt.add(e.observer);
  });
  c.runForMs(10_000);
  for (let k = 0; k < cycles(n); k++) {
    const up = c.upIds();
    victim = pick.pick(up);
    firstSuspicionAt = null;
    deadAt.clear();
    const crashedAt = c.nowMs;
    c.crash(victim);
    const others = up.length - 1;
    while (deadAt.size < others && c.nowMs - crashedAt < 120_000) c.runForMs(100);
    if (deadAt.size < others || firstSuspicionAt === null) out.undetected++;
    else {
      out.firstSuspicionMs.push(firstSuspicionAt - crashedAt);
      out.deadEverywhereMs.push(c.nowMs - crashedAt);
      out.suspicionToDeadMs.push(c.nowMs - firstSuspicionAt);
    }
    joiner = `j${k + 1}`;
    joinedAt.clear();
    const joinAt = c.nowMs;
    c.add(joiner, [pick.pick(c.upIds())]);
    const members = c.upIds().length - 1;
    while (joinedAt.size < members && c.nowMs - joinAt < 120_000) c.runForMs(100);
    if (joinedAt.size < members) out.unjoined++;
    else out.joinEverywhereMs.push(c.nowMs - joinAt);
    c.runForMs(2_000 + pick.int(3_000));
  }
  return out;
}

interface Noise {
  nodeMinutes: number;
  falseSuspicions: number;
  falseDeathEpisodes: number;
  falseDeathEvents: number;
  /** Suspicion episodes of the stalled node itself (it really is mute for 2 s): not counted as false. */
  suspicionsOfStalled: number;
  bytesPerNodePerSec: number;
}

function noise(n: number, lifeguard: boolean, loss: number, stall: boolean): Noise {
  const c = cluster(`bench-gossip/${n}/noise/${loss}/${stall}`, lifeguard, n);
  const watch = new EventWatch(c);
  c.runForMs(5_000);
  const minutes = stall ? stallMinutes(n) : nodeMinutes(loss, n) / n;
  const ms = Math.round(minutes * 60_000);
  const bytesBefore = c.bytesSentTotal();
  if (loss > 0) c.setLoss(loss);
  if (stall) {
    watch.impaired.add('n2');
    for (let t = 3_000; t < ms; t += 10_000) c.atMs(t, 'stall', () => c.stall('n2', 2_000));
  }
  c.runForMs(ms);
  let ofStalled = 0;
  for (const s of watch.suspicionEpisodes.values()) if (s.subject === 'n2' && stall) ofStalled++;
  return {
    nodeMinutes: n * minutes,
    falseSuspicions: watch.falseSuspicions(),
    falseDeathEpisodes: watch.falseDeathEpisodes.size,
    falseDeathEvents: watch.falseDeaths.length,
    suspicionsOfStalled: ofStalled,
    bytesPerNodePerSec: (c.bytesSentTotal() - bytesBefore) / n / (ms / 1000),
  };
}

const results: BenchResult[] = [];
const ratios: Record<string, number> = {};
const per1000 = (count: number, nm: number) => (count * 1000) / nm;
const r1 = (x: number) => Math.round(x * 10) / 10;
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { p50Ms: r1(percentile(s, 50)), p99Ms: r1(percentile(s, 99)), samples: s.length };
};

const t0 = performance.now();
for (const n of SIZES) {
  const byMode = new Map<string, { cycles: Cycles; noise: Map<string, Noise> }>();
  for (const mode of MODES) {
    const started = performance.now();
    const cy = crashAndJoin(n, mode.lifeguard);
    const nz = new Map<string, Noise>();
    for (const loss of [0, 0.05, 0.1, 0.2]) nz.set(`loss ${loss * 100}%`, noise(n, mode.lifeguard, loss, false));
    nz.set('stall', noise(n, mode.lifeguard, 0, true));
    byMode.set(mode.subject, { cycles: cy, noise: nz });
    const fs = stats(cy.firstSuspicionMs);
    const de = stats(cy.deadEverywhereMs);
    const jn = stats(cy.joinEverywhereMs);
    log(`N=${n} ${mode.subject.padEnd(9)} crash→first suspicion p50 ${fs.p50Ms} p99 ${fs.p99Ms} ms; crash→dead everywhere p50 ${de.p50Ms} p99 ${de.p99Ms} ms; join everywhere p50 ${jn.p50Ms} p99 ${jn.p99Ms} ms (${de.samples} crashes, ${cy.undetected} undetected; ${jn.samples} joins) [${((performance.now() - started) / 1000).toFixed(0)} s wall]`);
    for (const [name, z] of nz) {
      log(`        ${name.padEnd(9)} false suspicions ${r1(per1000(z.falseSuspicions, z.nodeMinutes))}/1000 node-min, false deaths ${r1(per1000(z.falseDeathEpisodes, z.nodeMinutes))}/1000 node-min (${z.falseSuspicions} / ${z.falseDeathEpisodes} episodes, ${z.falseDeathEvents} observer events in ${r1(z.nodeMinutes)} node-min)${name === 'stall' ? `, suspicions of the stalled node ${z.suspicionsOfStalled}` : ''}, ${Math.round(z.bytesPerNodePerSec)} B/node/s`);
    }
    results.push({ case: `crash-first-suspicion N=${n}`, subject: mode.subject, ...fs });
    results.push({ case: `crash-dead-everywhere N=${n}`, subject: mode.subject, ...de, undetected: cy.undetected });
    results.push({ case: `suspicion-to-dead-everywhere N=${n}`, subject: mode.subject, ...stats(cy.suspicionToDeadMs) });
    results.push({ case: `join-everywhere N=${n}`, subject: mode.subject, ...jn, unjoined: cy.unjoined });
    for (const [name, z] of nz) {
      results.push({
        case: `${name === 'stall' ? 'stall 2s/10s' : name} N=${n}`, subject: mode.subject,
        falseSuspicionsPer1000NodeMin: r1(per1000(z.falseSuspicions, z.nodeMinutes)), falseDeathsPer1000NodeMin: r1(per1000(z.falseDeathEpisodes, z.nodeMinutes)),
        falseSuspicions: z.falseSuspicions, falseDeathEpisodes: z.falseDeathEpisodes, falseDeathEvents: z.falseDeathEvents, nodeMinutes: r1(z.nodeMinutes),
        suspicionsOfStalled: z.suspicionsOfStalled, bytesPerNodePerSec: Math.round(z.bytesPerNodePerSec),
      });
    }
  }
  const on = byMode.get('lifeguard')!;
  const off = byMode.get('swim')!;
  const ratio = (a: number, b: number) => (b === 0 ? (a === 0 ? 1 : Infinity) : Math.round((a / b) * 1000) / 1000);
  ratios[`crash-dead-everywhere p99 N=${n} lifeguard/swim`] = ratio(stats(on.cycles.deadEverywhereMs).p99Ms, stats(off.cycles.deadEverywhereMs).p99Ms);
  ratios[`join-everywhere p99 N=${n} lifeguard/swim`] = ratio(stats(on.cycles.joinEverywhereMs).p99Ms, stats(off.cycles.joinEverywhereMs).p99Ms);
  for (const name of on.noise.keys()) {
    ratios[`${name} false suspicions N=${n} lifeguard/swim`] = ratio(on.noise.get(name)!.falseSuspicions, off.noise.get(name)!.falseSuspicions);
    ratios[`${name} false deaths N=${n} lifeguard/swim`] = ratio(on.noise.get(name)!.falseDeathEpisodes, off.noise.get(name)!.falseDeathEpisodes);
  }
  ratios[`bytes/node/s N=${n} lifeguard/swim`] = ratio(on.noise.get('loss 0%')!.bytesPerNodePerSec, off.noise.get('loss 0%')!.bytesPerNodePerSec);
}

// The issue's targets, judged on Lifeguard (the default) unless a comparison is named.
const find = (c: string, s = 'lifeguard') => results.find((r) => r.case === c && r.subject === s)!;
const targets: Record<string, { value: number; limit: number; pass: boolean; note: string }> = {};
for (const n of SIZES) {
  const base = 4 * Math.max(1, Math.log10(n)) * PROBE_MS;
  const v = find(`suspicion-to-dead-everywhere N=${n}`).p99Ms as number;
  targets[`crash dead everywhere within suspicion timeout + 2 probe periods, p99, N=${n}`] = { value: v, limit: base + 2 * PROBE_MS, pass: v <= base + 2 * PROBE_MS, note: 'measured from the first suspicion (the timeout starts there)' };
}
const join1000 = find('join-everywhere N=1000').p99Ms as number;
targets['join reaches all 1,000 members within 3·log2(N) probe periods, p99'] = { value: join1000, limit: 3 * Math.log2(1000) * PROBE_MS, pass: join1000 <= 3 * Math.log2(1000) * PROBE_MS, note: 'ms' };
for (const n of SIZES) {
  const z = find(`loss 10% N=${n}`);
  const fd = z.falseDeathEpisodes as number;
  targets[`0 false deaths at 10% loss, N=${n}`] = { value: fd, limit: 0, pass: fd === 0, note: `in ${z.nodeMinutes} node-minutes` };
  const st = (find(`stall 2s/10s N=${n}`, 'swim').falseSuspicions as number) / Math.max(1, find(`stall 2s/10s N=${n}`).falseSuspicions as number);
  targets[`stalling node: Lifeguard cuts false suspicions >= 10x, N=${n}`] = { value: Math.round(st * 100) / 100, limit: 10, pass: st >= 10, note: 'swim / lifeguard false suspicions of healthy members' };
}
log('targets:');
for (const [k, t] of Object.entries(targets)) log(`  ${t.pass ? 'PASS' : 'FAIL'}  ${k}: ${t.value} (limit ${Math.round(t.limit)}; ${t.note})`);
log(`total wall ${((performance.now() - t0) / 1000).toFixed(0)} s`);

const report: BenchReport = { bench: 'gossip', quick, results, ratios, targets };
if (args.json) process.stdout.write(`${JSON.stringify(report)}\n`);
