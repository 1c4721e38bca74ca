import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { StorageCorruptionError } from '../../../src/storage/errors.js';
import { decodeCurrent, decodeEdit, encodeCurrent, encodeEdit } from '../../../src/storage/lsm/manifest.js';
import { emptyEdit, newFileMeta, Version, type VersionEdit } from '../../../src/storage/lsm/version.js';

const M = suite('manifest');

const enc = (s: string) => new TextEncoder().encode(s);

M('a version edit round-trips through its encoding', () => {
  const bytes = fc.uint8Array({ maxLength: 12 });
  fc.assert(
    fc.property(
      fc.record({
        checkpointLsn: fc.option(fc.nat({ max: 2 ** 40 }), { nil: undefined }),
        nextFileNumber: fc.option(fc.nat({ max: 2 ** 30 }), { nil: undefined }),
        walBlockBytes: fc.option(fc.integer({ min: 32, max: 65542 }), { nil: undefined }),
        compactPointers: fc.array(fc.record({ level: fc.integer({ min: 0, max: 6 }), key: bytes })),
        deleted: fc.array(fc.record({ level: fc.integer({ min: 0, max: 6 }), number: fc.nat() })),
        added: fc.array(fc.record({ level: fc.integer({ min: 0, max: 6 }), n: fc.nat(), size: fc.nat(), entries: fc.nat(), a: bytes, b: bytes })),
      }),
      (r) => {
        const edit: VersionEdit = {
          ...emptyEdit(),
          compactPointers: r.compactPointers.map((p) => ({ level: p.level, key: p.key })),
          deleted: r.deleted.map((d) => ({ level: d.level, number: d.number })),
        };
        if (r.checkpointLsn !== undefined) edit.checkpointLsn = r.checkpointLsn;
        if (r.nextFileNumber !== undefined) edit.nextFileNumber = r.nextFileNumber;
        if (r.walBlockBytes !== undefined) edit.walBlockBytes = r.walBlockBytes;
        edit.added = r.added.map((x) => {
          const [lo, hi] = Buffer.compare(Buffer.from(x.a), Buffer.from(x.b)) <= 0 ? [x.a, x.b] : [x.b, x.a];
          return { level: x.level, file: newFileMeta(x.n, x.size, x.entries, lo, hi) };
        });
        const back = decodeEdit(encodeEdit(edit));
        assert.is(back.checkpointLsn, edit.checkpointLsn);
        assert.is(back.nextFileNumber, edit.nextFileNumber);
        assert.is(back.walBlockBytes, edit.walBlockBytes);
        assert.equal(back.compactPointers, edit.compactPointers);
        assert.equal(back.deleted, edit.deleted);
        assert.equal(
          back.added.map((a) => [a.level, a.file.number, a.file.sizeBytes, a.file.entries, [...a.file.smallest], [...a.file.largest]]),
          edit.added.map((a) => [a.level, a.file.number, a.file.sizeBytes, a.file.entries, [...a.file.smallest], [...a.file.largest]]),
        );
      },
    ),
  );
});

M('an unknown field tag is an error, not skipped', () => {
  assert.throws(() => decodeEdit(new Uint8Array([99, 1])), /unknown manifest field tag 99/);
});

M('CURRENT names its manifest with a checksum; a damaged CURRENT is corruption', () => {
  const good = encodeCurrent('MANIFEST-000012');
  assert.is(decodeCurrent('db/CURRENT', good), 'MANIFEST-000012');
  const swapped = enc(new TextDecoder().decode(good).replace('000012', '000011'));
  assert.throws(() => decodeCurrent('db/CURRENT', swapped), (e: unknown) => e instanceof StorageCorruptionError && /checksum mismatch/.test((e as Error).message));
  assert.throws(() => decodeCurrent('db/CURRENT', enc('garbage')), (e: unknown) => e instanceof StorageCorruptionError && /malformed/.test((e as Error).message));
});

M('versions keep level 0 newest first and refuse overlapping tables in deeper levels', () => {
  const f = (n: number, a: string, b: string) => newFileMeta(n, 100, 1, enc(a), enc(b));
  let v = Version.empty();
  v = v.apply({ ...emptyEdit(), added: [{ level: 0, file: f(3, 'a', 'z') }, { level: 0, file: f(7, 'b', 'c') }, { level: 1, file: f(5, 'm', 'p') }, { level: 1, file: f(4, 'a', 'c') }] });
  assert.equal(v.levels[0]?.map((x) => x.number), [7, 3]);
  assert.equal(v.levels[1]?.map((x) => x.number), [4, 5]);
  assert.is(v.findFile(1, enc('n'))?.number, 5);
  assert.is(v.findFile(1, enc('e')), null);
  assert.throws(() => v.apply({ ...emptyEdit(), added: [{ level: 1, file: f(9, 'b', 'n') }] }), /overlap/);
  assert.throws(() => v.apply({ ...emptyEdit(), deleted: [{ level: 2, number: 5 }] }), /not in level 2/);
});

M.run();
