import type { Disk } from '../../env/disk.js';
import { crc32c } from '../../storage/util/crc32c.js';
import { assert } from '../../util/assert.js';
import type { HardState } from '../raft/types.js';
import { writeWholeFile } from '../../storage/whole-file.js';

/**
 * The Raft hard state's term and vote in two small checksummed files beside the log,
 * `hardstate-a` and `hardstate-b`, each a whole copy. Whenever the term or the vote changes, both
 * are overwritten and fsynced in parallel with the log's HARD record (a third copy), and a vote
 * is promised only once all three are durable: one round of fsyncs, as before the copies, paid
 * only at elections. So the newest promised state is on disk three times, and any two rotten
 * copies leave an intact one: the member never forgets a vote it gave (it would vote twice in
 * that term: two leaders). A crash mid-write tears at most copies of a state not yet promised,
 * and the log's earlier record still holds the one before; the next start writes the copies
 * again, one after the other, before the member takes part. Only if no copy is left intact does
 * it not know its term and vote: it then takes no part in the protocol at all (RaftRuntime's
 * `mute`), loudly, until an operator replaces it. The commit index, which changes at every
 * Ready, is not what these files are for (it is re-learnt from the leader) and is written only
 * along with a term or vote.
 *
 * Format (text, for an operator's eyes): `kvhs1 <crc32c of the JSON, 8 hex digits> <JSON>\n`,
 * the JSON `{"term":…,"vote":…,"commit":…}`. At most HARD_STATE_FILE_BYTES.
 */

export const HARD_STATE_FILES = ['hardstate-a', 'hardstate-b'] as const;
export const HARD_STATE_FILE_BYTES = 4096;
const MAGIC = 'kvhs1';

/** What one copy holds: its state, or why it is not usable. */
export type HardStateCopy = { file: string; state: HardState } | { file: string; state: null; problem: 'absent' | string };

export function encodeHardState(hs: HardState): Uint8Array {
  const json = JSON.stringify({ term: hs.term, vote: hs.vote, commit: hs.commit });
  const crc = crc32c(new TextEncoder().encode(json)).toString(16).padStart(8, '0');
  const out = new TextEncoder().encode(`${MAGIC} ${crc} ${json}\n`);
  assert(out.length <= HARD_STATE_FILE_BYTES, () => `a hard state of ${out.length} bytes`);
  return out;
}

/** The state in a copy's bytes, or a string saying why there is none. */
export function decodeHardState(bytes: Uint8Array): HardState | string {
  if (bytes.length > HARD_STATE_FILE_BYTES) return `${bytes.length} bytes, more than ${HARD_STATE_FILE_BYTES}`;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return 'not UTF-8';
  }
  const m = /^kvhs1 ([0-9a-f]{8}) (\{[^\n]*\})\n$/.exec(text);
  if (m === null) return 'not a hard state record (torn or rotten)';
  const [, crc, json] = m as unknown as [string, string, string];
  if (crc32c(new TextEncoder().encode(json)).toString(16).padStart(8, '0') !== crc) return 'checksum mismatch';
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return 'checksum matches but the JSON does not parse';
  }
  const o = v as Record<string, unknown>;
  const term = o.term;
  const commit = o.commit;
  if (!Number.isSafeInteger(term) || (term as number) < 0 || !Number.isSafeInteger(commit) || (commit as number) < 0 || (o.vote !== null && typeof o.vote !== 'string')) return 'fields out of range';
  return { term: term as number, vote: o.vote as string | null, commit: commit as number };
}

/** Both copies as found under dir. */
export function readHardStateCopies(disk: Disk, dir: string): HardStateCopy[] {
  return HARD_STATE_FILES.map((name) => {
    const file = `${dir}/${name}`;
    if (!disk.exists(file)) return { file, state: null, problem: 'absent' };
    let bytes: Uint8Array;
    try {
      bytes = disk.readFile(file);
    } catch (err) {
      return { file, state: null, problem: (err as Error).message };
    }
    const d = decodeHardState(bytes);
    return typeof d === 'string' ? { file, state: null, problem: d } : { file, state: d };
  });
}

/**
 * The newest of several hard states: the highest term; within a term a vote given beats none (a
 * vote is only ever given once per term, so two different votes in one term cannot be durable,
 * and is asserted); then the highest commit.
 */
export function newestHardState(states: readonly HardState[]): HardState | null {
  let best: HardState | null = null;
  for (const s of states) {
    if (best === null || s.term > best.term) {
      best = s;
      continue;
    }
    if (s.term < best.term) continue;
    const b: HardState = best;
    const c: HardState = s;
    assert(b.vote === null || c.vote === null || b.vote === c.vote, () => `two votes in term ${c.term}: ${b.vote} and ${c.vote}`);
    best = { term: b.term, vote: b.vote ?? c.vote, commit: Math.max(b.commit, c.commit) };
  }
  return best;
}

/**
 * Writes hs to the copies named by their indexes (both by default) in turn, each made durable
 * before the next (and their names, when new).
 */
export function writeHardStateCopies(disk: Disk, dir: string, hs: HardState, done: (err: Error | null) => void, which: readonly number[] = [0, 1]): void {
  assert(which.every((i) => HARD_STATE_FILES[i] !== undefined), () => `no hard state copy ${which.join(',')}`);
  const bytes = encodeHardState(hs);
  // One fsync of the directory after the files, if any of their names is new.
  let created = false;
  const writeOne = (k: number): void => {
    const i = which[k];
    if (i === undefined) return created ? disk.syncDir(dir, (e) => done(e)) : done(null);
    const path = `${dir}/${HARD_STATE_FILES[i] as string}`;
    created ||= !disk.exists(path);
    writeWholeFile(disk, path, bytes, 'never', (err) => (err !== null ? done(err) : writeOne(k + 1)));
  };
  writeOne(0);
}
