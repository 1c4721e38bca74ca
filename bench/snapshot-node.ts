/**
 * One real Raft node for `npm run bench:snapshot` (bench/snapshot.ts starts several): real TCP,
 * real disk, real clock, in a process of its own so that its memory is measured alone. Every
 * 250 ms it prints one JSON line: its status, the snapshot it is receiving, and its RSS and peak
 * RSS (VmRSS, VmHWM of /proc/self/status).
 *
 *   tsx bench/snapshot-node.ts --id n4 --dir /tmp/x/n4 --members n1,n2,n3,n4 \
 *       --peers n1=127.0.0.1:9101,… --tcp-port 9201 --original false --election-ticks 10 --snapshot-mb 64
 *
 * The bench's client speaks the request protocol's frames on --tcp-port (a NativeSession, as on a
 * served node's TCP client port): the peer port admits only holders of the cluster secret.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { RealClock } from '../src/env/real/clock.js';
import { RealDisk } from '../src/env/real/disk.js';
import { JsonLineLogger } from '../src/env/real/log.js';
import { RealNet } from '../src/env/real/net.js';
import { osSeededRng } from '../src/env/real/rng.js';
import { NativeSession } from '../src/frontdoor/native/session.js';
import { TcpListener } from '../src/host/socket-stream.js';
import { KvNode } from '../src/node/node.js';
import type { RaftReplica } from '../src/node/raft-replica.js';
import { memoryMb } from './proc.js';

function arg(name: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i < 0 ? undefined : process.argv[i + 1];
  if (v === undefined) throw new Error(`--${name} is required`);
  return v;
}


const id = arg('id');
const peers = new Map(
  arg('peers')
    .split(',')
    .map((p) => {
      const [name, at] = p.split('=') as [string, string];
      const [host, port] = at.split(':') as [string, string];
      return [name, { host, port: Number(port) }] as const;
    }),
);
const self = peers.get(id);
if (self === undefined) throw new Error(`--peers does not list ${id}`);
const others = new Map([...peers].filter(([name]) => name !== id));
const log = new JsonLineLogger({ node: id, level: 'info' });
const net = new RealNet({ self: id, role: 'peer', listen: self, peers: others, secret: 'bench-secret', log });
await net.listen();
const env = { id, clock: new RealClock(), disk: new RealDisk(arg('dir')), net, rng: osSeededRng(), log, exit: (reason: string) => (log.log('error', 'bench.exit', { reason }), process.exit(70)) };
const electionTicks = Number(arg('election-ticks'));
const snapshotBytes = Number(arg('snapshot-mb')) * 1024 * 1024;
const node = new KvNode(env, { members: arg('members').split(','), replication: 'raft', engine: 'lsm', bugs: new Set(), original: arg('original') === 'true', auth: null, raft: { electionTicks, snapshotBytes } });
await new TcpListener('127.0.0.1', Number(arg('tcp-port')), (stream) => new NativeSession(stream, { node, log, soon: queueMicrotask })).listen();
setInterval(() => {
  const st = node.status();
  const replica = node.replicaForInspection as RaftReplica | null;
  const transfers = replica?.snapshotTransfers?.() ?? null;
  const activity = replica?.activity?.() ?? null;
  process.stdout.write(JSON.stringify({ id, role: st.role, term: st.term, leader: st.leader, commit: st.commitIndex, applied: st.appliedIndex, members: st.members, restoring: replica?.restoring ?? null, transfers, activity, hardTerm: replica?.raftNode?.hardState().term ?? null, ...(memoryMb('self') ?? { rssMb: null, peakRssMb: null }) }) + '\n');
}, 250);
// SIGUSR2: reset the peak RSS (VmHWM), to measure one phase alone (Linux: clear_refs 5).
process.on('SIGUSR2', () => writeFileSync('/proc/self/clear_refs', '5'));
process.on('SIGTERM', () => {
  node.stop();
  process.exit(0);
});
