import { shrinkSuite } from './cases.js';

shrinkSuite('3', [
  { bug: 'ack-before-fsync', faultsMax: 3 },
  { bug: 'read-without-read-index', faultsMax: 3 },
]);
