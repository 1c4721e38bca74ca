import type { GossipMessage, Update } from './types.js';

/** One update as text: "suspect n3@2 by n1", "alive n4@1", "left n2@3". */
export function describeUpdate(u: Update): string {
  if (u.kind === 'alive') return `alive ${u.id}@${u.incarnation}`;
  if (u.kind === 'suspect') return `suspect ${u.id}@${u.incarnation} by ${u.from}`;
  return `${u.left ? 'left' : 'dead'} ${u.id}@${u.incarnation} by ${u.from}`;
}

/** A message as one line, for traces and test scripts: "ping seq=3 target=n2 [suspect n3@0 by n1]". */
export function describeMessage(m: GossipMessage): string {
  const updates = m.type === 'push-pull' ? '' : m.updates.length === 0 ? '' : ` [${m.updates.map(describeUpdate).join(', ')}]`;
  switch (m.type) {
    case 'ping':
      return `ping seq=${m.seq} target=${m.target}${updates}`;
    case 'ping-req':
      return `ping-req seq=${m.seq} target=${m.target}${m.wantNack ? ' nack' : ''}${updates}`;
    case 'ack':
    case 'nack':
      return `${m.type} seq=${m.seq}${updates}`;
    case 'gossip':
      return `gossip${updates}`;
    case 'push-pull':
      return `push-pull${m.join ? ' join' : ''}${m.reply ? ' reply' : ''} members=${m.members.map((s) => `${s.id}:${s.state}@${s.incarnation}`).join(',')}`;
  }
}
