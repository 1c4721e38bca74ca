import { shrinkSuite } from './cases.js';

// Figure 8 needs several leaders deposed in a row, each just after its election. On the failing
// seed alone (no --seeds-per-step) the shrinker takes its 267 faults to 35 here: dropping any of
// the early faults moves every later election. The replays by elections that take it further need
// the seed free and thousands of runs (scenarios/README.md: the command and its figures), so the
// suite shrinks Figure 8 further in figure8.test.ts, from a recorded intermediate step. This bound
// holds what the fixed seed reaches, so that a regression fails here.
shrinkSuite('5', [{ bug: 'commit-previous-term', faultsMax: 40, runsMax: 250 }]);
