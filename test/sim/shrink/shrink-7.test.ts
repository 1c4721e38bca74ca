import { shrinkSuite } from './cases.js';

// The transaction bugs need no fault at all: contention alone shows them to the isolation check.
// What shrinks is the run: fewer clients, keys and transactions.
shrinkSuite('7', [
  { bug: 'txn-release-locks-before-commit', faultsMax: 3, runsMax: 60 },
  { bug: 'txn-read-uncommitted', faultsMax: 3, runsMax: 60 },
]);
