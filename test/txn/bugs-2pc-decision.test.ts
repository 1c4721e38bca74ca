import { bugSuite } from '../sim/bugs/cases.js';

// Two-phase commit's second rule: the decision is durable and a recovering coordinator reads it
// (here, the record in the home shard's Raft log). With the txn-coordinator-forgets-decision
// switch, scenarios/bugs/txn-coordinator-forgets-decision.yaml must fail the isolation check
// within its stated seeds, and pass without it.
bugSuite('txn2pc-decision');
