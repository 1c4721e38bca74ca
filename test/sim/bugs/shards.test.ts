import { bugSuite } from './cases.js';

// The shard-move bug switch (the replica leaving removed before its replacement exists): the
// moves check of the run must fail, and pass without it.
bugSuite('shards');
