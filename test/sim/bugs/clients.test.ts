import { bugSuite } from './cases.js';

// The bug switches clients see first (acknowledgements, retries, reads, the front door): see cases.ts.
bugSuite('clients');
