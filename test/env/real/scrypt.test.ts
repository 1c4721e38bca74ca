import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { scryptSync } from 'node:crypto';
import { hashPassword, scryptVerifier } from '../../../src/node/auth.js';
import { ThreadPoolScrypt } from '../../../src/env/real/scrypt.js';

// Password hashing off the event loop (issue 16, item 5): on libuv's pool, a bounded number at once.

const params = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

test('at most concurrentMax hashes run at once; the rest wait, and every one gets its own key', async () => {
  const pool = new ThreadPoolScrypt(2);
  const salts = [1, 2, 3, 4, 5].map((i) => new Uint8Array(16).fill(i));
  const keys = await new Promise<Uint8Array[]>((resolve, reject) => {
    const out: Uint8Array[] = [];
    let left = salts.length;
    salts.forEach((salt, i) =>
      pool.scrypt('pw', salt, 32, params, (err, key) => {
        if (err !== null || key === undefined) return reject(err);
        out[i] = key;
        if (--left === 0) resolve(out);
      }),
    );
    assert.equal(pool.load(), { running: 2, waiting: 3 });
  });
  salts.forEach((salt, i) => assert.equal(Buffer.from(keys[i] as Uint8Array), scryptSync('pw', salt, 32, params)));
  assert.equal(pool.load(), { running: 0, waiting: 0 });
});

test('the event loop keeps turning while a password is checked', async () => {
  const verifier = scryptVerifier(new ThreadPoolScrypt(1));
  const hash = hashPassword('right', new Uint8Array(16).fill(9));
  const order: string[] = [];
  const checked = new Promise<boolean>((resolve) => verifier.verify('right', hash, (ok) => (order.push('checked'), resolve(ok))));
  setImmediate(() => order.push('next turn'));
  assert.is(await checked, true);
  assert.equal(order, ['next turn', 'checked'], 'a hash on the calling thread would have finished before the next turn');
  assert.is(await new Promise<boolean>((r) => verifier.verify('wrong', hash, r)), false);
  assert.is(await new Promise<boolean>((r) => verifier.verify('right', 'scrypt$1048576$32$1$c2FsdA==$a2V5', r)), false, 'a hash too costly to check is refused, not computed');
  assert.is(await new Promise<boolean>((r) => verifier.verify('right', 'not a hash', r)), false);
});

test.run();
