import { assert } from '../../util/assert.js';
import type { Membership, NodeId } from './types.js';

/**
 * Memberships: building, comparing and the encoding stored in 'config' entries.
 *
 * A config entry holds the whole resulting membership, not the change, so that any node derives
 * the membership at a log position from the last config entry at or before it, without replaying
 * history (membership-history.ts).
 */

export const EMPTY_MEMBERSHIP: Membership = Object.freeze({ voters: [], learners: [] });

/** Ids are short printable names; a limit keeps a bad id from bloating every message. */
export const NODE_ID_LENGTH_MAX = 128;
/** A Raft group of more voters than this is a mistake (every commit waits for half of them). */
export const VOTERS_MAX = 15;
export const LEARNERS_MAX = 64;

export function makeMembership(voters: readonly NodeId[], learners: readonly NodeId[] = []): Membership {
  const m: Membership = { voters: [...voters].sort(), learners: [...learners].sort() };
  const problem = validateMembership(m);
  assert(problem === null, () => `invalid membership ${JSON.stringify(m)}: ${problem}`);
  return Object.freeze(m);
}

/** Returns what is wrong with `m`, or null. */
export function validateMembership(m: Membership): string | null {
  if (m.voters.length > VOTERS_MAX) return `more than ${VOTERS_MAX} voters`;
  if (m.learners.length > LEARNERS_MAX) return `more than ${LEARNERS_MAX} learners`;
  for (const list of [m.voters, m.learners]) {
    for (let i = 0; i < list.length; i++) {
      const id = list[i] as NodeId;
      if (typeof id !== 'string' || id.length === 0 || id.length > NODE_ID_LENGTH_MAX) return `bad node id ${JSON.stringify(id)}`;
      if (i > 0 && (list[i - 1] as NodeId) >= id) return 'ids not sorted and unique';
    }
  }
  for (const id of m.learners) if (m.voters.includes(id)) return `${id} is both voter and learner`;
  return null;
}

export function isVoter(m: Membership, id: NodeId): boolean {
  return m.voters.includes(id);
}

export function isMember(m: Membership, id: NodeId): boolean {
  return m.voters.includes(id) || m.learners.includes(id);
}

/** Voters then learners, each sorted: the fixed order in which a leader visits its followers. */
export function members(m: Membership): NodeId[] {
  return [...m.voters, ...m.learners];
}

export function sameMembership(a: Membership, b: Membership): boolean {
  return sameList(a.voters, b.voters) && sameList(a.learners, b.learners);
}

function sameList(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export function describeMembership(m: Membership): string {
  return `voters=(${m.voters.join(' ')})${m.learners.length > 0 ? ` learners=(${m.learners.join(' ')})` : ''}`;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 JSON, readable in a WAL dump: {"voters":[...],"learners":[...]}. */
export function encodeMembership(m: Membership): Uint8Array {
  return encoder.encode(JSON.stringify({ voters: m.voters, learners: m.learners }));
}

export function decodeMembership(data: Uint8Array): Membership {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(data));
  } catch (e) {
    throw new Error(`config entry is not UTF-8 JSON: ${(e as Error).message}`);
  }
  const p = parsed as { voters?: unknown; learners?: unknown };
  if (typeof p !== 'object' || p === null || !Array.isArray(p.voters) || !Array.isArray(p.learners)) {
    throw new Error(`config entry is not {voters: [...], learners: [...]}: ${JSON.stringify(parsed)}`);
  }
  const m = { voters: p.voters as NodeId[], learners: p.learners as NodeId[] };
  const problem = validateMembership(m);
  if (problem !== null) throw new Error(`config entry holds an invalid membership: ${problem}`);
  return Object.freeze(m);
}
