import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runScenario } from '../../sim/runner.js';
import { parseScenario } from '../../sim/scenario.js';
import { RaftNode } from '../../src/replication/raft/node.js';

// The observer's matchIndex invariant (sim/raft-observer.ts): a leader's match index for a
// follower must name an entry both logs share. Healthy runs never break it; a leader whose
// progress claims more than a follower holds breaks it at once.

const file = join(import.meta.dirname, '..', '..', 'scenarios', 'raft-quickstart.yaml');
const short = () => ({ ...parseScenario(readFileSync(file, 'utf8'), file), durationNs: 3e9 });

test('a healthy run never breaks it', () => {
  const { summary } = runScenario(short(), { seed: 4, outDir: null });
  assert.is(summary.checks['raft-safety']?.verdict, 'pass', summary.checks['raft-safety']?.summary);
});

test('a leader that counts a follower as holding entries past its own log is caught at once', () => {
  // The observer reads a leader's match indexes through forEachMatchIndex.
  const real = Object.getOwnPropertyDescriptor(RaftNode.prototype, 'forEachMatchIndex')!;
  // As if followers acknowledged their whole logs, stale tails included: every match inflated.
  RaftNode.prototype.forEachMatchIndex = function (this: RaftNode, visit: (id: string, match: number) => void) {
    (real.value as RaftNode['forEachMatchIndex']).call(this, (id, i) => visit(id, i > 0 ? i + 3 : i));
  };
  try {
    const { summary } = runScenario(short(), { seed: 4, outDir: null });
    const c = summary.checks['raft-safety'];
    assert.is(c?.verdict, 'fail');
    assert.match(c?.summary ?? '', /counts n\d as holding up to \d+, past its own last index/);
  } finally {
    Object.defineProperty(RaftNode.prototype, 'forEachMatchIndex', real);
  }
});

test.run();
