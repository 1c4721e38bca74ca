import { shrinkSuite } from './cases.js';

shrinkSuite('2', [{ bug: 'duplicate-apply', faultsMax: 3, runsMax: 50 }]);
