import { shrinkSuite } from './cases.js';

shrinkSuite('1', [{ bug: 'ack-before-commit', faultsMax: 3, runsMax: 50 }]);
