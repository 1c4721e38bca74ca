/**
 * A single node driven by hand: the test steps crafted messages into it and looks at what it
 * sends. Its Readys are carried out into a MemoryRaftStorage at once (ready.ts).
 */
import { SeededRng } from '../../../src/env/rng.js';
import { MemoryRaftStorage } from '../../../src/replication/raft/memory-storage.js';
import { encodeMembership, makeMembership } from '../../../src/replication/raft/membership.js';
import type { Message, MsgApp, MsgVote } from '../../../src/replication/raft/messages.js';
import { RaftNode } from '../../../src/replication/raft/node.js';
import { raftOptions, type RaftOptions } from '../../../src/replication/raft/options.js';
import type { Entry, NodeId, ReadState, Term } from '../../../src/replication/raft/types.js';

export const noData = new Uint8Array(0);

export function ent(term: Term, index: number, data: Uint8Array = noData): Entry {
  return { term, index, type: 'normal', data };
}

/**
 * A storage whose log has entries of the given terms at positions 2.. (position 1 is the
 * bootstrap config entry of `voters`, term 1), and the given hard state term.
 */
export function storageWithTerms(voters: readonly NodeId[], terms: readonly Term[], term?: Term): MemoryRaftStorage {
  const s = new MemoryRaftStorage();
  s.append([{ term: 1, index: 1, type: 'config', data: encodeMembership(makeMembership(voters)) }]);
  s.append(terms.map((t, i) => ent(t, i + 2, new TextEncoder().encode(`t${t}i${i + 2}`))));
  s.setHardState({ term: term ?? Math.max(1, ...terms), vote: null, commit: 1 });
  return s;
}

/** Options for hand-driven tests: no pre-vote and no check quorum unless asked. */
export function plainOptions(overrides: Parameters<typeof raftOptions>[0] = {}): RaftOptions {
  return raftOptions({ preVote: false, checkQuorum: false, ...overrides });
}

/** The message interface whose type union includes T (MsgVote covers 'MsgVote' and 'MsgPreVote'). */
export type OfType<T extends Message['type']> = Message extends infer M ? (M extends { type: infer U } ? (T extends U ? M : never) : never) : never;

export class Lone {
  readonly node: RaftNode;
  /** Everything the node sent, in order, since the last take(). */
  private sent: Message[] = [];
  readonly applied: Entry[] = [];
  readonly reads: ReadState[] = [];

  constructor(
    readonly id: NodeId,
    readonly storage: MemoryRaftStorage,
    options: RaftOptions = plainOptions(),
    seed = 'lone',
  ) {
    this.node = new RaftNode({ id, storage, rng: new SeededRng(seed), options });
    this.run();
  }

  static of(id: NodeId, voters: readonly NodeId[], options?: RaftOptions): Lone {
    return new Lone(id, MemoryRaftStorage.bootstrap(voters), options);
  }

  /** Carries out every pending Ready. */
  run(): void {
    while (this.node.hasReady()) {
      const rd = this.node.ready();
      this.sent.push(...rd.earlyMessages);
      if (rd.snapshot !== null) this.storage.applySnapshot(rd.snapshot);
      this.storage.append(rd.entries);
      if (rd.hardState !== null) this.storage.setHardState(rd.hardState);
      this.sent.push(...rd.messages);
      this.applied.push(...rd.committedEntries);
      this.reads.push(...rd.readStates);
      this.node.advance(rd);
    }
  }

  step(m: Message): this {
    this.node.step(m);
    this.run();
    return this;
  }

  tick(times = 1): this {
    for (let i = 0; i < times; i++) {
      this.node.tick();
      this.run();
    }
    return this;
  }

  take(): Message[] {
    const out = this.sent;
    this.sent = [];
    return out;
  }

  takeOfType<T extends Message['type']>(type: T): OfType<T>[] {
    return this.take().filter((m): m is OfType<T> => m.type === type);
  }

  get role(): string {
    return this.node.softState().role;
  }

  get term(): Term {
    return this.node.hardState().term;
  }

  /** Makes this node leader of the next term with the votes of `voters`. */
  becomeLeaderWith(voters: readonly NodeId[]): this {
    this.node.campaign();
    this.run();
    const term = this.term;
    for (const v of voters) if (v !== this.id) this.step(voteResp(v, this.id, term, false));
    return this;
  }
}

export function appMsg(from: NodeId, to: NodeId, term: Term, prevIndex: number, prevTerm: Term, entries: Entry[], commit: number): MsgApp {
  return { type: 'MsgApp', from, to, term, prevIndex, prevTerm, entries, commit };
}

export function voteMsg(from: NodeId, to: NodeId, term: Term, lastIndex: number, lastTerm: Term, type: MsgVote['type'] = 'MsgVote'): MsgVote {
  return { type, from, to, term, lastIndex, lastTerm, transfer: false };
}

export function voteResp(from: NodeId, to: NodeId, term: Term, reject: boolean, type: 'MsgVoteResp' | 'MsgPreVoteResp' = 'MsgVoteResp'): Message {
  return { type, from, to, term, reject };
}

export function appResp(from: NodeId, to: NodeId, term: Term, index: number): Message {
  return { type: 'MsgAppResp', from, to, term, index, reject: false, hintIndex: 0, hintTerm: 0 };
}

export function heartbeatResp(from: NodeId, to: NodeId, term: Term, readCtx: string | null = null, tick = 0): Message {
  return { type: 'MsgHeartbeatResp', from, to, term, readCtx, tick };
}
