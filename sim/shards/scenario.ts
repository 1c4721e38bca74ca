import { placementProblem } from '../../src/cluster/placement/shard-map.js';
import { SHARD_CHECKS, UNSHARDED_CHECKS, nodeIds, type Scenario } from '../scenario.js';

/** Faults a sharded cluster does not take yet: single-leader commands. */
const UNSHARDED_FAULTS: readonly string[] = ['transfer', 'isolate-leader', 'failover'];

/** What cluster.shards and cluster.replicas forbid, each with the file and what to change. */
export function shardProblems(s: Scenario): string[] {
  const errors: string[] = [];
  const c = s.cluster;
  const sharded = c.shards > 1;
  if (c.joinByGossip) {
    if (!sharded) errors.push(`${s.file}: cluster.joinByGossip: nodes join a sharded cluster's member set by gossip; it needs cluster.shards of 2 or more`);
    if (c.gossip === null) errors.push(`${s.file}: cluster.joinByGossip: the joiners meet the members by gossip; it needs cluster.gossip`);
    if (c.voters >= c.nodes) errors.push(`${s.file}: cluster.joinByGossip: the nodes past cluster.voters join; voters is ${c.voters} of ${c.nodes} nodes`);
  }
  if (!sharded) {
    for (const f of s.faults) if (f.kind === 'destroy') errors.push(`${s.file}:${f.line}: faults: destroy loses a node for good; only a sharded cluster (cluster.shards of 2 or more) re-creates its replicas elsewhere`);
    for (const check of SHARD_CHECKS) if (s.checks.includes(check)) errors.push(`${s.file}: checks: ${check} needs cluster.shards of 2 or more`);
    return errors;
  }
  if (c.replication !== 'raft') errors.push(`${s.file}: cluster.shards: each shard is a Raft group; it needs replication raft (got ${c.replication})`);
  // The first member set is the first `voters` nodes; the others are spares that `join` brings in.
  const problem = placementProblem(nodeIds(s).slice(0, c.voters), { shards: c.shards, replicas: c.replicas });
  if (problem !== null) errors.push(`${s.file}: cluster: ${problem}`);
  for (const check of UNSHARDED_CHECKS) if (s.checks.includes(check)) errors.push(`${s.file}: checks: ${check} is not kept per shard yet; leave it out with cluster.shards`);
  for (const f of s.faults) if (UNSHARDED_FAULTS.includes(f.kind)) errors.push(`${s.file}:${f.line}: faults: ${f.kind} is not supported with cluster.shards yet`);
  return errors;
}
