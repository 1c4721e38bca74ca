import { shrinkSuite } from './cases.js';

// A bug switch under shards (the scenario of test/sim/shards/bugs.test.ts): reads served locally
// without ReadIndex, in 4 shards of 3 replicas over 5 nodes, under a majority/minority split.
const SHARDED = `
name: shards-bug-read-without-read-index
description: Known bug on with shards - reads served locally without ReadIndex - under a majority/minority split.
duration: 2500ms
cluster: { nodes: 5, engine: memory, replication: raft, shards: 4, replicas: 3 }
workload: { clients: 5, keys: 5, mix: { read: 60, write: 40 }, timeout: 1s }
faults:
  - { at: 800ms, for: 1200ms, kind: partition, shape: majority-minority }
bugs: [read-without-read-index]
`;

shrinkSuite('8', [{ bug: 'read-without-read-index', name: 'read-without-read-index under shards', faultsMax: 3, runsMax: 40, scenario: { text: SHARDED, file: 'shards-bug-read-without-read-index.yaml', seedsMax: 3 } }]);
