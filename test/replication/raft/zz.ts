import { raftOptions } from '../../../src/replication/raft/options.js';
import { Cluster } from './harness.js';
const c = new Cluster({ voters: ['n1', 'n2', 'n3'], seed: 'skew', options: raftOptions({ readOnly: 'leaseBased', electionTicks: 10, leaseMarginTicks: 2 }) });
c.tickAll(10); c.campaign('n1'); c.stabilize(); c.tickAll(); c.stabilize();
c.partition([['n1'], ['n2', 'n3']]);
for (let i = 0; i < 30 && c.leaders().length < 2; i++) { c.tick('n2'); c.tick('n3'); c.stabilize(); }
console.log(c.describe());
console.log(c.read('n1'), c.peer('n1').reads);
console.log(c.recentTrace(20));
