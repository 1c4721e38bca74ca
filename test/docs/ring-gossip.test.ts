import { test } from 'uvu';
import { runSections, SECTIONS } from './readme.js';

// README.md's "Ring and gossip": `kv-lab ring` on a million keys prints the table the README shows,
// line for line (the ring is a pure function of its members, so the figures never move).
test('README: Ring and gossip', () => {
  runSections('README.md', SECTIONS['ring-gossip.test.ts']?.sections ?? [], (l) => console.log(l));
});

test.run();
