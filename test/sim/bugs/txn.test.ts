import { bugSuite } from './cases.js';

// The transaction bug switches (locks released before the commit entry applies, reads of
// uncommitted writes): the isolation check of the run must fail, and pass without them.
bugSuite('txn');
