import { checkTransactions } from '../src/check/txn/index.js';
import { assert } from '../src/util/assert.js';
import { runScenario, type RunResult } from './runner.js';
import type { Nemesis } from './nemesis.js';
import { NS_PER_MS } from './scheduler.js';
import { type Fault, type Scenario } from './scenario.js';
import { durationText, scenarioYaml } from './scenario-text.js';

/**
 * The shrinker (`kv-lab shrink`): a failing run made as small as it can be while it still fails
 * the same check — fewer faults, a shorter run, fewer clients, keys and operations, plainer
 * fault parameters — by trying one simplification at a time, re-running deterministically, and
 * keeping each that still fails. What is left is the part of the run the failure needs.
 *
 * The method is delta debugging (Zeller and Hildebrandt, "Simplifying and Isolating
 * Failure-Inducing Input", 2002) applied to a scenario rather than to bytes, as Hypothesis and
 * QuickCheck shrink test cases. Three things make it work on a simulator:
 * - Cutting the duration just past the failure changes nothing before it: the run is the same
 *   run up to there, so the failure stays (a Raft violation stops the run where it happens; a
 *   linearizability violation is a property of a prefix, which no later event can repair).
 * - A repeated fault (`every:`) becomes one fault per occurrence, in the same order: the same run
 *   again, but each occurrence can now be dropped on its own.
 * - Dropping a fault changes what happens after it, so a change is judged by running it. When a
 *   bug is rare (one seed in fifty), the seed may be allowed to move: `seedsPerStep` other seeds
 *   are tried for a change that no longer fails on the current one (like Hypothesis, which
 *   shrinks the random choices too); the minimal scenario records the seed it fails with.
 */

export interface ShrinkOptions {
  seed: number;
  /** The check that must keep failing; default: the first check the run fails. */
  check?: string;
  /** Runs at most, the first one included. */
  runsMax?: number;
  /** Other seeds tried for a change that no longer fails on the current seed (0: the seed stays). */
  seedsPerStep?: number;
  /** Told of every run and whether its change was kept. */
  onRun?: (e: { runs: number; change: string; kept: boolean; size: ScenarioSize }) => void;
}

/** What the shrinker makes smaller. */
export interface ScenarioSize {
  /** Fault occurrences scheduled before the end of the run (a repeated fault counts each time). */
  faults: number;
  durationNs: number;
  clients: number;
  keys: number;
  /** Operations the failing run issued. */
  ops: number;
}

export interface ShrinkResult {
  check: string;
  original: { scenario: Scenario; seed: number; size: ScenarioSize };
  minimal: { scenario: Scenario; seed: number; size: ScenarioSize; digest: string };
  /** The changes kept, in order. */
  kept: string[];
  runs: number;
  /** The budget ran out before every simplification was tried. */
  stoppedEarly: boolean;
}

export class ShrinkError extends Error {
  override name = 'ShrinkError';
}

/** Repeated faults are expanded to single ones only up to this many occurrences. */
const EXPAND_MAX = 2_000;

/** How many of the last faults before a failure focus() tries keeping, fewest first. */
const FOCUS_FAULTS = [1, 2, 3, 5, 8, 13, 21] as const;
/** How many of the last faults before a failure focusOnElections() tries replaying (each try costs a run per fault). */
const FOCUS_CHAIN = [3, 5, 8] as const;
/** A chain of faults tied to elections at most this long is shrunk by replaying it (dropFromChain). */
const CHAIN_MAX = 8;
/** Other seeds a replay by elections moves to at most. */
const CHAIN_SEEDS = 16;
/** How much longer dropFromChain's second try keeps the faults left in effect. */
const STRETCH = 4;
/** Windows canonicalChain() gives every fault, in election timeouts (0: each keeps its own). */
const CANON_WINDOWS = [0, 1, 2, 4, 8] as const;
/** Runs one canonicalChain() spends at most (measured: Figure 8 finds its plain chain within 40). */
const CANON_RUNS_MAX = 60;
/** Calm runs whose elections are remembered at most. */
const CALM_CACHE_MAX = 256;
/** Time past the last kept fault for the failure to show (a few election timeouts). */
const FOCUS_SLACK_NS = 500 * NS_PER_MS;

export function shrinkScenario(original: Scenario, options: ShrinkOptions): ShrinkResult {
  const observed = observedRun(original, options.seed);
  const first = observed.result;
  const failing = Object.entries(first.summary.checks).filter(([, c]) => c?.verdict === 'fail' && c.expected !== 'fail').map(([n]) => n);
  if (failing.length === 0) throw new ShrinkError(`${original.file} seed ${options.seed} fails no check: nothing to shrink`);
  const check = options.check ?? (failing[0] as string);
  if (!failing.includes(check)) throw new ShrinkError(`${original.file} seed ${options.seed} does not fail ${check} (it fails ${failing.join(', ')})`);
  const s = new Shrinker(original, options, check, observed);
  s.run();
  return s.result();
}

class Shrinker {
  private current: Scenario;
  private seed: number;
  private best: RunResult;
  /** The best run's elections and fault moments. */
  private observed: Observed;
  private runs = 1;
  private readonly kept: string[] = [];
  private readonly runsMax: number;
  private readonly originalSize: ScenarioSize;
  /** Whether a change may move to another seed (the second phase, with seedsPerStep). */
  private seedsFree = false;
  /** Whether anchorToElections() ran (once: it ties every fault it can at once). */
  private anchored = false;
  /** Fault counts focusOnElections() has been tried at. */
  private readonly focusedOnElections = new Set<number>();
  /** Elections of the run without faults, per seed and scenario (every placement starts with it). */
  private readonly calmElections = new Map<string, number[]>();
  /** Fault counts canonicalChain() has been tried at. */
  private readonly canonicalized = new Set<number>();
  /** Fault counts focus() has been tried at. */
  private readonly focused = new Set<number>();

  constructor(
    private readonly original: Scenario,
    private readonly options: ShrinkOptions,
    private readonly check: string,
    first: Observed,
  ) {
    this.current = original;
    this.seed = options.seed;
    this.best = first.result;
    this.observed = first;
    this.runsMax = options.runsMax ?? 500;
    this.originalSize = sizeOf(original, first.result);
  }

  run(): void {
    this.rounds();
    // Then, if allowed, again with seeds free to move: what the fixed seed could not drop.
    if ((this.options.seedsPerStep ?? 0) > 0 && !this.spent()) {
      this.seedsFree = true;
      this.rounds();
    }
  }

  /** Each round tries every kind of simplification; a round that keeps nothing ends the search. */
  private rounds(): void {
    for (let round = 0; round < 4 && !this.spent(); round++) {
      const before = this.kept.length;
      this.cutDuration();
      this.expandRepeats();
      this.anchorToElections();
      this.focus();
      this.dropFaults();
      this.mergeFaults();
      this.cutDuration();
      this.shrinkWorkload();
      this.simplifyFaults();
      // Last, as they cost a run per fault per seed: replays by elections.
      this.focusOnElections();
      // A plainer chain kept: the cheap moves first, on it (a new round), before the costly drops.
      if (this.canonicalChain()) continue;
      this.dropFromChain();
      if (this.kept.length === before) break;
    }
  }

  result(): ShrinkResult {
    return {
      check: this.check,
      original: { scenario: this.original, seed: this.options.seed, size: this.originalSize },
      minimal: { scenario: this.current, seed: this.seed, size: sizeOf(this.current, this.best), digest: this.best.summary.digest },
      kept: this.kept,
      runs: this.runs,
      stoppedEarly: this.spent(),
    };
  }

  private spent(): boolean {
    return this.runs >= this.runsMax;
  }

  /** The current seed, then the others a change may move to. */
  private seedsToTry(seedsFree: boolean): number[] {
    return [this.seed, ...Array.from({ length: seedsFree ? (this.options.seedsPerStep ?? 0) : 0 }, (_, i) => this.seed + i + 1)];
  }

  /** Seeds a replay by elections is tried on: as seedsToTry, but at most CHAIN_SEEDS others (each costs a run per fault). */
  private chainSeeds(): number[] {
    return this.seedsToTry(true).slice(0, 1 + CHAIN_SEEDS);
  }

  /** Runs the candidate (on the current seed, then on others if allowed); keeps it if the check still fails. */
  private attempt(change: string, candidate: Scenario | null, seedsFree = this.seedsFree, only?: number): boolean {
    if (candidate === null || this.spent() || !valid(candidate)) return false;
    const seeds = only !== undefined ? [only] : this.seedsToTry(seedsFree);
    // On another seed the failure comes at another time: the run gets room past the cut made for
    // the current seed (cutDuration shortens it again once kept).
    const roomy = lengthened(candidate, this.original.durationNs);
    for (const seed of seeds) {
      if (this.spent()) return false;
      this.runs++;
      let r: RunResult;
      let o: Observed;
      const run = seed === this.seed || only !== undefined ? candidate : roomy;
      try {
        o = observedRun(run, seed);
        r = o.result;
      } catch (err) {
        // A candidate the simulator cannot run is not a simplification.
        this.options.onRun?.({ runs: this.runs, change: `${change} (the run threw: ${(err as Error).message})`, kept: false, size: sizeOf(this.current, this.best) });
        return false;
      }
      const fails = r.summary.checks[this.check as keyof typeof r.summary.checks]?.verdict === 'fail';
      if (fails) {
        this.current = run;
        this.best = r;
        this.observed = o;
        this.kept.push(seed === this.seed ? change : `${change} (seed ${this.seed} → ${seed})`);
        this.seed = seed;
      }
      this.options.onRun?.({ runs: this.runs, change, kept: fails, size: sizeOf(fails ? run : this.current, fails ? r : this.best) });
      if (fails) return true;
    }
    return false;
  }

  /**
   * The run ends just past where it failed: first at the moment the run stopped or the failing
   * operations ended, then by halving what is left while the failure stays. Always on the current
   * seed: where another seed fails is another moment, and a cut made for it is made again once
   * that seed is kept.
   */
  private cutDuration(): void {
    const hintNs = failureTimeNs(this.best, this.check);
    if (hintNs !== null) {
      const target = roundUpMs(hintNs + NS_PER_MS);
      if (target < this.current.durationNs) this.attempt(`duration ${durationText(this.current.durationNs)} → ${durationText(target)}`, withDuration(this.current, target), false);
    }
    let lo = 0;
    while (!this.spent()) {
      const hi = this.current.durationNs;
      const mid = roundUpMs(lo + (hi - lo) / 2);
      if (hi - lo <= Math.max(10 * NS_PER_MS, hi / 16) || mid >= hi) break;
      if (!this.attempt(`duration ${durationText(hi)} → ${durationText(mid)}`, withDuration(this.current, mid), false)) lo = mid;
    }
  }

  /** Repeated faults become one fault per occurrence, in the order the nemesis scheduled them. */
  private expandRepeats(): void {
    if (!this.current.faults.some((f) => f.everyNs !== undefined)) return;
    if (faultOccurrences(this.current) > EXPAND_MAX) return;
    const faults = this.current.faults.flatMap((f) => occurrencesOf(f, this.current.durationNs));
    this.attempt(`repeated faults written out one by one (${faults.length})`, { ...this.current, faults });
  }

  /**
   * Faults that struck just after a leader election (within one election timeout) are tied to
   * that election instead of to the clock (`afterElection`): armed just after the election before
   * it, they start as long after their own election as they did. On the run that failed this is
   * the same schedule, so the same run. But elections are what dropping a fault moves: a fault
   * kept on the clock then lands on some other moment of the protocol — a leader long settled
   * instead of one whose first entry has not left — and the failure goes. Tied to its election it
   * keeps its place in the story (depose the leader that was just elected, before it replicates),
   * which is what the bugs of leader changes need: Figure 8 is four such moments in a row.
   */
  private anchorToElections(): void {
    if (this.anchored || this.current.cluster.replication !== 'raft' || this.current.faults.some((f) => f.everyNs !== undefined)) return;
    this.anchored = true;
    const elections = this.observed.elections;
    const raft = this.current.cluster.raft;
    const windowNs = raft.tickMs * NS_PER_MS * raft.electionTicks;
    let converted = 0;
    const faults = this.current.faults.map((f) => {
      if (f.afterElectionNs !== undefined || f.kind === 'crash-at' || f.kind === 'isolate-leader') return f;
      const i = lastAtOrBefore(elections, f.atNs);
      if (i < 0 || f.atNs - (elections[i] as number) > windowNs) return f;
      const electedNs = elections[i] as number;
      converted++;
      return { ...f, atNs: roundestIn(i > 0 ? (elections[i - 1] as number) : -1, electedNs - 1), afterElectionNs: f.atNs - electedNs } as Fault;
    });
    if (converted > 0) this.attempt(`${converted} faults tied to the election before each (afterElection)`, { ...this.current, faults });
  }

  /**
   * Only the last few faults before the failure, on a calm cluster, each placed where it stood in
   * the story of elections: as long after the same election — counted from the previous fault's,
   * the first fault's from the start — as in the run that failed. A bug of leader changes needs a
   * few leaders deposed at the right moments, in a row (Figure 8: elected, deposed before its first
   * entry leaves, three times over); what the faults before them did was only to bring the
   * cluster, by luck, to a moment like the start. Moved on the clock (focus()), the same faults
   * land on other moments of a calm cluster and the failure goes; moved by elections, each is
   * placed by running the faults before it and reading where the election it needs came.
   */
  private focusOnElections(): void {
    const failedNs = failureTimeNs(this.best, this.check);
    if (failedNs === null || this.current.cluster.replication !== 'raft' || this.current.faults.some((f) => f.everyNs !== undefined)) return;
    if (this.focusedOnElections.has(this.current.faults.length)) return;
    this.focusedOnElections.add(this.current.faults.length);
    const { elections, due } = this.observed;
    // A fault that found nothing to act on (no leader to cut off) was no part of the story.
    const before = due.filter((d) => d.atNs <= failedNs && !d.skipped);
    for (const k of FOCUS_CHAIN) {
      if (k >= faultOccurrences(this.current) || k > before.length || this.spent()) return;
      const chain = chainOf(before.slice(-k), elections, this.observed.elected);
      if (chain === null) continue;
      for (const seed of this.chainSeeds()) {
        const candidate = this.placedByElections(chain, seed);
        if (candidate !== null && this.attempt(`only the last ${k} faults before the failure, each as long after the same election (${faultOccurrences(this.current)} → ${k} faults)`, candidate, true, seed)) return;
        if (this.spent()) return;
      }
    }
  }

  /**
   * The chain of faults before the failure made plain: only the deposals of one kind (the same
   * fault on the same target — "cut the new leader off", "crash the new leader"), each one
   * election after the one before, as long after its election as it struck, and every window the
   * same length, from a geometric grid of election timeouts. Bugs of leader changes are told as a
   * few leaders deposed in a row; a failing run tells that story with every kind of fault the
   * scenario has, some of them only there because the clock brought them. Kept to the deposals of
   * one kind, each makes the next election, so the chain needs no other fault to bring it
   * (hop 1); the window a deposed leader stays away is what its part of the story needs (long
   * enough for the others to elect and for the next deposal), which a grid in election timeouts
   * (1, 2, 4, 8) covers where the windows the clock gave do not. Kinds most frequent first; on
   * the current seed, then, with seedsPerStep, on up to CHAIN_SEEDS others. This is Hypothesis's
   * idea of shrinking towards a canonical simplest form (MacIver and Donaldson, "Test-Case
   * Reduction via Test-Case Generation", ECOOP 2020) applied to a fault schedule.
   */
  private canonicalChain(): boolean {
    const failedNs = failureTimeNs(this.best, this.check);
    const faults = faultOccurrences(this.current);
    if (failedNs === null || faults < 2 || this.current.cluster.replication !== 'raft' || this.current.faults.some((f) => f.everyNs !== undefined)) return false;
    // Once per number of faults, as focusOnElections(): parameters made plainer rarely make a
    // plain chain fail where it did not.
    if (this.canonicalized.has(faults)) return false;
    this.canonicalized.add(faults);
    // A fault due at the moment of the failure played no part in it.
    const due = this.observed.due.filter((d) => !d.skipped && d.atNs < failedNs).slice(-CHAIN_MAX);
    const chain = chainOf(due, this.observed.elections, this.observed.elected);
    if (chain === null) return false;
    const raft = this.current.cluster.raft;
    const timeoutNs = raft.tickMs * raft.electionTicks * NS_PER_MS;
    // Deposals only, two at least: a fault that does not take the leader away makes no election
    // for the next one to hang on, and one fault alone is focus()'s to try.
    // Bounded apart from runsMax: where no plain chain fails, the other moves still get their runs.
    const stopAt = this.runs + CANON_RUNS_MAX;
    for (const links of kindsOf(chain)) {
      if (links.length >= faults || links.length < 2 || !deposes(links[0]!.fault)) continue;
      const what = faultKindText(links[0]!.fault);
      for (const seed of this.chainSeeds()) {
        for (const timeouts of CANON_WINDOWS) {
          if (timeouts > 0 && links.every((l) => l.fault.forNs === undefined)) continue;
          const windowNs = timeouts * timeoutNs;
          const plain = links.map((l) => ({ hop: 1, afterNs: l.afterNs, fault: l.fault.forNs === undefined || timeouts === 0 ? l.fault : ({ ...l.fault, forNs: windowNs } as Fault) }));
          // Room for the chain's elections and windows, then for the failure to show.
          const room = Math.min(this.original.durationNs, this.current.durationNs + plain.reduce((sum, l) => sum + (l.fault.forNs ?? 0), 0) + FOCUS_SLACK_NS);
          const candidate = this.placedByElections(plain, seed, room);
          const how = timeouts === 0 ? 'each for as long as it was' : `each for ${durationText(windowNs)} (${timeouts} election timeout${timeouts > 1 ? 's' : ''})`;
          if (candidate !== null && this.attempt(`only the ${links.length} faults ${what} of the chain, one election apart, ${how} (${faults} → ${links.length} faults)`, candidate, true, seed)) return true;
          if (this.spent() || this.runs >= stopAt) return false;
        }
      }
    }
    return false;
  }

  /**
   * A short chain of faults tied to elections, one fault fewer, replayed by elections (and, with
   * seedsPerStep, on other seeds): dropping a fault of a chain removes the election it caused, so
   * the faults after it move up one election, which dropFaults(), keeping each fault's arming time,
   * cannot do. A fault that shares its election with another hands its window over: the one kept
   * lasts until both would have ended (a leader cut off, then crashed while cut off, becomes a
   * leader cut off for as long).
   */
  private dropFromChain(): void {
    for (let again = true; again && !this.spent(); ) {
      again = false;
      const failedNs = failureTimeNs(this.best, this.check);
      const faults = this.current.faults;
      if (failedNs === null || faults.length < 2 || faults.length > CHAIN_MAX || faults.some((f) => f.afterElectionNs === undefined || f.everyNs !== undefined)) return;
      const due = this.observed.due.filter((d) => !d.skipped && d.atNs <= failedNs);
      if (due.length !== faults.length) return;
      const chain = chainOf(due, this.observed.elections, this.observed.elected);
      if (chain === null) return;
      for (let j = chain.length - 1; j >= 0 && !again && !this.spent(); j--) {
        const dropped = chain[j] as ChainLink;
        const rest = chain.filter((_, k) => k !== j).map((l) => ({ ...l }));
        const next = rest[j];
        // The fault after it hangs on the election after the one before it, as the dropped one's deposal no longer makes one.
        if (next !== undefined) next.hop = next.hop === 0 ? dropped.hop : Math.max(1, dropped.hop + next.hop - 1);
        if (j === 0 && next !== undefined) next.hop = Math.max(1, next.hop);
        // A neighbour on the same election takes over the dropped window.
        const sharing = [j - 1, j].find((k) => k >= 0 && k < rest.length && (k === j - 1 ? dropped.hop === 0 : (chain[j + 1] as ChainLink).hop === 0));
        if (sharing !== undefined && dropped.fault.forNs !== undefined) {
          const l = rest[sharing] as ChainLink;
          const end = Math.max(l.afterNs + (l.fault.forNs ?? 0), dropped.afterNs + dropped.fault.forNs);
          if (l.fault.forNs !== undefined) rest[sharing] = { ...l, fault: { ...l.fault, forNs: end - l.afterNs } as Fault };
        }
        // Then with every window kept STRETCH times longer: the deposal dropped did part of the
        // work of keeping leaders away, which the ones left must now do by staying away longer.
        const stretched = rest.map((l) => (l.fault.forNs === undefined ? l : { ...l, fault: { ...l.fault, forNs: l.fault.forNs * STRETCH } as Fault }));
        for (const [links, how] of [[rest, ''], [stretched, `, windows ${STRETCH}× longer`]] as const) {
          for (const seed of this.chainSeeds()) {
            const candidate = this.placedByElections(links, seed);
            if (candidate !== null && this.attempt(`fault ${j + 1} of the chain (${dropped.fault.kind}, ${durationText(dropped.afterNs)} after its election) dropped, the rest replayed by elections${how}`, candidate, true, seed)) {
              again = true;
              break;
            }
            if (this.spent()) return;
          }
          if (again) break;
        }
      }
    }
  }

  /**
   * The chain's faults placed one at a time on this seed: run with those placed so far, find the
   * election the next one hangs on, arm it between that election and the one before. Null when
   * the election never comes.
   */
  private placedByElections(chain: readonly ChainLink[], seed: number, durationNs = this.current.durationNs): Scenario | null {
    const placed: Fault[] = [];
    const base: Scenario = { ...this.current, durationNs, faults: [] };
    // The calm run depends on everything but the faults (the workload's draws share the seed).
    const calmKey = `${seed} ${JSON.stringify(base)}`;
    let previous = -1;
    for (const link of chain) {
      if (this.spent()) return null;
      const at = previous + link.hop;
      let elections: number[];
      if (placed.length === 0 && this.calmElections.has(calmKey)) elections = this.calmElections.get(calmKey) as number[];
      else {
        this.runs++;
        elections = observedRun({ ...base, faults: placed }, seed, true).elections;
        if (placed.length === 0) {
          // Bounded: a key per seed and workload the shrink has tried.
          if (this.calmElections.size >= CALM_CACHE_MAX) this.calmElections.clear();
          this.calmElections.set(calmKey, elections);
        }
      }
      if (at >= elections.length) return null;
      const { everyNs: _e, untilNs: _u, ...single } = link.fault;
      placed.push({ ...single, atNs: roundestIn(at > 0 ? (elections[at - 1] as number) : -1, (elections[at] as number) - 1), afterElectionNs: link.afterNs } as Fault);
      previous = at;
    }
    return { ...base, faults: placed };
  }

  /**
   * Only the last few faults before the failure, moved to the start of the run. Where faults come
   * thick and fast (a crash every 23 ms), dropping any one changes every message's timing after it,
   * so ddmin, which drops a few at a time on one seed, stalls at a hundred faults. But such a
   * failure usually needs only the few faults just before it (a voter crashing between two
   * elections of one term): those, on a calm cluster, fail too on some seed. So this step is
   * the one that lets the seed move even in the first phase; the scenario it keeps records its
   * seed like any other.
   */
  private focus(): void {
    const failedNs = failureTimeNs(this.best, this.check);
    if (failedNs === null || this.current.faults.some((f) => f.everyNs !== undefined)) return;
    // Once per number of faults: tried again after a round that only simplified parameters, it
    // would spend the same runs on the same failures.
    if (this.focused.has(this.current.faults.length)) return;
    this.focused.add(this.current.faults.length);
    const before = this.current.faults.filter((f) => f.atNs <= failedNs).sort((a, b) => a.atNs - b.atNs);
    if (before.length <= FOCUS_FAULTS[0]!) return;
    const startNs = Math.min(...this.current.faults.map((f) => f.atNs));
    for (const k of FOCUS_FAULTS) {
      if (k >= this.current.faults.length || this.spent()) return;
      const last = before.slice(-k);
      const shiftNs = (last[0] as Fault).atNs - startNs;
      const faults = last.map((f) => ({ ...f, atNs: f.atNs - shiftNs, ...(f.untilNs !== undefined ? { untilNs: f.untilNs - shiftNs } : {}) }) as Fault);
      const endNs = Math.max(...faults.map((f) => f.atNs + (f.forNs ?? 0)));
      const durationNs = Math.min(this.current.durationNs, roundUpMs(endNs + (failedNs - (last[last.length - 1] as Fault).atNs) + FOCUS_SLACK_NS));
      if (this.attempt(`only the last ${k} faults before the failure, from ${durationText(startNs)} (${faultOccurrences(this.current)} → ${k} faults)`, { ...this.current, durationNs, faults }, true)) return;
    }
  }

  /**
   * ddmin over the fault list: try removing chunks, halving the chunk size when none can go. A
   * chunk removed leaves the scan where it is (the next chunk slides into its place) rather than
   * starting over, so each pass costs about as many runs as there are chunks.
   */
  private dropFaults(): void {
    if (this.current.faults.length > 0 && this.attempt(`faults ${faultOccurrences(this.current)} → 0`, { ...this.current, faults: [] })) return;
    for (let size = Math.ceil(this.current.faults.length / 2); size >= 1 && !this.spent(); size = size === 1 ? 0 : Math.ceil(size / 2)) {
      for (let start = 0; start < this.current.faults.length && !this.spent(); ) {
        const faults = this.current.faults;
        const end = Math.min(faults.length, start + size);
        const kept = [...faults.slice(0, start), ...faults.slice(end)];
        const what = end - start === 1 ? `fault at ${durationText((faults[start] as Fault).atNs)} (${(faults[start] as Fault).kind}) dropped` : `${end - start} faults from ${durationText((faults[start] as Fault).atNs)} dropped`;
        if (!this.attempt(what, { ...this.current, faults: kept })) start = end;
      }
    }
  }

  /**
   * Two faults whose windows touch or overlap — a leader cut off, then crashed while still cut off
   * — become one fault of either kind over both windows: one fault fewer, and often what the
   * failure needed was only that the node was gone for that long. Faults tied to elections merge
   * only when they hang on the same one (the same arming time).
   */
  private mergeFaults(): void {
    for (let i = 0; i < this.current.faults.length && !this.spent(); i++) {
      for (let j = 0; j < this.current.faults.length && !this.spent(); j++) {
        const faults = this.current.faults;
        const a = faults[i] as Fault;
        const b = faults[j] as Fault;
        if (i === j || a.forNs === undefined || b.forNs === undefined || a.everyNs !== undefined || b.everyNs !== undefined) continue;
        if ((a.afterElectionNs === undefined) !== (b.afterElectionNs === undefined) || (a.afterElectionNs !== undefined && a.atNs !== b.atNs)) continue;
        const start = (f: Fault) => f.afterElectionNs ?? f.atNs;
        // a starts first (ties: the earlier in the list) and b starts before a ends.
        if (start(b) < start(a) || (start(b) === start(a) && j < i) || start(b) > start(a) + a.forNs) continue;
        const forNs = Math.max(start(a) + a.forNs, start(b) + b.forNs) - start(a);
        const rest = faults.filter((_, k) => k !== i && k !== j);
        for (const keep of a.kind === b.kind ? [a] : [a, b]) {
          const merged = { ...keep, forNs, ...(keep.afterElectionNs !== undefined ? { afterElectionNs: a.afterElectionNs } : { atNs: a.atNs }) } as Fault;
          if (this.attempt(`faults at ${durationText(start(a))} (${a.kind}) and ${durationText(start(b))} (${b.kind}) merged into one ${keep.kind} for ${durationText(forNs)}`, { ...this.current, faults: [...rest.slice(0, Math.min(i, j)), merged, ...rest.slice(Math.min(i, j))] })) {
            j = -1;
            break;
          }
        }
      }
    }
  }

  private shrinkWorkload(): void {
    const w = () => this.current.workload;
    // Operations: no more than the failing run issued, then fewer while it fails.
    const issued = this.best.summary.ops.invoked;
    if (w().ops === undefined || (w().ops as number) > issued) this.attempt(`operations limited to the ${issued} issued`, withWorkload(this.current, { ops: issued }));
    this.descend('clients', () => w().clients, (v) => withWorkload(this.current, { clients: v }), 1);
    this.descend('keys', () => w().keys, (v) => withWorkload(this.current, { keys: v }), 1);
    this.descend('operations', () => w().ops ?? issued, (v) => withWorkload(this.current, { ops: v }), 1);
    for (const f of Object.keys(w().mix) as (keyof Scenario['workload']['mix'])[]) {
      const mix = { ...w().mix, [f]: 0 };
      if (w().mix[f] > 0 && Object.values(mix).some((x) => x > 0)) this.attempt(`no ${f} operations`, withWorkload(this.current, { mix }));
    }
  }

  /** Lowers a count: straight to the floor, else by halves of the distance. */
  private descend(name: string, get: () => number, make: (v: number) => Scenario, floor: number): void {
    if (get() > floor && this.attempt(`${name} ${get()} → ${floor}`, make(floor))) return;
    let lo = floor;
    while (!this.spent()) {
      const hi = get();
      const mid = Math.floor((lo + hi) / 2);
      if (mid <= lo || mid >= hi) break;
      if (!this.attempt(`${name} ${hi} → ${mid}`, make(mid))) lo = mid;
    }
  }

  /** Plainer parameters: a named node instead of leader/random, no disk mode, lower rates, shorter spans. */
  private simplifyFaults(): void {
    for (let i = 0; i < this.current.faults.length && !this.spent(); i++) {
      const f = this.current.faults[i] as Fault;
      const replace = (g: Fault): Scenario => ({ ...this.current, faults: this.current.faults.map((x, j) => (j === i ? g : x)) });
      if ('node' in f && ['random', 'leader', 'follower'].includes(f.node)) {
        for (let n = 1; n <= this.current.cluster.nodes; n++) {
          if (this.attempt(`fault at ${durationText(f.atNs)}: ${f.kind} ${f.node} → n${n}`, replace({ ...f, node: `n${n}` } as Fault))) break;
        }
      }
      const g = this.current.faults[i] as Fault;
      if (g.kind === 'crash' && g.disk !== undefined) {
        const { disk: _disk, ...plain } = g;
        this.attempt(`fault at ${durationText(g.atNs)}: crash without disk: ${g.disk}`, replace(plain as Fault));
      }
      const h = this.current.faults[i] as Fault;
      if ('probability' in h && h.probability > 0.01) this.attempt(`fault at ${durationText(h.atNs)}: ${h.kind} probability ${h.probability} → ${round2(h.probability / 2)}`, replace({ ...h, probability: round2(h.probability / 2) } as Fault));
      const k = this.current.faults[i] as Fault;
      if (k.forNs !== undefined && k.forNs >= 2 * NS_PER_MS) {
        const shorter = roundUpMs(k.forNs / 2);
        this.attempt(`fault at ${durationText(k.atNs)}: ${k.kind} for ${durationText(k.forNs)} → ${durationText(shorter)}`, replace({ ...k, forNs: shorter }));
      }
    }
  }
}

/** Whether a candidate is a scenario a file could state (the schema's cross-field rules hold). */
function valid(s: Scenario): boolean {
  try {
    scenarioYaml(s);
    return true;
  } catch {
    return false;
  }
}

/** A run with what the shrinker reads beside its result: when leaders were elected, when each fault came due. */
export interface Observed {
  result: RunResult;
  elections: number[];
  /** Who each election made leader. */
  elected: string[];
  due: { fault: Fault; atNs: number; skipped: boolean }[];
}

export function observedRun(s: Scenario, seed: number, skipChecks = false): Observed {
  let nemesis: Nemesis | null = null;
  const result = runScenario(s, { seed, outDir: null, record: true, skipChecks, inspect: (_w, n) => (nemesis = n) });
  const leaders = (result.recorded?.roles ?? []).filter((x) => x.role === 'leader');
  return { result, elections: leaders.map((x) => x.atNs), elected: leaders.map((x) => x.node), due: [...((nemesis as Nemesis | null)?.due ?? [])] };
}

/** A fault of a chain: it starts `afterNs` after the `hop`-th election after the previous fault's (the first: counted from the start of the run). */
export interface ChainLink {
  fault: Fault;
  hop: number;
  afterNs: number;
}

/**
 * The faults as a chain of elections, as they came due in the run whose elections are given; null
 * if one came before any election. A fault that names the node its election made leader names
 * `leader` instead: on a replay another node may win that election.
 */
export function chainOf(due: readonly { fault: Fault; atNs: number }[], elections: readonly number[], elected: readonly string[] = []): ChainLink[] | null {
  const out: ChainLink[] = [];
  let previous = -1;
  for (const [i, d] of due.entries()) {
    const e = lastAtOrBefore(elections, d.atNs);
    if (e < 0) return null;
    // The first fault hangs on the first election of a calm run; the others keep their distance.
    const f = d.fault;
    const leader = elected[e];
    const fault = leader !== undefined && 'node' in f && f.node === leader ? ({ ...f, node: 'leader' } as Fault) : f.kind === 'partition-one-way' && leader !== undefined && f.from.length === 1 && f.from[0] === leader ? { ...f, from: ['leader'] } : f;
    out.push({ fault, hop: i === 0 ? 1 : e - previous, afterNs: d.atNs - (elections[e] as number) });
    previous = e;
  }
  return out;
}

/** The chain's links grouped by what their fault does to whom (its timing aside), the most frequent first, ties in order of appearance. */
export function kindsOf(chain: readonly ChainLink[]): ChainLink[][] {
  const groups = new Map<string, ChainLink[]>();
  for (const l of chain) {
    const { atNs: _a, forNs: _f, afterElectionNs: _e, everyNs: _v, untilNs: _u, line: _l, ...what } = l.fault;
    const k = JSON.stringify(what);
    groups.set(k, [...(groups.get(k) ?? []), l]);
  }
  return [...groups.values()].sort((a, b) => b.length - a.length);
}

/** Whether the fault takes the leader away (its node, as chainOf names it, is the leader its election made): the next election follows from it. */
function deposes(f: Fault): boolean {
  if (f.kind === 'crash' || f.kind === 'pause' || (f.kind === 'partition' && f.shape === 'isolate')) return f.node === 'leader';
  return f.kind === 'partition-one-way' && f.from.length === 1 && f.from[0] === 'leader' && f.to.length === 1 && f.to[0] === 'others';
}

/** "partition-one-way from leader", "crash leader": a fault's kind and target, for a change's description. */
function faultKindText(f: Fault): string {
  if ('node' in f) return `${f.kind} ${f.node}`;
  if (f.kind === 'partition-one-way') return `${f.kind} from ${f.from.join(',')}`;
  return f.kind;
}

/** The index of the last of the sorted `times` at or before `t`; -1 if none. */
function lastAtOrBefore(times: readonly number[], t: number): number {
  let found = -1;
  for (let i = 0; i < times.length && (times[i] as number) <= t; i++) found = i;
  return found;
}

/** The time in (after, upTo] written with the fewest digits: the arm time of a fault tied to the election just after upTo. */
function roundestIn(after: number, upTo: number): number {
  for (const unit of [1e9, 1e8, 1e7, 1e6, 1e5, 1e4, 1e3, 1]) {
    const t = Math.floor(upTo / unit) * unit;
    if (t > after) return t;
  }
  return upTo;
}

function round2(p: number): number {
  return Math.max(0.01, Math.round(p * 100) / 100);
}

function roundUpMs(ns: number): number {
  return Math.max(NS_PER_MS, Math.ceil(ns / NS_PER_MS) * NS_PER_MS);
}

/** The scenario with a shorter run: faults from then on are gone, repeats end with the run. */
export function withDuration(s: Scenario, durationNs: number): Scenario | null {
  assert(durationNs > 0, 'a run lasts some time');
  if (durationNs >= s.durationNs) return null;
  const faults = s.faults
    .filter((f) => f.atNs < durationNs)
    .map((f) => {
      if (f.untilNs === undefined || f.untilNs <= durationNs) return f;
      const { untilNs: _until, ...rest } = f;
      return rest as Fault;
    });
  return { ...s, durationNs, faults };
}

/** The scenario run FOCUS_SLACK_NS longer (at most `maxNs`), when no fault repeats to the end of the run. */
function lengthened(s: Scenario, maxNs: number): Scenario {
  if (s.faults.some((f) => f.everyNs !== undefined && f.untilNs === undefined)) return s;
  return { ...s, durationNs: Math.min(maxNs, s.durationNs + FOCUS_SLACK_NS) };
}

function withWorkload(s: Scenario, change: Partial<Scenario['workload']>): Scenario {
  return { ...s, workload: { ...s.workload, ...change } };
}

/** When the run showed the failure: where a Raft violation stopped it, or when the operations the checker named ended. */
function failureTimeNs(r: RunResult, check: string): number | null {
  if (check === 'raft-safety' || check === 'assertions') return r.summary.virtualMs * NS_PER_MS;
  if (check === 'linearizable' && r.linearizability !== null) {
    let latest = -1;
    for (const k of r.linearizability.keys) for (const op of [...(k.explanation?.ops ?? []), ...(k.explanation?.context ?? [])]) latest = Math.max(latest, op.returnTimeNs ?? op.callTimeNs ?? -1);
    return latest >= 0 ? latest : null;
  }
  if (check === 'isolation') return isolationFailureNs(r);
  return null;
}

/** isolationFailureNs() per run: failureTimeNs() is asked several times a round about the same best run. */
const isolationFailures = new WeakMap<RunResult, number | null>();

/**
 * When the isolation check's first forbidden anomaly could first be seen: the latest return of
 * the transactions it names (a lost append shows only once the read that misses it returns; a
 * cycle once its last transaction does). No later event can take the anomaly back, so the run
 * cut just past it still fails, and the faults after it played no part. The checker is the
 * runner's (the same model and budget); it is run again here as the run summary keeps only the
 * anomaly's text, not the transactions it names.
 */
function isolationFailureNs(r: RunResult): number | null {
  if (isolationFailures.has(r)) return isolationFailures.get(r) as number | null;
  let latest: number | null = null;
  const anomaly = checkTransactions(r.history, { consistency: 'strict-serializable', source: 'run history' }).anomalies.find((a) => a.forbidden);
  if (anomaly !== undefined) {
    // Transaction ids are their invoke order among the transactions; each ends with the next
    // event of its process.
    const txns = r.history.filter((e) => (e.f as string) === 'txn');
    const open = new Map<number, number>();
    const ends: (number | undefined)[] = [];
    let id = 0;
    for (const e of txns) {
      if (e.type === 'invoke') open.set(e.process, id++);
      else if (open.has(e.process)) {
        ends[open.get(e.process) as number] = e.time;
        open.delete(e.process);
      }
    }
    const times = anomaly.txns.map((t) => ends[t]);
    if (times.length > 0 && times.every((t) => t !== undefined)) latest = Math.max(...(times as number[]));
  }
  isolationFailures.set(r, latest);
  return latest;
}

/** Each time a fault happens before the run ends, as a fault of its own. */
export function occurrencesOf(f: Fault, durationNs: number): Fault[] {
  if (f.everyNs === undefined) return [f];
  const { everyNs, untilNs, ...single } = f;
  const until = untilNs ?? durationNs;
  const out: Fault[] = [];
  // As the nemesis schedules them (sim/nemesis.ts): at, at + every, … while before `until`.
  for (let t = f.atNs; ; t += everyNs) {
    out.push({ ...single, atNs: t } as Fault);
    if (t + everyNs >= until || out.length > EXPAND_MAX) break;
  }
  return out;
}

export function faultOccurrences(s: Scenario): number {
  return s.faults.reduce((sum, f) => sum + (f.everyNs === undefined ? 1 : occurrencesOf(f, s.durationNs).length), 0);
}

export function sizeOf(s: Scenario, r: RunResult): ScenarioSize {
  return { faults: faultOccurrences(s), durationNs: s.durationNs, clients: s.workload.clients, keys: s.workload.keys, ops: r.summary.ops.invoked };
}

const count = (v: number) => v.toLocaleString('en-US');

/** "20 faults → 2, 12s → 3s, 8 clients → 2, 9,800 ops → 41". */
export function describeShrink(a: ScenarioSize, b: ScenarioSize): string {
  return [
    `${count(a.faults)} faults → ${count(b.faults)}`,
    `${durationText(a.durationNs)} → ${durationText(b.durationNs)}`,
    `${count(a.clients)} clients → ${count(b.clients)}`,
    `${count(a.keys)} keys → ${count(b.keys)}`,
    `${count(a.ops)} ops → ${count(b.ops)}`,
  ].join(', ');
}

/** minimal.yaml: the shrunk scenario, named apart from the original, saying where it came from. */
export function minimalYaml(r: ShrinkResult, from: string): string {
  const s: Scenario = {
    ...r.minimal.scenario,
    name: `${r.original.scenario.name}-minimal`.slice(0, 100),
    description: `${r.original.scenario.name} seed ${r.original.seed} shrunk by kv-lab shrink: still fails ${r.check}.`,
    seeds: { first: r.minimal.seed, last: r.minimal.seed },
  };
  return scenarioYaml(s, [
    `Shrunk by \`kv-lab shrink\` from ${from} seed ${r.original.seed}: it still fails ${r.check}.`,
    describeShrink(r.original.size, r.minimal.size),
    `${r.runs} runs; kept, in order:`,
    ...r.kept.map((k) => `- ${k}`),
    '',
    `Run it: npx kv-lab run <this file>   (it runs seed ${r.minimal.seed})`,
  ]);
}
