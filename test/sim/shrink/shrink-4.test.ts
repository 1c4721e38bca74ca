import { shrinkSuite } from './cases.js';

// The Raft election bug needs faults thick and fast (a crash every 23 ms); dropping one changes
// all timing after it, so the seed must be free to move (--seeds-per-step). Measured on this
// tree: 297 faults → 3 after about 650 runs (about 25 s of CPU).
shrinkSuite('4', [{ bug: 'vote-without-persist', faultsMax: 3, seedsPerStep: 48, runsMax: 700 }]);
