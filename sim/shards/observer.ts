import type { RaftInvariantViolation } from '../../src/replication/raft/observers.js';
import { AppliedResults } from '../applied-results.js';
import { RaftObserver, type Campaign } from '../raft-observer.js';
import type { World } from '../world.js';

/**
 * Raft's safety properties watched per group: one RaftObserver for each shard, each comparing
 * only that group's replicas (one leader per term of that group, its logs, its applied entries).
 * The groups' terms and log positions are independent, so one observer over every group would
 * see "two leaders in term 3" wherever two shards happen to share a term.
 */
export class GroupedRaftObserver {
  private readonly groups: RaftObserver[];
  /** Not kept per group yet (leader-stability is refused with shards): always empty. */
  readonly campaigns: Campaign[] = [];
  readonly roleChanges = 0;
  /** applied-results is refused with shards: an empty record. */
  readonly applied = new AppliedResults();

  constructor(
    private readonly world: World,
    shards: number,
  ) {
    this.groups = Array.from({ length: shards }, (_, g) => new RaftObserver(world, 500, g));
  }

  attach(): void {
    this.world.sched.afterEach = (label) => {
      for (const g of this.groups) {
        if (this.violation !== null) return;
        g.afterEvent(label);
      }
    };
  }

  onApply = (node: string, index: number, term: number, digest: string, data: Uint8Array | null, shard?: number): void => {
    const g = shard === undefined ? undefined : this.groups[shard];
    if (g === undefined) throw new Error(`an applied entry of node ${node} names no shard the run has (${String(shard)})`);
    g.onApply(node, index, term, digest, data);
  };

  get violation(): RaftInvariantViolation | null {
    for (const g of this.groups) if (g.violation !== null) return g.violation;
    return null;
  }

  get fullChecks(): number {
    return this.groups.reduce((n, g) => n + g.fullChecks, 0);
  }

  full(): void {
    for (const g of this.groups) g.full();
  }
}
