import { bugSuite } from '../sim/bugs/cases.js';

// Two-phase commit's first rule: a participant's yes vote is durable (here, a prepare entry in its
// shard's Raft log). With the txn-prepare-not-durable switch, scenarios/bugs/txn-prepare-not-durable.yaml
// must fail the isolation check within its stated seeds, and pass without it.
bugSuite('txn2pc-prepare');
