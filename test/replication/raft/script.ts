/**
 * A datadriven script runner in the manner of etcd's raft testdata/*.txt: a text file of
 * commands, each followed by `----` and the output it must produce. A whole interaction and its
 * expected messages read as one story. Set RAFT_SCRIPT_REWRITE=1 to write the actual outputs
 * into the files (then read the diff before committing it).
 *
 *   cluster n1 n2 n3 [joiners=n4,n5] [prevote=true] [checkquorum=true] [lease=true] [seed=s]
 *   campaign n1 | propose n1 text | read n1 | transfer n1 n2 | tick n1 [times] | tick-all [times]
 *   conf n1 addLearner|promoteLearner|removeNode n4
 *   stabilize                       deliver everything, printing each delivery and role change
 *   deliver [count]                 deliver the oldest messages (default 1)
 *   drop [from->to]                 drop messages in flight (all, or those on one link)
 *   partition n1 | n2 n3, heal, crash n1, restart n1, compact n1 [keep]
 *   status [n1 ...]                 role, term, vote, commit, applied and log of each node
 *   reads n1                        the read states n1 has answered
 */
import { describeMessage } from '../../../src/replication/raft/messages.js';
import { raftOptions } from '../../../src/replication/raft/options.js';
import type { NodeId } from '../../../src/replication/raft/types.js';
import { Cluster } from './harness.js';

export interface ScriptCase {
  readonly line: number;
  readonly command: string;
  readonly expected: string;
}

export function parseScript(text: string): ScriptCase[] {
  const lines = text.split('\n');
  const out: ScriptCase[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = (lines[i] as string).trimEnd();
    if (line === '' || line.startsWith('#')) {
      i += 1;
      continue;
    }
    if (lines[i + 1]?.trimEnd() !== '----') throw new Error(`line ${i + 2}: expected ---- after the command "${line}"`);
    const start = i;
    i += 2;
    const expected: string[] = [];
    while (i < lines.length && (lines[i] as string).trimEnd() !== '') expected.push((lines[i++] as string).trimEnd());
    out.push({ line: start + 1, command: line, expected: expected.join('\n') });
  }
  return out;
}

export function renderScript(cases: readonly { command: string; output: string }[], header: string): string {
  return `${header}${cases.map((c) => `${c.command}\n----\n${c.output === '' ? 'ok' : c.output}\n`).join('\n')}`;
}

/** Runs commands against one cluster; each returns its output text. */
export class ScriptRunner {
  private cluster: Cluster | null = null;

  run(command: string): string {
    const [verb, ...args] = command.split(/\s+/) as [string, ...string[]];
    if (verb === 'cluster') return this.makeCluster(args);
    const c = this.cluster;
    if (c === null) throw new Error(`"${command}": no cluster yet`);
    return this.runOn(c, verb, args).join('\n');
  }

  private makeCluster(args: string[]): string {
    const flags = new Map(args.filter((a) => a.includes('=')).map((a) => a.split('=') as [string, string]));
    const voters = args.filter((a) => !a.includes('='));
    const lease = flags.get('lease') === 'true';
    const options = raftOptions({
      preVote: flags.get('prevote') === 'true',
      checkQuorum: flags.get('checkquorum') === 'true' || lease,
      readOnly: lease ? 'leaseBased' : 'safe',
      electionTicks: Number(flags.get('election') ?? 10),
    });
    const joiners = flags.get('joiners')?.split(',') ?? [];
    this.cluster = new Cluster({ voters, joiners, seed: flags.get('seed') ?? 'script', options });
    return '';
  }

  private runOn(c: Cluster, verb: string, args: string[]): string[] {
    const id = args[0] as NodeId;
    switch (verb) {
      case 'campaign':
        return this.sent(c, () => c.campaign(id));
      case 'propose':
        return this.sent(c, () => answer(c.propose(id, args.slice(1).join(' '))));
      case 'read':
        return this.sent(c, () => answer(c.read(id).result));
      case 'transfer':
        return this.sent(c, () => answer(c.transfer(id, args[1] as NodeId)));
      case 'conf':
        return this.sent(c, () => answer(c.proposeConfChange(id, { type: args[1] as 'addLearner', node: args[2] as NodeId })));
      case 'tick':
        return this.sent(c, () => c.tick(id, Number(args[1] ?? 1)));
      case 'tick-all':
        return this.sent(c, () => c.tickAll(Number(args[0] ?? 1)));
      case 'stabilize':
        return this.deliver(c, Infinity);
      case 'deliver':
        return this.deliver(c, Number(args[0] ?? 1));
      case 'drop': {
        const [from, to] = (args[0] ?? '->').split('->');
        const n = c.inflight.length;
        c.dropWhere((m) => (from === '' || m.from === from) && (to === '' || m.to === to));
        return [`dropped ${n - c.inflight.length}`];
      }
      case 'partition': {
        const groups = args.join(' ').split('|').map((g) => g.trim().split(/\s+/));
        c.partition(groups);
        return [];
      }
      case 'heal':
        c.heal();
        return [];
      case 'crash':
        c.crash(id);
        return [];
      case 'restart':
        return this.sent(c, () => c.restart(id));
      case 'compact':
        return [c.compact(id, Number(args[1] ?? 0)) ? `${id} log starts after ${c.peer(id).storage.firstIndex() - 1}` : 'nothing to compact'];
      case 'status':
        return (args.length > 0 ? args : c.ids).map((n) => status(c, n));
      case 'reads':
        return c.peer(id).reads.map((r) => `${r.requestCtx} at ${r.index}`);
      default:
        throw new Error(`unknown command ${verb}`);
    }
  }

  /** Runs `act`, then prints its own output, role changes and the messages it put in flight. */
  private sent(c: Cluster, act: () => string | void): string[] {
    const before = c.inflight.length;
    const roles = roleMap(c);
    const out: string[] = [];
    const said = act();
    if (typeof said === 'string') out.push(said);
    out.push(...roleChanges(c, roles));
    out.push(...c.inflight.slice(before).map(describeMessage));
    return out;
  }

  private deliver(c: Cluster, count: number): string[] {
    const out: string[] = [];
    for (let i = 0; i < count && c.inflight.length > 0; i++) {
      if (i > 10_000) throw new Error('stabilize: the cluster keeps talking');
      const roles = roleMap(c);
      out.push(c.deliver(0).replace(/^deliver /, ''));
      out.push(...roleChanges(c, roles).map((l) => `  ${l}`));
    }
    return out;
  }
}

function answer(r: { ok: boolean; reason?: string; index?: number; term?: number }): string {
  if (!r.ok) return `refused: ${r.reason}`;
  return r.index === undefined ? 'accepted' : `accepted at ${r.term}/${r.index}`;
}

function roleMap(c: Cluster): Map<NodeId, string> {
  return new Map(c.ids.map((id) => [id, c.isUp(id) ? `${c.node(id).softState().role}@${c.node(id).hardState().term}` : 'down']));
}

function roleChanges(c: Cluster, before: Map<NodeId, string>): string[] {
  const out: string[] = [];
  for (const [id, was] of roleMap(c)) {
    if (was !== before.get(id)) out.push(`${id} is ${was.replace('@', ' in term ')}`);
  }
  return out;
}

function status(c: Cluster, id: NodeId): string {
  if (!c.isUp(id)) return `${id}: down`;
  const d = c.node(id).debugState();
  const log = d.entries.map((e) => `${e.term}/${e.index}${e.type === 'config' ? 'c' : ''}`).join(' ');
  const start = d.logStart.index > 0 ? ` after ${d.logStart.term}/${d.logStart.index}` : '';
  return `${id}: ${d.role} term=${d.term} vote=${d.vote ?? '-'} commit=${d.commitIndex} applied=${d.lastApplied} log=[${log}]${start}`;
}
