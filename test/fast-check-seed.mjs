// Preloaded into every test process by test/run.mjs: fast-check properties draw from a fixed seed
// unless FC_SEED says otherwise, so `npm test` runs exactly the same cases every time (a test that
// passes or fails by the luck of the draw would be a flaky test). FC_SEED=random explores new
// cases; a property that fails prints its seed and path, and FC_SEED=<seed> replays it.
import fc from 'fast-check';

const wanted = process.env.FC_SEED ?? '20261122';
if (wanted !== 'random') {
  const seed = Number(wanted);
  if (!Number.isInteger(seed)) {
    console.error(`FC_SEED must be an integer or "random", got ${JSON.stringify(wanted)}`);
    process.exit(2);
  }
  fc.configureGlobal({ seed });
}
