import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runScenario } from '../../../sim/runner.js';
import { parseScenario, WORKLOAD_PROTOCOLS, type Fault, type Scenario } from '../../../sim/scenario.js';

// Same scenario and seed: the same trace digest and the same history, every time. Another seed:
// another run. Checked on every shipped scenario, and on random scenarios with random faults over
// every client protocol. Split across files (shipped-*.test.ts, random.test.ts) so that each stays
// under a minute.

const scenariosDir = join(import.meta.dirname, '..', '..', '..', 'scenarios');

function run(s: Scenario, seed: number) {
  const { summary, history } = runScenario(s, { seed, outDir: null, skipChecks: true });
  return { digest: summary.digest, history: JSON.stringify(history), summary };
}

function scenarioFiles(dir: string, prefix = ''): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => (statSync(join(dir, name)).isDirectory() ? scenarioFiles(join(dir, name), `${prefix}${name}/`) : name.endsWith('.yaml') ? [`${prefix}${name}`] : []));
}

/** How much of a shipped scenario runs twice on one seed: shorter than shipped, to keep the suite fast. */
const SAME_NS = 3e9;
/** How much of it runs on two seeds, to see them differ. */
const OTHER_NS = 3e8;

/** The scenario cut short: faults from then on are dropped. */
function cut(s: Scenario, durationNs: number): Scenario {
  return { ...s, durationNs: Math.min(s.durationNs, durationNs), faults: s.faults.filter((f) => f.atNs < durationNs) };
}

/** The shipped scenario files, split in `parts` groups of similar size; this is group `part`. */
export function shippedSuite(part: number, parts: number): void {
const D = suite(`determinism of shipped scenarios (${part + 1}/${parts})`);
const files = scenarioFiles(scenariosDir);
D('the groups cover every shipped scenario', () => {
  assert.ok(files.length > 20);
});
for (const file of files.filter((_, i) => i % parts === part)) {
  D(`${file}: two runs with one seed are identical; another seed differs`, () => {
    const path = join(scenariosDir, file);
    const s = parseScenario(readFileSync(path, 'utf8'), path);
    const a = run(cut(s, SAME_NS), 11);
    const b = run(cut(s, SAME_NS), 11);
    assert.is(a.digest, b.digest);
    assert.is(a.history, b.history);
    // Another seed: the seed draws election timeouts, latencies and the workload from the first
    // event on, so two seeds part within the first moments; compared on runs that short, as a
    // third full run cost a third of the file.
    assert.is.not(run(cut(s, OTHER_NS), 11).digest, run(cut(s, OTHER_NS), 12).digest);
  });
}
D.run();
}

const faultArb: fc.Arbitrary<Fault> = fc.oneof(
  fc.record({ kind: fc.constant('crash' as const), node: fc.constant('n1'), disk: fc.constantFrom('lose', 'torn', 'reorder', 'random' as const) }),
  fc.record({ kind: fc.constant('pause' as const), node: fc.constant('n1') }),
  fc.record({ kind: fc.constantFrom('loss' as const, 'duplicate' as const, 'reorder' as const), probability: fc.double({ min: 0, max: 0.5, noNaN: true }) }),
  fc.record({ kind: fc.constant('clock' as const), node: fc.constant('n1'), driftPpm: fc.integer({ min: -50_000, max: 50_000 }) }),
  fc.record({ kind: fc.constant('partition' as const), shape: fc.constant('isolate' as const), node: fc.constant('n1') }),
  fc.record({ kind: fc.constant('latency' as const), minNs: fc.constant(1e5), meanNs: fc.constant(2e6), maxNs: fc.constant(3e7) }),
).chain((f) =>
  fc.record({ atNs: fc.integer({ min: 0, max: 1_900_000_000 }), forNs: fc.option(fc.integer({ min: 1, max: 800_000_000 }), { nil: undefined }) }).map(
    ({ atNs, forNs }) => ({ ...f, atNs, line: 0, ...(forNs !== undefined ? { forNs } : {}) }) as Fault,
  ),
);

export function randomSuite(): void {
const D = suite('determinism of random scenarios');
D('random scenarios with random fault schedules replay exactly, over every client protocol', () => {
  const base = parseScenario(readFileSync(join(scenariosDir, 'quickstart.yaml'), 'utf8'), 'quickstart.yaml');
  fc.assert(
    fc.property(
      fc.record({
        seed: fc.integer({ min: 0, max: 1_000_000 }),
        clients: fc.integer({ min: 1, max: 6 }),
        keys: fc.integer({ min: 1, max: 10 }),
        zipf: fc.boolean(),
        protocol: fc.constantFrom(...WORKLOAD_PROTOCOLS),
        faults: fc.array(faultArb, { maxLength: 5 }),
      }),
      ({ seed, clients, keys, zipf, protocol, faults }) => {
        const s: Scenario = {
          ...base,
          durationNs: 2e9,
          healNs: 2e9,
          workload: { ...base.workload, clients, keys, protocol, distribution: zipf ? 'zipfian' : 'uniform' },
          faults,
        };
        const a = run(s, seed);
        const b = run(s, seed);
        assert.is(a.digest, b.digest);
        assert.is(a.history, b.history);
        assert.is.not(run(s, seed + 1).digest, a.digest);
      },
    ),
    { numRuns: 25 },
  );
});
D.run();
}
