import { shrinkSuite } from './cases.js';

shrinkSuite('3', [
  { bug: 'ack-before-fsync', faultsMax: 3 },
  { bug: 'read-without-read-index', faultsMax: 3 },
  { bug: 'gateway-ack-on-forward', faultsMax: 3 },
  { bug: 'skip-log-fsync', faultsMax: 3 },
]);
