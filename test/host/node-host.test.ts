import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { HostStartError, nodeConfigFor, type HostSpec } from '../../src/host/node-host.js';
import { silentLogger } from '../../src/env/log.js';

// How serve's settings become the node's configuration: the primary mode's seed-style flags
// (--role, --leader-host, --leader-port) name the leader by its node id.

const base: HostSpec = {
  id: 'n2',
  dataDir: '/nowhere',
  bindHost: '127.0.0.1',
  httpPort: 0,
  tcpPort: 0,
  peerPort: 9002,
  members: ['n2', 'n1', 'n3'],
  peers: new Map([['n1', { host: '10.0.0.1', port: 9001 }], ['n3', { host: '10.0.0.3', port: 9003 }]]),
  replication: 'primary',
  engine: 'lsm',
  secret: null,
  auth: null,
  log: silentLogger,
  version: 'test',
};

const H = suite('nodeConfigFor');

H('the primary\'s leader is this node, or the member at the leader\'s peer address', () => {
  assert.equal(nodeConfigFor({ ...base, primary: { role: 'leader', leader: null } }).primary, { leader: 'n2', shipIntervalMs: 50 });
  assert.equal(nodeConfigFor({ ...base, primary: { role: 'follower', leader: { host: '10.0.0.3', port: 9003 }, shipIntervalMs: 20 } }).primary, { leader: 'n3', shipIntervalMs: 20 });
  const addresses = { n1: { host: '127.0.0.1', httpPort: 8000, tcpPort: 3001, peerPort: 9001 }, n2: { host: '127.0.0.1', httpPort: 8001, tcpPort: 3002, peerPort: 9002 } };
  assert.equal(nodeConfigFor({ ...base, addresses, primary: { role: 'follower', leader: { host: 'localhost', port: 9001 } } }).primary?.leader, 'n1', 'localhost matches the cluster file\'s 127.0.0.1');
  assert.throws(() => nodeConfigFor({ ...base, primary: { role: 'follower', leader: { host: '10.0.0.9', port: 9009 } } }), (e: unknown) => e instanceof HostStartError && /10\.0\.0\.9 --leader-port 9009 is not the peer address of any member/.test(e.message));
});

H('everything else passes through; no primary unless asked', () => {
  const c = nodeConfigFor({ ...base, replication: 'raft' });
  assert.equal([c.members, c.replication, c.engine, c.auth, c.primary, [...c.bugs]], [['n2', 'n1', 'n3'], 'raft', 'lsm', null, undefined, []]);
});

H.run();
