/**
 * Runs every script in testdata/ (see script.ts for the commands): each command's output must be
 * exactly the text under its `----`. GOSSIP_SCRIPT_REWRITE=1 rewrites the files instead.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ScriptRunner, parseScript, renderScript } from './script.js';

const dir = join(fileURLToPath(import.meta.url), '..', 'testdata');
const rewrite = process.env.GOSSIP_SCRIPT_REWRITE === '1';

for (const file of readdirSync(dir).filter((f) => f.endsWith('.txt')).sort()) {
  test(`script ${file}`, () => {
    const text = readFileSync(join(dir, file), 'utf8');
    const header = text.slice(0, text.search(/^[^#\n]/m));
    const runner = new ScriptRunner();
    const results: { command: string; output: string }[] = [];
    for (const c of parseScript(text)) {
      const output = runner.run(c.command);
      results.push({ command: c.command, output });
      if (!rewrite) assert.fixture(output === '' ? 'ok' : output, c.expected, `${file}:${c.line}: ${c.command}`);
    }
    if (rewrite) writeFileSync(join(dir, file), renderScript(results, header));
  });
}

test.run();
