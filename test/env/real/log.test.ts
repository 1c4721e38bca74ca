import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { formatLogLine, JsonLineLogger, LOG_LINE_BYTES_MAX } from '../../../src/env/real/log.js';

// The real Logger: one JSON object per line, levels filtered, nothing lost to a bad field.

const L = suite('JSON line logger');

L('one parseable line per event, with time, level, node and event first', () => {
  const lines: string[] = [];
  const log = new JsonLineLogger({ node: 'n1', level: 'info', out: { write: (l: string) => lines.push(l) }, wallMs: () => Date.UTC(2030, 0, 2, 3, 4, 5, 6) });
  log.log('debug', 'hidden', {});
  log.log('info', 'node.start', { id: 'n1', ports: [1, 2] });
  log.log('warn', 'oops', { event: 'not allowed to overwrite', error: new Error('boom'), big: 10n });
  assert.is(lines.length, 2, 'debug is below info');
  assert.ok(lines.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n')));
  assert.equal(JSON.parse(lines[0] as string), { time: '2030-01-02T03:04:05.006Z', level: 'info', node: 'n1', event: 'node.start', id: 'n1', ports: [1, 2] });
  assert.equal(JSON.parse(lines[1] as string), { time: '2030-01-02T03:04:05.006Z', level: 'warn', node: 'n1', event: 'oops', error: 'boom', big: '10' });
  assert.ok(log.enabled('error') && !log.enabled('debug'));
});

L('a cycle or an oversized event still produces a line saying so', () => {
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  const a = JSON.parse(formatLogLine('t', 'error', 'n1', 'e', { cyclic })) as Record<string, unknown>;
  assert.equal([a.event, typeof a.unserialisable], ['e', 'string']);
  const b = formatLogLine('t', 'info', 'n1', 'e', { blob: 'x'.repeat(LOG_LINE_BYTES_MAX * 2) });
  assert.ok(b.length < LOG_LINE_BYTES_MAX);
  assert.is((JSON.parse(b) as { truncated: boolean }).truncated, true);
});

L.run();
