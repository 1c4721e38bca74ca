/**
 * A known-bug switch under shards, shared by the test that it is caught (bugs.test.ts) and the
 * test that it shrinks (test/sim/shrink/cases.ts): reads served locally without ReadIndex, in 4
 * shards of 3 replicas over 5 nodes, under a majority/minority split.
 */
export const SHARDED_READ_BUG = `
name: shards-bug-read-without-read-index
description: Known bug on with shards - reads served locally without ReadIndex - under a majority/minority split.
duration: 2500ms
cluster: { nodes: 5, engine: memory, replication: raft, shards: 4, replicas: 3 }
workload: { clients: 5, keys: 5, mix: { read: 60, write: 40 }, timeout: 1s }
faults:
  - { at: 800ms, for: 1200ms, kind: partition, shape: majority-minority }
bugs: [read-without-read-index]
`;
