import { bugSuite } from '../sim/bugs/cases.js';

// Single-key operations outside transactions are ordered against cross-shard transactions' locks
// and intents (src/node/shard-txn-participant.ts's plain; kv-state.ts refuses one that meets an
// intent at apply). With the txn-single-key-unordered switch, which skips the leader's ordering,
// scenarios/bugs/txn-single-key-unordered.yaml must fail the isolation check within its stated
// seeds, and pass without it.
bugSuite('txn2pc-single-key');
