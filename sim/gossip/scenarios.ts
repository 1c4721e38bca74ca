import { gossipOptions, type GossipBugs } from '../../src/cluster/gossip/options.js';
import { assert } from '../../src/util/assert.js';
import { GossipCluster } from './cluster.js';
import { checkMembership, checkRingBalance, EventWatch, ringMeta, type CheckResult } from './checks.js';

/**
 * Ready-made gossip scenarios: faults on a cluster of N nodes, then the membership and
 * ring-balance checks once they heal. Each is deterministic in its seed.
 */

export interface GossipScenario {
  readonly description: string;
  readonly defaultNodes: number;
  /** Schedules the faults on `c`; returns when (ms from now) the last one heals. */
  readonly faults: (c: GossipCluster, ids: readonly string[], watch: EventWatch) => number;
  /** Starts from a converged cluster of every node (default) or from the first three (a join storm). */
  readonly start?: 'converged' | 'three';
  readonly healTimeoutMs?: number;
}

const every = (c: GossipCluster, fromMs: number, periodMs: number, count: number, label: string, fn: (i: number) => void): void => {
  for (let i = 0; i < count; i++) c.atMs(fromMs + i * periodMs, label, () => fn(i));
};

export const GOSSIP_SCENARIOS: Readonly<Record<string, GossipScenario>> = {
  crash: {
    description: 'one member crashes; every other must see it dead',
    defaultNodes: 8,
    faults: (c, ids) => {
      c.atMs(5_000, 'crash', () => c.crash(ids[1]!));
      return 5_000;
    },
  },
  flapping: {
    description: 'one member is cut off both ways for 1.5 s of every 6 s, ten times',
    defaultNodes: 8,
    faults: (c, ids) => {
      const id = ids[1]!;
      every(c, 2_000, 6_000, 10, 'flap', () => {
        c.isolate(id);
        c.atMs(1_500, 'unflap', () => c.heal());
      });
      return 62_000;
    },
  },
  pause: {
    description: 'one member is paused (SIGSTOP) for 3 s, twice',
    defaultNodes: 8,
    faults: (c, ids, w) => {
      w.impaired.add(ids[1]!);
      c.atMs(5_000, 'pause', () => c.pause(ids[1]!, 3_000));
      c.atMs(20_000, 'pause', () => c.pause(ids[1]!, 3_000));
      return 25_000;
    },
  },
  stall: {
    description: 'one member stops reading its messages for 2 s of every 10 s (its timers run on)',
    defaultNodes: 8,
    faults: (c, ids, w) => {
      w.impaired.add(ids[1]!);
      every(c, 3_000, 10_000, 6, 'stall', () => c.stall(ids[1]!, 2_000));
      return 60_000;
    },
  },
  'loss-5': lossScenario(0.05),
  'loss-10': lossScenario(0.1),
  'loss-20': lossScenario(0.2),
  'one-way': {
    description: 'one-way link cuts between several pairs for 30 s: indirect probes route around them',
    defaultNodes: 8,
    faults: (c, ids) => {
      c.atMs(2_000, 'cut', () => {
        c.cut([ids[0]!], [ids[1]!, ids[2]!]);
        c.cut([ids[3]!], [ids[4]!]);
        c.cut([ids[5]!, ids[6]!], [ids[0]!]);
      });
      c.atMs(32_000, 'heal', () => c.heal());
      return 32_000;
    },
  },
  'join-storm': {
    description: 'three members, then every other node joins at once through one of them',
    defaultNodes: 8,
    start: 'three',
    faults: (c, ids) => {
      c.atMs(1_000, 'join storm', () => {
        ids.slice(3).forEach((id, i) => c.add(id, [ids[i % 3]!], ringMeta(`z${(i + 3) % 3}`)));
      });
      return 1_000;
    },
  },
  'rolling-restart': {
    description: 'each member in turn crashes and restarts from nothing 2 s later, 8 s apart',
    defaultNodes: 8,
    faults: (c, ids) => {
      every(c, 2_000, 8_000, ids.length, 'restart', (i) => {
        const id = ids[i]!;
        c.crash(id);
        c.atMs(2_000, 'restart', () => c.restart(id, [ids[(i + 1) % ids.length]!], ringMeta(`z${i % 3}`)));
      });
      return 2_000 + 8_000 * ids.length;
    },
  },
  'leave-and-weight': {
    description: 'one member leaves gracefully; another doubles its ring weight (new metadata)',
    defaultNodes: 8,
    faults: (c, ids) => {
      c.atMs(3_000, 'leave', () => c.leave(ids[1]!));
      c.atMs(4_000, 'weight', () => c.node(ids[2]!).runtime!.updateMeta(ringMeta('z2', 200)));
      return 4_000;
    },
  },
};

function lossScenario(p: number): GossipScenario {
  return {
    description: `${p * 100}% of all messages lost for 60 s`,
    defaultNodes: 8,
    faults: (c) => {
      c.setLoss(p);
      c.atMs(60_000, 'loss ends', () => c.setLoss(0));
      return 60_000;
    },
  };
}

export interface GossipRunOptions {
  readonly seed: number;
  readonly nodes?: number;
  readonly lifeguard?: boolean;
  readonly bugs?: Partial<GossipBugs>;
  /** How long each check may wait for views and rings to agree (default: the scenario's, 90 s). */
  readonly healTimeoutMs?: number;
}

export interface GossipRunResult {
  readonly scenario: string;
  readonly seed: number;
  readonly nodes: number;
  readonly lifeguard: boolean;
  readonly pass: boolean;
  readonly checks: readonly CheckResult[];
  readonly falseSuspicions: number;
  readonly falseDeaths: number;
  readonly events: number;
  readonly virtualMs: number;
  readonly digest: string;
}

export function runGossipScenario(name: string, o: GossipRunOptions): GossipRunResult {
  const sc = GOSSIP_SCENARIOS[name];
  assert(sc !== undefined, () => `no gossip scenario ${name} (there are ${Object.keys(GOSSIP_SCENARIOS).join(', ')})`);
  const n = o.nodes ?? sc.defaultNodes;
  assert(Number.isInteger(n) && n >= 8 && n <= 2000, () => `a gossip scenario runs 8..2000 nodes, got ${n}`);
  const gossip = gossipOptions({ lifeguard: o.lifeguard ?? true, bugs: o.bugs ?? {} });
  const c = new GossipCluster({ seed: `${name}/${o.seed}`, gossip, traceEvents: n <= 200 });
  const ids = Array.from({ length: n }, (_, i) => `n${i + 1}`);
  const watch = new EventWatch(c);
  const starters = sc.start === 'three' ? ids.slice(0, 3) : ids;
  c.startConverged(starters, (id) => ringMeta(`z${ids.indexOf(id) % 3}`));
  const faultsMs = sc.faults(c, ids, watch);
  c.runForMs(faultsMs);
  const membership = checkMembership(c, watch, { healTimeoutMs: o.healTimeoutMs ?? sc.healTimeoutMs ?? 90_000 });
  // Metadata that gossip missed arrives with the next push-pull: allow a few of its periods.
  const ring = checkRingBalance(c, { healTimeoutMs: o.healTimeoutMs ?? 90_000 });
  const checks = [membership, ring];
  return {
    scenario: name, seed: o.seed, nodes: n, lifeguard: gossip.lifeguard.localHealth, pass: checks.every((x) => x.pass), checks,
    falseSuspicions: watch.falseSuspicions(), falseDeaths: watch.falseDeaths.length, events: c.sched.eventsRun, virtualMs: c.nowMs, digest: c.digest(),
  };
}
