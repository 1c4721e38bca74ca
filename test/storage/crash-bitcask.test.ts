import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import type { BitcaskEngine } from '../../src/storage/bitcask/bitcask.js';
import { FSYNC_NEVER } from '../../src/storage/fsync-policy.js';
import { bitFlipRun, crashProperty, driveUntil, LONG, step } from './crash-props.js';
import type { Harness } from './harness.js';

// Crash safety of Bitcask under every fault of the simulated disk, and crashes in the middle of a
// merge and of a hint write. KV_LAB_LONG=1 runs ten times as many seeds.

const Crash = suite('bitcask crash safety');

const bitcask = (h: Harness) => h.engine as BitcaskEngine;

Crash('lost unsynced writes', () => crashProperty({ kind: 'bitcask', disk: { crash: 'lose' } }, 100));
Crash('torn writes', () => crashProperty({ kind: 'bitcask', disk: { crash: 'torn' } }, 100));
Crash('reordered unsynced writes', () => crashProperty({ kind: 'bitcask', disk: { crash: 'reorder' } }, 100));
Crash('non-atomic rename without a directory fsync', () => crashProperty({ kind: 'bitcask', disk: { crash: 'random', dirCrash: 'random' } }, 100));
Crash('fsync never and interval: a crash may lose acknowledged writes, but leaves a prefix', () => {
  crashProperty({ kind: 'bitcask', disk: { crash: 'random', dirCrash: 'random' }, fsync: FSYNC_NEVER }, 20);
  crashProperty({ kind: 'bitcask', disk: { crash: 'random', dirCrash: 'random' }, fsync: { kind: 'interval', intervalMs: 2 } }, 20);
});
Crash('failed fsyncs: the engine stops, acknowledged writes survive', () =>
  crashProperty({ kind: 'bitcask', disk: { crash: 'random', dirCrash: 'random' }, syncFailureProbability: 0.05 }, 100),
);

const midway = (what: 'merging' | 'writingHint') => (h: Harness, t: Parameters<typeof driveUntil>[1], rng: Parameters<typeof driveUntil>[2]) => {
  if (!driveUntil(h, t, rng, () => bitcask(h).backgroundWork()[what])) return false;
  for (let i = rng.int(12); i > 0 && bitcask(h).backgroundWork()[what]; i--) step(h);
  return true;
};

Crash('a crash in the middle of a merge loses nothing', () =>
  crashProperty({ kind: 'bitcask', disk: { crash: 'random', dirCrash: 'random' }, crashPoint: midway('merging') }, 100, 60),
);
Crash('a crash in the middle of a hint write loses nothing', () =>
  crashProperty({ kind: 'bitcask', disk: { crash: 'random', dirCrash: 'random' }, crashPoint: midway('writingHint') }, 100, 60),
);

Crash('a flipped bit is detected or harmless, never silently wrong data', () => {
  const seen = new Map<string, number>();
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1e9 }), (seed) => {
      const r = bitFlipRun('bitcask', seed);
      seen.set(r, (seen.get(r) ?? 0) + 1);
    }),
    { numRuns: LONG ? 2000 : 300 },
  );
  assert.ok((seen.get('open-error') ?? 0) + (seen.get('read-error') ?? 0) > 0, `some flips were caught by a checksum: ${JSON.stringify([...seen])}`);
});

Crash.run();
