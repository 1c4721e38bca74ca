import { shrinkSuite } from './cases.js';

shrinkSuite('6', [
  { bug: 'gateway-ack-on-forward', faultsMax: 3 },
  { bug: 'skip-log-fsync', faultsMax: 3 },
]);
