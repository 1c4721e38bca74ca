import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runScenario } from '../../sim/runner.js';
import { parseScenario } from '../../sim/scenario.js';
import { tempDir } from '../host/helpers.js';

// The lab drives the path `kv-lab member add/remove` takes: the CLI sends member.add and
// member.remove with the TypeScript client (KvClient) to the nodes' TCP client ports, where the
// front door hands request frames to a NativeSession (src/cli/members.ts). scenarios/raft/
// membership.yaml's join and leave faults are an operator's requests through that same client
// and front door (sim/nemesis.ts), under a partition, an isolated node and a crash. The scenario's
// checks pass whether or not a change went through; here every change must have been answered
// ok, in order, so that a front door that stopped accepting them fails this test.

const L = suite('member ops in the lab');

function traceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...traceFiles(p));
    else if (name === 'trace.jsonl') out.push(p);
  }
  return out;
}

L('raft/membership: add n4, remove n1, add n5, remove the leader, each answered ok through the client path', () => {
  const file = join(import.meta.dirname, '..', '..', 'scenarios', 'raft', 'membership.yaml');
  const scenario = parseScenario(readFileSync(file, 'utf8'), file);
  const out = tempDir('members-lab');
  const { summary } = runScenario(scenario, { seed: 1, outDir: out });
  assert.ok(summary.passed, JSON.stringify(summary.checks));
  const [trace] = traceFiles(out);
  assert.ok(trace !== undefined, 'the run wrote a trace');
  const changes = readFileSync(trace as string, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"e":"membership"'))
    .map((l) => JSON.parse(l) as { change: string; outcome: string; members?: { voters: string[]; learners: string[] } });
  assert.equal(changes.map((c) => [c.change.replace(/ n\d$/, ''), c.outcome]), [['join', 'ok'], ['leave', 'ok'], ['join', 'ok'], ['leave', 'ok']]);
  assert.equal(changes[0]?.members?.learners, ['n4']);
  assert.not.ok(changes[1]?.members?.voters.includes('n1'));
  assert.equal(changes[2]?.members?.learners, ['n5']);
  assert.is(changes[3]?.members?.voters.length, 3);
});

L.run();
