import { bugSuite } from './cases.js';

// Raft's own bug switches (commit rule, vote durability, log fsync): see cases.ts.
bugSuite('raft');
