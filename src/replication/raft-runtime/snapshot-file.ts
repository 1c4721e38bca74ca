import type { Disk, DiskFile } from '../../env/disk.js';
import { isDiskError, joinPath } from '../../env/disk.js';
import { StorageCorruptionError } from '../../storage/errors.js';
import { crc32c, crc32cUpdate } from '../../storage/util/crc32c.js';
import { assert } from '../../util/assert.js';
import { JsonParseError, parseJson } from '../../util/json-parse.js';
import type { Membership, Snapshot, SnapshotMeta } from '../raft/types.js';

/**
 * Snapshot files: the state machine at one log position, as the Raft runtime keeps it on disk,
 * written and read a block at a time so that no state, however large, is ever held in one buffer.
 *
 * Format 2 (written since issue 16; etcd and TiKV likewise stream snapshots in pieces):
 *
 *   "KVLSNAP2"                    8 bytes magic
 *   block*                        u32 BE n (1 <= n <= BLOCK_BYTES_MAX), u32 BE CRC32C of the
 *                                 payload, n bytes of payload (the state machine's, opaque here)
 *   u32 0                         end of the blocks
 *   footer                        JSON {"headerVersion": 2, "index", "term", "membership", "blocks", "dataBytes"}
 *   u32 BE footer length, u32 BE CRC32C of the footer, "KVLSNAP2"     (the 16-byte trailer)
 *
 * The meta sits at the end because it is known once the blocks are written; a reader finds it
 * from the trailer. Every block carries its own checksum, so a reader — restoring a state, or
 * receiving a file from a leader (SnapshotStreamCheck) — verifies as it goes and never hands on a
 * byte that did not verify.
 *
 * Format 1 (read only, from files written before): "KVLSNAP1", u32 header length, header JSON
 * {index, term, membership, dataBytes, dataCrc32c}, u32 CRC32C of the header, then the data as
 * one piece. Its reader hands the data out as one block.
 *
 * A file is written under a temporary name, fsynced, renamed into place and its directory
 * fsynced, so a crash leaves either the old set of snapshots or the new one, never half a file
 * under a final name. Names sort by position: snap-<index, 16 digits>-<term>.snap.
 *
 * What the Raft core holds as a snapshot's data is not the state but a SnapshotRef naming the
 * file (its name, size and CRC32C): the core never looks inside, and a 2 GB state stays on disk.
 */

const MAGIC_V1 = new TextEncoder().encode('KVLSNAP1');
const MAGIC_V2 = new TextEncoder().encode('KVLSNAP2');
const TRAILER_BYTES = 16;
/** The largest block a reader accepts: far above what writers make (SNAPSHOT_BLOCK_BYTES). */
export const BLOCK_BYTES_MAX = 16 * 1024 * 1024;
/** The largest footer a reader accepts (a membership of hundreds of members fits). */
export const FOOTER_BYTES_MAX = 64 * 1024;
/**
 * A snapshot being written or received is fsynced every this many bytes, not only at its end:
 * hundreds of megabytes of dirty pages made every other fsync of the node wait behind them (a
 * vote's took longer than an election timeout, and elections went round for minutes). RocksDB's
 * bytes_per_sync does the same for its files.
 */
export const SNAPSHOT_SYNC_BYTES = 8 * 1024 * 1024;
/** Temporaries: a file being written here, a file being received from a leader. */
const TMP_SUFFIXES = ['.tmp', '.part'];

export function snapshotFileName(index: number, term: number): string {
  return `snap-${String(index).padStart(16, '0')}-${term}.snap`;
}

// ---------------------------------------------------------------- the reference the core holds

/** Which file holds a snapshot's state, and its size: what Snapshot.data carries in the runtime. */
export interface SnapshotRef {
  file: string;
  bytes: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeSnapshotRef(ref: SnapshotRef): Uint8Array {
  return encoder.encode(JSON.stringify({ file: ref.file, bytes: ref.bytes }));
}

/** The file a snapshot's data names, or null for the empty snapshot (index 0). Throws on anything else. */
export function decodeSnapshotRef(data: Uint8Array): SnapshotRef | null {
  if (data.length === 0) return null;
  let text: string;
  try {
    text = decoder.decode(data);
  } catch {
    throw new JsonParseError('snapshot reference: not UTF-8', 'syntax');
  }
  const v = parseJson(text, 'snapshot reference', 2) as Partial<SnapshotRef> | null;
  if (v === null || typeof v !== 'object' || typeof v.file !== 'string' || !isSnapshotFileName(v.file) || !Number.isSafeInteger(v.bytes) || (v.bytes as number) < 0) {
    throw new JsonParseError('snapshot reference: not {file, bytes} naming a snapshot file', 'syntax');
  }
  return { file: v.file, bytes: v.bytes as number };
}

/** A final snapshot file name (what a peer or a log record may name: no paths, no temporaries). */
export function isSnapshotFileName(name: string): boolean {
  return /^snap-\d{16}-\d{1,16}(-r)?\.snap$/.test(name);
}

// ---------------------------------------------------------------- writing

/**
 * Writes a snapshot file a block at a time: create() opens a temporary, addBlock() appends (the
 * caller yields between blocks as it likes), finish() makes it durable under its final name.
 */
export class SnapshotFileWriter {
  private size = 0;
  /** Bytes appended since the last fsync (see SNAPSHOT_SYNC_BYTES). */
  unsyncedBytes = 0;
  private blocks = 0;
  private dataBytes = 0;
  private done = false;

  private constructor(
    private readonly disk: Disk,
    private readonly dir: string,
    private readonly name: string,
    private readonly file: DiskFile,
  ) {}

  /** Starts the file for a snapshot at meta (its final name is known from meta). Throws DiskError. */
  static create(disk: Disk, dir: string, index: number, term: number): SnapshotFileWriter {
    const name = snapshotFileName(index, term);
    const w = new SnapshotFileWriter(disk, dir, name, disk.open(joinPath(dir, `${name}.tmp`), 'truncate'));
    w.write(MAGIC_V2);
    return w;
  }

  private write(bytes: Uint8Array): void {
    this.file.append(bytes);
    this.size += bytes.length;
    this.unsyncedBytes += bytes.length;
  }

  /** Makes what was appended so far durable (the caller waits before adding more). */
  sync(done: (err: Error | null) => void): void {
    assert(!this.done, 'snapshot writer: sync after finish');
    this.unsyncedBytes = 0;
    this.file.sync(done);
  }

  /** Appends one block of state. Throws DiskError (ENOSPC…). */
  addBlock(payload: Uint8Array): void {
    assert(!this.done, 'snapshot writer: a block after finish');
    assert(payload.length >= 1 && payload.length <= BLOCK_BYTES_MAX, () => `snapshot block of ${payload.length} bytes`);
    const head = new Uint8Array(8);
    const view = new DataView(head.buffer);
    view.setUint32(0, payload.length);
    view.setUint32(4, crc32c(payload));
    this.write(head);
    this.write(payload);
    this.blocks++;
    this.dataBytes += payload.length;
  }

  /** Ends the file with meta, fsyncs it, renames it into place; done with its reference. */
  finish(meta: SnapshotMeta, done: (err: Error | null, ref?: SnapshotRef) => void): void {
    assert(!this.done, 'snapshot writer: finished twice');
    this.done = true;
    const footer = encoder.encode(JSON.stringify({ headerVersion: 2, index: meta.index, term: meta.term, membership: meta.membership, blocks: this.blocks, dataBytes: this.dataBytes }));
    assert(footer.length <= FOOTER_BYTES_MAX, () => `snapshot footer of ${footer.length} bytes`);
    const trailer = new Uint8Array(TRAILER_BYTES);
    new DataView(trailer.buffer).setUint32(0, footer.length);
    new DataView(trailer.buffer).setUint32(4, crc32c(footer));
    trailer.set(MAGIC_V2, 8);
    try {
      this.write(new Uint8Array(4));
      this.write(footer);
      this.write(trailer);
    } catch (err) {
      this.abort();
      return done(err as Error);
    }
    const ref: SnapshotRef = { file: this.name, bytes: this.size };
    this.file.sync((err) => {
      this.file.close();
      if (err !== null) return done(err);
      try {
        this.disk.rename(joinPath(this.dir, `${this.name}.tmp`), joinPath(this.dir, this.name));
      } catch (e) {
        return done(e as Error);
      }
      this.disk.syncDir(this.dir, (e) => done(e, ref));
    });
  }

  /** Gives up: the temporary goes (a crash leaves it for removeTemporaries instead). */
  abort(): void {
    this.done = true;
    this.file.close();
    try {
      this.disk.remove(joinPath(this.dir, `${this.name}.tmp`));
    } catch {
      // Already gone, or the disk refuses: removeTemporaries tries again at the next open.
    }
  }
}

// ---------------------------------------------------------------- reading

/**
 * A snapshot file open for reading: its meta (from the trailer, checked), then its blocks in
 * order, each verified before it is handed out. Throws StorageCorruptionError saying where.
 */
export class SnapshotFileReader {
  private at: number;

  private constructor(
    private readonly file: DiskFile,
    readonly path: string,
    readonly meta: SnapshotMeta,
    readonly version: 1 | 2,
    /** Where the blocks start and where they end (format 2: the u32 0 that ends them). */
    private readonly dataStart: number,
    private readonly dataEnd: number,
    private readonly v1Crc: number,
    /** The file's size in bytes. */
    readonly bytes: number,
  ) {
    this.at = dataStart;
  }

  static open(disk: Disk, dir: string, name: string): SnapshotFileReader {
    const path = joinPath(dir, name);
    const file = disk.open(path, 'read');
    try {
      return SnapshotFileReader.parse(file, path);
    } catch (err) {
      file.close();
      throw err;
    }
  }

  private static parse(file: DiskFile, path: string): SnapshotFileReader {
    const bad = (offset: number, why: string) => new StorageCorruptionError(path, offset, why);
    const size = file.size();
    const magic = file.read(0, 8);
    if (magic.length === 8 && MAGIC_V1.every((b, i) => magic[i] === b)) return SnapshotFileReader.parseV1(file, path, size);
    if (size < 8 + 4 + TRAILER_BYTES || !MAGIC_V2.every((b, i) => magic[i] === b)) throw bad(0, 'not a kv-lab snapshot (bad magic)');
    const trailer = file.read(size - TRAILER_BYTES, TRAILER_BYTES);
    const tv = new DataView(trailer.buffer, trailer.byteOffset, trailer.byteLength);
    if (!MAGIC_V2.every((b, i) => trailer[8 + i] === b)) throw bad(size - 8, 'no trailer (the file is cut short)');
    const footerBytes = tv.getUint32(0);
    const footerAt = size - TRAILER_BYTES - footerBytes;
    if (footerBytes > FOOTER_BYTES_MAX || footerAt < 12) throw bad(size - TRAILER_BYTES, `footer of ${footerBytes} bytes does not fit`);
    const footer = file.read(footerAt, footerBytes);
    if (crc32c(footer) !== tv.getUint32(4)) throw bad(footerAt, 'footer checksum mismatch');
    const end = file.read(footerAt - 4, 4);
    if (new DataView(end.buffer, end.byteOffset, 4).getUint32(0) !== 0) throw bad(footerAt - 4, 'blocks do not end before the footer');
    const meta = parseMeta(footer, path, footerAt);
    return new SnapshotFileReader(file, path, meta, 2, 8, footerAt - 4, 0, size);
  }

  private static parseV1(file: DiskFile, path: string, size: number): SnapshotFileReader {
    const bad = (offset: number, why: string) => new StorageCorruptionError(path, offset, why);
    if (size < 16) throw bad(0, 'not a kv-lab snapshot (cut short)');
    const h = new DataView(file.read(8, 4).buffer).getUint32(0);
    if (h > FOOTER_BYTES_MAX || 12 + h + 4 > size) throw bad(8, `header of ${h} bytes runs past the end of the file`);
    const header = file.read(12, h);
    if (new DataView(file.read(12 + h, 4).buffer).getUint32(0) !== crc32c(header)) throw bad(12, 'header checksum mismatch');
    const meta = parseMeta(header, path, 12);
    const raw = parseJson(decoder.decode(header), path, 4) as { dataBytes?: unknown; dataCrc32c?: unknown }; // parseMeta read it already
    if (raw.dataBytes !== size - 16 - h) throw bad(16 + h, `data is ${size - 16 - h} bytes, header says ${String(raw.dataBytes)}`);
    return new SnapshotFileReader(file, path, meta, 1, 16 + h, size, typeof raw.dataCrc32c === 'number' ? raw.dataCrc32c : -1, size);
  }

  /** Bytes of the file, from `offset`, for a transfer (not verified here: the receiver checks). */
  readRaw(offset: number, length: number): Uint8Array {
    assert(offset >= 0 && offset <= this.bytes, () => `snapshot read at ${offset} of ${this.bytes}`);
    return this.file.read(offset, length);
  }

  /** The next block of state, verified; null after the last. */
  nextBlock(): Uint8Array | null {
    const bad = (offset: number, why: string) => new StorageCorruptionError(this.path, offset, why);
    if (this.at >= this.dataEnd) return null;
    if (this.version === 1) {
      const data = this.file.read(this.at, this.dataEnd - this.at);
      if (crc32c(data) !== this.v1Crc) throw bad(this.at, 'data checksum mismatch');
      this.at = this.dataEnd;
      return data.length === 0 ? null : data;
    }
    if (this.dataEnd - this.at < 8) throw bad(this.at, 'a block header runs into the end of the blocks');
    const head = this.file.read(this.at, 8);
    const hv = new DataView(head.buffer, head.byteOffset, 8);
    const n = hv.getUint32(0);
    if (n < 1 || n > BLOCK_BYTES_MAX || this.at + 8 + n > this.dataEnd) throw bad(this.at, `block of ${n} bytes does not fit`);
    const payload = this.file.read(this.at + 8, n);
    if (payload.length !== n || crc32c(payload) !== hv.getUint32(4)) throw bad(this.at, 'block checksum mismatch');
    this.at += 8 + n;
    return payload;
  }

  close(): void {
    this.file.close();
  }
}

function parseMeta(bytes: Uint8Array, path: string, offset: number): SnapshotMeta {
  let m: { index?: unknown; term?: unknown; membership?: { voters?: unknown; learners?: unknown } };
  try {
    m = parseJson(decoder.decode(bytes), `snapshot meta of ${path}`, 4) as typeof m;
  } catch (err) {
    throw new StorageCorruptionError(path, offset, (err as Error).message);
  }
  const names = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
  if (typeof m !== 'object' || m === null || !Number.isSafeInteger(m.index) || (m.index as number) < 0 || !Number.isSafeInteger(m.term) || (m.term as number) < 0 || typeof m.membership !== 'object' || m.membership === null || !names(m.membership.voters) || !names(m.membership.learners)) {
    throw new StorageCorruptionError(path, offset, 'meta is not {index, term, membership}');
  }
  const membership: Membership = { voters: m.membership.voters as string[], learners: m.membership.learners as string[] };
  return { index: m.index as number, term: m.term as number, membership };
}

/** The snapshot a file holds, as the core keeps it: its meta (checked) and a reference to the file. */
export function loadSnapshotRef(disk: Disk, dir: string, name: string): Snapshot {
  const reader = SnapshotFileReader.open(disk, dir, name);
  reader.close();
  return { meta: reader.meta, data: encodeSnapshotRef({ file: name, bytes: reader.bytes }) };
}

// ---------------------------------------------------------------- receiving

/**
 * Checks a format 2 snapshot file as its bytes arrive, in order, in pieces of any size: every
 * block's checksum as soon as its last byte is in, the footer and trailer at the end. It keeps
 * no more than the footer: a 2 GB file is verified while it is received, with nothing to read
 * back. Throws StorageCorruptionError (path = where it is being received) saying what is wrong.
 */
export class SnapshotStreamCheck {
  private offset = 0;
  private phase: 'magic' | 'head' | 'payload' | 'tail' = 'magic';
  private head = new Uint8Array(8);
  private headHave = 0;
  private payloadLeft = 0;
  private payloadCrc = 0;
  private expectCrc = 0;
  private tail: Uint8Array | null = null;
  private tailHave = 0;
  meta: SnapshotMeta | null = null;

  constructor(
    private readonly path: string,
    /** The file's whole size, as the sender announced it. */
    private readonly total: number,
  ) {
    assert(Number.isSafeInteger(total) && total >= 0, 'snapshot stream: total must be a byte count');
  }

  /** Feeds the next bytes of the file. */
  update(bytes: Uint8Array): void {
    const bad = (why: string) => new StorageCorruptionError(this.path, this.offset, why);
    if (this.offset + bytes.length > this.total) throw bad(`more than the ${this.total} bytes announced`);
    let i = 0;
    while (i < bytes.length) {
      if (this.phase === 'tail') {
        const tail = this.tail as Uint8Array;
        const n = Math.min(bytes.length - i, tail.length - this.tailHave);
        tail.set(bytes.subarray(i, i + n), this.tailHave);
        this.tailHave += n;
        i += n;
        this.offset += n;
        continue;
      }
      if (this.phase === 'payload') {
        const n = Math.min(bytes.length - i, this.payloadLeft);
        this.payloadCrc = crc32cUpdate(this.payloadCrc, bytes, i, i + n);
        this.payloadLeft -= n;
        i += n;
        this.offset += n;
        if (this.payloadLeft === 0) {
          if (this.payloadCrc !== this.expectCrc) throw bad('block checksum mismatch');
          this.phase = 'head';
        }
        continue;
      }
      // magic (8 bytes) or a block head (8 bytes: its length and checksum, or a 0 that ends the blocks).
      const want = this.phase === 'magic' ? 8 : this.headHave < 4 ? 4 : 8;
      const n = Math.min(bytes.length - i, want - this.headHave);
      this.head.set(bytes.subarray(i, i + n), this.headHave);
      this.headHave += n;
      i += n;
      this.offset += n;
      if (this.headHave < want) continue;
      this.headStep(bad);
    }
  }

  private headStep(bad: (why: string) => StorageCorruptionError): void {
    const hv = new DataView(this.head.buffer);
    if (this.phase === 'magic') {
      if (!MAGIC_V2.every((b, j) => this.head[j] === b)) throw bad('not a kv-lab snapshot (bad magic)');
      this.phase = 'head';
      this.headHave = 0;
      return;
    }
    const n = hv.getUint32(0);
    if (this.headHave === 4 && n === 0) {
      // The end of the blocks: what is left is the footer and the trailer.
      const left = this.total - this.offset;
      if (left < TRAILER_BYTES || left > FOOTER_BYTES_MAX + TRAILER_BYTES) throw bad(`${left} bytes after the blocks`);
      this.tail = new Uint8Array(left);
      this.phase = 'tail';
      this.headHave = 0;
      return;
    }
    if (this.headHave < 8) return; // the checksum half of the head is still to come
    if (n > BLOCK_BYTES_MAX || this.offset + n > this.total) throw bad(`block of ${n} bytes does not fit`);
    this.expectCrc = hv.getUint32(4);
    this.payloadLeft = n;
    this.payloadCrc = 0;
    this.phase = 'payload';
    this.headHave = 0;
  }

  /** After the last byte: checks the footer and trailer; the meta they hold. */
  finish(): SnapshotMeta {
    const bad = (why: string) => new StorageCorruptionError(this.path, this.offset, why);
    if (this.offset !== this.total || this.phase !== 'tail' || this.tail === null || this.tailHave !== this.tail.length) throw bad('the file ends before its footer');
    const tail = this.tail;
    const tv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
    const footerBytes = tv.getUint32(tail.length - TRAILER_BYTES);
    if (!MAGIC_V2.every((b, j) => tail[tail.length - 8 + j] === b)) throw bad('no trailer');
    if (footerBytes !== tail.length - TRAILER_BYTES) throw bad(`footer of ${footerBytes} bytes, ${tail.length - TRAILER_BYTES} given`);
    const footer = tail.subarray(0, footerBytes);
    if (crc32c(footer) !== tv.getUint32(tail.length - 12)) throw bad('footer checksum mismatch');
    this.meta = parseMeta(footer, this.path, this.offset - tail.length);
    return this.meta;
  }
}

// ---------------------------------------------------------------- housekeeping

/**
 * Removes snapshot files older than `keep`, but for those in `pinned` (being sent to a follower).
 * A newer one — a snapshot installed from the leader while this compaction ran — stays: the log
 * names it. Temporaries stay too (one may be being written or received right now); those a crash
 * left behind go at the next open (removeTemporaries).
 */
export function removeOtherSnapshots(disk: Disk, dir: string, keep: string, pinned: ReadonlySet<string> = new Set()): void {
  for (const name of disk.list(dir)) {
    if (name === keep || !name.startsWith('snap-') || pinned.has(name)) continue;
    if (TMP_SUFFIXES.some((s) => name.endsWith(s)) || snapshotOrder(name) > snapshotOrder(keep)) continue;
    try {
      disk.remove(joinPath(dir, name));
    } catch (err) {
      if (!isDiskError(err, 'ENOENT')) throw err;
    }
  }
}

/** A snapshot file's position (index, then term) as one sortable string; a received copy sorts with its original. */
function snapshotOrder(name: string): string {
  return name.replace(/-r\.snap$/, '.snap');
}

/** Removes temporaries an interrupted save or transfer left behind. Call before anything saves. */
export function removeTemporaries(disk: Disk, dir: string): void {
  for (const name of disk.list(dir)) if (name.startsWith('snap-') && TMP_SUFFIXES.some((s) => name.endsWith(s))) disk.remove(joinPath(dir, name));
}
