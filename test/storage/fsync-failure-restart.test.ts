import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DURABLE, Harness } from './harness.js';

// A failed fsync, the process exits, a new one starts on the same page cache, acknowledges more
// writes, then the machine loses power. What the new process acknowledged must survive, though it
// was written after records the device never got (src/storage/rewrite.ts).

for (const kind of DURABLE) {
  test(`${kind}: writes acknowledged after a restart from a failed fsync survive a power loss`, () => {
    const h = new Harness(kind, `fsyncgate-${kind}`, { crash: 'lose' });
    assert.is(h.write([['a', 'durable']]), null);
    h.env.disk.syncFailuresPending = 1;
    assert.ok(h.write([['b', 'never synced']]) !== null, 'the failed fsync fails the write');
    h.env.exitProcess();
    assert.is(h.open(), null);
    // Few writes: a memtable flush or a new data file would carry them past the hole by chance.
    for (let i = 0; i < 3; i++) assert.is(h.write([[`c${String(i).padStart(2, '0')}`, 'acknowledged after the restart']]), null);
    const err = h.crash();
    assert.is(err, null, `reopens after the power loss: ${String(err)}`);
    const keys = new Map(h.all());
    assert.is(keys.get('a'), 'durable');
    for (let i = 0; i < 3; i++) assert.is(keys.get(`c${String(i).padStart(2, '0')}`), 'acknowledged after the restart', `c${i}`);
  });
}

test.run();
