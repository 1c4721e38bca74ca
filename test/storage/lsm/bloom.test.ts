import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  BlockedBloomBuilder,
  blockedBloomMayContain,
  blockedBloomProbes,
  blockedBloomTheoreticalFpRate,
  BloomBuilder,
  bloomHash,
  bloomMayContain,
  bloomProbes,
  bloomTheoreticalFpRate,
} from '../../../src/storage/lsm/bloom.js';

const Bloom = suite('bloom filter');

const enc = (s: string) => new TextEncoder().encode(s);

function build(keys: string[], bitsPerKey: number): Uint8Array {
  const b = new BloomBuilder(bitsPerKey);
  for (const k of keys) b.add(bloomHash(enc(k)));
  return b.finish();
}

Bloom('MurmurHash3 x86_32 matches the published test vectors', () => {
  const h = (s: string, seed: number) => bloomHash(enc(s), 0, enc(s).length, seed);
  assert.is(h('', 0), 0);
  assert.is(h('', 1), 0x514e28b7);
  assert.is(h('', 0xffffffff), 0x81f16f39);
  assert.is(h('\0\0\0\0', 0), 0x2362f9de);
  assert.is(h('abc', 0), 0xb3dd93fa);
  assert.is(h('aaaa', 0x9747b28c), 0x5a97808a);
  assert.is(h('Hello, world!', 0x9747b28c), 0x24884cba);
  assert.is(h('The quick brown fox jumps over the lazy dog', 0x9747b28c), 0x2fa826cd);
});

Bloom('no false negatives: every added key may be present', () => {
  const keys = Array.from({ length: 5000 }, (_, i) => `key-${i * 7919}`);
  const f = build(keys, 10);
  for (const k of keys) assert.ok(bloomMayContain(f, bloomHash(enc(k))), k);
});

Bloom('the measured false-positive rate is close to theory, for several bits per key', () => {
  const n = 20_000;
  const probes = 200_000;
  const keys = Array.from({ length: n }, (_, i) => `user:${i}:${(i * 2654435761) >>> 0}`);
  for (const bitsPerKey of [4, 6, 10, 16]) {
    const f = build(keys, bitsPerKey);
    let fp = 0;
    for (let i = 0; i < probes; i++) if (bloomMayContain(f, bloomHash(enc(`absent:${i}`)))) fp++;
    const measured = fp / probes;
    const bits = (f.length - 1) * 8;
    const theory = bloomTheoreticalFpRate(bits, n, bloomProbes(bitsPerKey));
    // With 200k probes the sampling error is a few percent of the rate; allow 20% either way.
    assert.ok(measured > theory * 0.8 && measured < theory * 1.2, `${bitsPerKey} bits/key: measured ${measured.toFixed(5)}, theory ${theory.toFixed(5)}`);
  }
});

Bloom('at 10 bits per key, under 1% of absent keys pass', () => {
  const keys = Array.from({ length: 10_000 }, (_, i) => `k${i}`);
  const f = build(keys, 10);
  let fp = 0;
  for (let i = 0; i < 100_000; i++) if (bloomMayContain(f, bloomHash(enc(`x${i}`)))) fp++;
  assert.ok(fp / 100_000 < 0.01, `false-positive rate ${fp / 100_000}`);
});

Bloom('a damaged filter answers "maybe", never a false "no"', () => {
  assert.ok(bloomMayContain(new Uint8Array(0), 123));
  const f = build(['a'], 10);
  f[f.length - 1] = 0; // k = 0 is impossible
  assert.ok(bloomMayContain(f, bloomHash(enc('zzz'))));
});

function buildBlocked(keys: string[], bitsPerKey: number): Uint8Array {
  const b = new BlockedBloomBuilder(bitsPerKey);
  for (const k of keys) b.add(bloomHash(enc(k)));
  return b.finish();
}

Bloom('blocked filter: no false negatives, at any size', () => {
  for (const n of [1, 7, 100, 5000]) {
    const keys = Array.from({ length: n }, (_, i) => `key-${i * 7919}`);
    const f = buildBlocked(keys, 10);
    assert.is((f.length - 1) % 64, 0, 'whole 64-byte blocks');
    for (const k of keys) assert.ok(blockedBloomMayContain(f, bloomHash(enc(k))), k);
  }
});

Bloom('blocked filter: the measured false-positive rate is close to theory, for several bits per key', () => {
  const n = 20_000;
  const probes = 200_000;
  const keys = Array.from({ length: n }, (_, i) => `user:${i}:${(i * 2654435761) >>> 0}`);
  for (const bitsPerKey of [4, 6, 10, 16]) {
    const f = buildBlocked(keys, bitsPerKey);
    let fp = 0;
    for (let i = 0; i < probes; i++) if (blockedBloomMayContain(f, bloomHash(enc(`absent:${i}`)))) fp++;
    const measured = fp / probes;
    const theory = blockedBloomTheoreticalFpRate(((f.length - 1) * 8) / n, blockedBloomProbes(bitsPerKey));
    assert.ok(measured > theory * 0.8 && measured < theory * 1.2, `${bitsPerKey} bits/key: measured ${measured.toFixed(5)}, theory ${theory.toFixed(5)}`);
  }
});

Bloom('blocked filter at 10 bits per key: about 1% of absent keys pass (sized for 1%)', () => {
  const keys = Array.from({ length: 17_000 }, (_, i) => String(i * 37).padStart(16, '0'));
  const f = buildBlocked(keys, 10);
  let fp = 0;
  for (let i = 0; i < 200_000; i++) if (blockedBloomMayContain(f, bloomHash(enc(String(i * 37 + 1).padStart(16, '0'))))) fp++;
  // Theory says 0.98%; 200k probes have a sampling error of about 0.02%.
  assert.ok(fp / 200_000 < 0.0105, `false-positive rate ${fp / 200_000}`);
  assert.ok(blockedBloomTheoreticalFpRate(10, blockedBloomProbes(10)) < 0.01);
});

Bloom('a damaged blocked filter answers "maybe", never a false "no"', () => {
  assert.ok(blockedBloomMayContain(new Uint8Array(0), 123));
  const f = buildBlocked(['a'], 10);
  f[f.length - 1] = 0;
  assert.ok(blockedBloomMayContain(f, bloomHash(enc('zzz'))));
  assert.ok(blockedBloomMayContain(new Uint8Array(65 + 3).fill(0), 5), 'a length that is not whole blocks');
});

Bloom.run();
