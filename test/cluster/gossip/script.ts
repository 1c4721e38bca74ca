/**
 * Datadriven scripts for the gossip core, in the manner of etcd raft's testdata (and of
 * test/replication/raft/script.ts): a command, `----`, and the output it must produce.
 * GOSSIP_SCRIPT_REWRITE=1 writes the actual outputs into the files (read the diff before
 * committing it).
 *
 *   cluster n1 n2 n3 [alone] [lifeguard=on|off|localHealth,buddySystem] [seed=s] [<option>=<integer>]
 *   run <ms>            a network without latency: time moves from wake time to wake time, and
 *                       everything sent is delivered at once; prints "t=<ms> a->b <message>" per message
 *   advance <ms>        move the shared clock, ticking nodes at their wake times; prints what they
 *                       send, which stays in flight until delivered
 *   stabilize           deliver everything in flight (and what that causes), printing each delivery
 *   deliver [n]         deliver the n oldest messages
 *   crash n | restart n seed… | join n seed… | leave n | cut a->b | heal
 *   view n…             each member as n sees it: id:state@incarnation
 *   health n            Lifeguard's local health score of n
 * Membership events print indented under the command that caused them: "  n2: suspect n3@0 by n1".
 */
import { gossipOptions, type GossipOptionsInput } from '../../../src/cluster/gossip/options.js';
import { Harness, type Flight } from './harness.js';

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
      i++;
      continue;
    }
    if (lines[i + 1]?.trimEnd() !== '----') throw new Error(`line ${i + 2}: expected ---- after "${line}"`);
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

export class ScriptRunner {
  private h: Harness | null = null;
  private eventsSeen = 0;

  run(command: string): string {
    const [verb, ...args] = command.split(/\s+/) as [string, ...string[]];
    if (verb === 'cluster') {
      this.h = makeCluster(args);
      this.eventsSeen = this.h.events.length;
      return '';
    }
    const h = this.h;
    if (h === null) throw new Error(`"${command}": no cluster yet`);
    const out = this.runOn(h, verb, args);
    for (; this.eventsSeen < h.events.length; this.eventsSeen++) out.push(eventLine(h.events[this.eventsSeen]!));
    return out.join('\n');
  }

  private runOn(h: Harness, verb: string, args: string[]): string[] {
    const id = args[0] as string;
    const sent = (fs: Flight[]) => fs.map((f) => `${h.describe(f)}`);
    switch (verb) {
      case 'advance': {
        const start = h.nowMs;
        const fs = h.advance(Number(args[0]));
        return [`t=${h.nowMs} (+${h.nowMs - start})`, ...sent(fs)];
      }
      case 'run': {
        const out: string[] = [];
        let seen = h.events.length;
        h.run(Number(args[0]), (r) => {
          out.push(`t=${r.atMs} ${r.lost ? 'lost ' : ''}${h.describe(r.flight)}`);
          for (; seen < h.events.length; seen++) out.push(eventLine(h.events[seen]!));
        });
        this.eventsSeen = seen;
        return out;
      }
      case 'stabilize':
        return this.deliver(h, Infinity);
      case 'deliver':
        return this.deliver(h, Number(args[0] ?? 1));
      case 'crash':
        h.crash(id);
        return [];
      case 'restart':
        h.restart(id, args.slice(1));
        return [];
      case 'join':
        h.node(id).join(args.slice(1), h.nowMs);
        return sent(h.collect(id));
      case 'leave':
        h.node(id).leave(h.nowMs);
        return sent(h.collect(id));
      case 'cut': {
        const [a, b] = id.split('->') as [string, string];
        h.cutLink(a, b);
        return [];
      }
      case 'heal':
        h.heal();
        return [];
      case 'view':
        return args.map((n) => `${n}: ${h.view(n)} (${h.node(n).status})`);
      case 'health':
        return [`${id}: ${h.node(id).localHealth}`];
      default:
        throw new Error(`unknown command ${verb}`);
    }
  }

  private deliver(h: Harness, count: number): string[] {
    const out: string[] = [];
    for (let i = 0; i < count && h.inflight.length > 0; i++) {
      if (i > 10_000) throw new Error('stabilize did not settle');
      const r = h.deliverOne()!;
      out.push(`${r.lost ? 'lost ' : ''}${h.describe(r.flight)}`);
    }
    return out;
  }
}

function eventLine({ observer, event: e }: Harness['events'][number]): string {
  return `  ${observer}: ${e.type} ${e.id}@${e.incarnation}${e.by !== null ? ` by ${e.by}` : ''}`;
}

function makeCluster(args: string[]): Harness {
  const flags = new Map(args.filter((a) => a.includes('=')).map((a) => a.split('=') as [string, string]));
  const ids = args.filter((a) => !a.includes('=') && a !== 'alone');
  const options: Record<string, unknown> = {};
  let seed = 'script';
  for (const [k, v] of flags) {
    if (k === 'seed') seed = v;
    else if (k === 'lifeguard') options.lifeguard = v === 'on' ? true : v === 'off' ? false : Object.fromEntries(['localHealth', 'dynamicSuspicion', 'buddySystem'].map((s) => [s, v.split(',').includes(s)]));
    else options[k] = Number(v);
  }
  gossipOptions(options as GossipOptionsInput); // refuse a bad script early, naming the knob
  return new Harness({ ids, converged: !args.includes('alone'), options: options as GossipOptionsInput, seed });
}
