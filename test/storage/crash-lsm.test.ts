import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { LsmEngine } from '../../src/storage/lsm/lsm.js';
import { FSYNC_NEVER } from '../../src/storage/fsync-policy.js';
import { bitFlipRun, crashProperty, driveUntil, LONG, step } from './crash-props.js';
import type { Harness } from './harness.js';

// Crash safety of the LSM tree under every fault of the simulated disk, and crashes in the middle
// of a flush, a compaction and a manifest update. KV_LAB_LONG=1 runs ten times as many seeds.

const Crash = suite('lsm crash safety');

const lsm = (h: Harness) => h.engine as LsmEngine;

Crash('lost unsynced writes', () => crashProperty({ kind: 'lsm', disk: { crash: 'lose' } }, 100));
Crash('torn writes', () => crashProperty({ kind: 'lsm', disk: { crash: 'torn' } }, 100));
Crash('reordered unsynced writes', () => crashProperty({ kind: 'lsm', disk: { crash: 'reorder' } }, 100));
Crash('non-atomic rename without a directory fsync', () => crashProperty({ kind: 'lsm', disk: { crash: 'random', dirCrash: 'random' } }, 100));
Crash('fsync never and interval: a crash may lose acknowledged writes, but leaves a prefix', () => {
  crashProperty({ kind: 'lsm', disk: { crash: 'random', dirCrash: 'random' }, fsync: FSYNC_NEVER }, 20);
  crashProperty({ kind: 'lsm', disk: { crash: 'random', dirCrash: 'random' }, fsync: { kind: 'interval', intervalMs: 2 } }, 20);
});
Crash('failed fsyncs: the engine stops, acknowledged writes survive', () =>
  crashProperty({ kind: 'lsm', disk: { crash: 'random', dirCrash: 'random' }, syncFailureProbability: 0.05 }, 100),
);

const midway = (what: 'flushing' | 'compacting' | 'writingManifest') => (h: Harness, t: Parameters<typeof driveUntil>[1], rng: Parameters<typeof driveUntil>[2]) => {
  if (!driveUntil(h, t, rng, () => lsm(h).backgroundWork()[what])) return false;
  for (let i = rng.int(12); i > 0 && lsm(h).backgroundWork()[what]; i--) step(h);
  return true;
};

Crash('a crash in the middle of a flush loses nothing', () =>
  crashProperty({ kind: 'lsm', disk: { crash: 'random', dirCrash: 'random' }, crashPoint: midway('flushing') }, 100, 100),
);
Crash('a crash in the middle of a compaction loses nothing', () =>
  crashProperty({ kind: 'lsm', disk: { crash: 'random', dirCrash: 'random' }, crashPoint: midway('compacting') }, 100, 60),
);
Crash('a crash in the middle of a manifest update loses nothing', () =>
  crashProperty({ kind: 'lsm', disk: { crash: 'random', dirCrash: 'random' }, crashPoint: midway('writingManifest') }, 100, 100),
);

Crash('a flipped bit is detected or harmless, never silently wrong data', () => {
  const seen = new Map<string, number>();
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1e9 }), (seed) => {
      const r = bitFlipRun('lsm', seed);
      seen.set(r, (seen.get(r) ?? 0) + 1);
    }),
    { numRuns: LONG ? 2000 : 300 },
  );
  assert.ok((seen.get('open-error') ?? 0) + (seen.get('read-error') ?? 0) > 0, `some flips were caught by a checksum: ${JSON.stringify([...seen])}`);
});

Crash.run();
