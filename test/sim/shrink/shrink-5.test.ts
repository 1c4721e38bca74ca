import { shrinkSuite } from './cases.js';

// Figure 8 needs several leaders deposed in a row. Measured on this tree: 267 faults → 35 in 250
// runs on the failing seed, far from the 3; with the seed free (--seeds-per-step 16/48)
// the last 1 to 21 faults before the failure, on a calm cluster, failed on none of 49 seeds. The
// bound holds what the shrinker reaches today, so that a regression fails here.
shrinkSuite('5', [{ bug: 'commit-previous-term', faultsMax: 40, runsMax: 290 }]);
