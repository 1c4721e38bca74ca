import { assert } from '../../util/assert.js';
import { placementProblem, type ShardMapOptions } from './shard-map.js';

/**
 * The cluster's member set, the one input placement needs besides (shards, replicas): which
 * nodes may hold replicas, and an epoch that counts its changes. It is kept in a small replicated
 * record (shard 0's group carries it: src/cluster/placement/README.md says why), so every node that
 * learns a record of a higher epoch knows it was committed, and adopts it; placement is then a
 * pure function of it (ShardMap.build), the same on every node that holds the same epoch.
 *
 * Epoch 0 is the member set a cluster starts with (the nodes given at `cluster up` / in the
 * scenario): no record is written for it, every node knows it from its configuration.
 */
export interface MemberSet {
  epoch: number;
  /** Sorted, distinct node ids. */
  members: readonly string[];
}

/** A member set larger than this is a mistake here (every node builds the ring of all of them). */
export const MEMBERS_MAX = 256;
const NODE_ID = /^[a-z][a-z0-9-]{0,63}$/;

export type MemberChange = { type: 'join'; node: string } | { type: 'remove'; node: string };

export function initialMemberSet(members: readonly string[]): MemberSet {
  const sorted = [...members].sort();
  assert(memberSetProblem({ epoch: 0, members: sorted }) === null, () => `bad initial members ${sorted.join(',')}`);
  return { epoch: 0, members: sorted };
}

/** What is wrong with a member set, or null. */
export function memberSetProblem(m: MemberSet): string | null {
  if (!Number.isSafeInteger(m.epoch) || m.epoch < 0) return `epoch must be a non-negative integer, got ${m.epoch}`;
  if (!Array.isArray(m.members) || m.members.length === 0 || m.members.length > MEMBERS_MAX) return `a member set holds 1..${MEMBERS_MAX} nodes`;
  for (let i = 0; i < m.members.length; i++) {
    const id = m.members[i];
    if (typeof id !== 'string' || !NODE_ID.test(id)) return `bad node id ${JSON.stringify(id)}`;
    if (i > 0 && (m.members[i - 1] as string) >= id) return 'node ids not sorted and distinct';
  }
  return null;
}

/**
 * The member set after one change, or why it cannot be made: joining a member or removing a
 * stranger is answered with the set unchanged (a retried request is harmless); a removal that
 * would leave fewer nodes than a shard has replicas is refused (no placement exists then, and the
 * shards' replicas would have nowhere to go).
 */
export function changeMembers(cur: MemberSet, change: MemberChange, o: ShardMapOptions): { ok: true; next: MemberSet; changed: boolean } | { ok: false; error: string } {
  const has = cur.members.includes(change.node);
  if (!NODE_ID.test(change.node)) return { ok: false, error: `bad node id ${JSON.stringify(change.node)}` };
  if ((change.type === 'join') === has) return { ok: true, next: cur, changed: false };
  const members = change.type === 'join' ? [...cur.members, change.node].sort() : cur.members.filter((n) => n !== change.node);
  if (members.length > MEMBERS_MAX) return { ok: false, error: `the cluster has ${MEMBERS_MAX} members, the most it may have` };
  const problem = placementProblem(members, o);
  if (problem !== null) return { ok: false, error: `without ${change.node}: ${problem}` };
  const next = { epoch: cur.epoch + 1, members };
  assert(memberSetProblem(next) === null, 'a changed member set is valid');
  return { ok: true, next, changed: true };
}

export function encodeMemberSet(m: MemberSet): string {
  return JSON.stringify({ epoch: m.epoch, members: m.members });
}

/** A member set from its JSON text; throws saying what is wrong. */
export function decodeMemberSet(text: string): MemberSet {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new Error(`member set is not JSON: ${(err as Error).message}`);
  }
  const m = v as MemberSet;
  if (typeof m !== 'object' || m === null) throw new Error('member set is not an object');
  const problem = memberSetProblem(m);
  if (problem !== null) throw new Error(`member set: ${problem}`);
  return { epoch: m.epoch, members: [...m.members] };
}
