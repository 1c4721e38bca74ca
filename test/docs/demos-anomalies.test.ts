import { test } from 'uvu';
import { runSections, SECTIONS } from './readme.js';

// README.md's demos of anomalies the lab catches (crash, log shipping, Figure 8): each prints
// what the README says it shows.
test("README: the lab's demos of anomalies", () => {
  const own = SECTIONS['demos-anomalies.test.ts'];
  runSections('README.md', own?.sections ?? [], (l) => console.log(l), [], own?.commands);
});

test.run();
