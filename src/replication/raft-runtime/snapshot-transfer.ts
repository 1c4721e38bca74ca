import type { Env } from '../../env/env.js';
import { joinPath } from '../../env/disk.js';
import type { DiskFile } from '../../env/disk.js';
import { assert } from '../../util/assert.js';
import { JsonParseError, parseJson } from '../../util/json-parse.js';
import type { NodeId, Snapshot, SnapshotMeta, Term } from '../raft/types.js';
import { decodeSnapshotRef, encodeSnapshotRef, SNAPSHOT_SYNC_BYTES, snapshotFileName, SnapshotFileReader, SnapshotStreamCheck } from './snapshot-file.js';

/**
 * Snapshots between members, streamed in bounded chunks (as etcd and TiKV send theirs): the Raft
 * core says "send this snapshot to n3" (a MsgSnap whose data names a file, snapshot-file.ts); the
 * runtime does not put the state in one message — a 448 MB state made a frame over the 64 MiB
 * limit and every leader in turn exited (issue 16, item 4) — but streams the file:
 *
 *   leader                                      follower
 *   chunk {term, index, snapTerm, total,        appends it to its partial file (<name>.<n>.part)
 *          offset, bytes}  (a window of them)    if it starts where what it holds ends, checks
 *                                               blocks as they complete (SnapshotStreamCheck),
 *                                               answers
 *   <- ack {have}                               how much it holds
 *   ... until have = total: the follower fsyncs the file, renames it into place, fsyncs the
 *   directory, and only then hands the core a MsgSnap naming it (the core installs it through
 *   the Ready contract, as it would any snapshot)     ack {done} ->
 *
 * - Resumable: a follower keeps its partial file across a cut connection and answers a chunk that
 *   does not start where it holds with how much it holds; the leader goes on from there. A chunk
 *   with no bytes is a probe for that answer. (A follower that restarts starts the file again.)
 * - Go-back-N: a lost chunk shows as an answer that does not move; the leader resends from what
 *   the follower holds (at once for the first such answer, then at each timeout), and gives up
 *   after retriesMax timeouts without progress. The core asks again later; the follower's partial
 *   file lets that transfer resume.
 * - Bounded: chunkBytes per frame (1 MiB: far below FRAME_BYTES_MAX), windowChunks in flight per
 *   follower, one transfer per follower, one incoming transfer per node.
 * - Atomic for the follower: its state and log change only when the core installs a complete,
 *   verified, durable file; a crash before that leaves them as they were (the partial file is a
 *   temporary, removed at the next start).
 */

export interface TransferOptions {
  /** Bytes of file per chunk message. */
  chunkBytes: number;
  /** Chunks a leader sends beyond what a follower has acknowledged. */
  windowChunks: number;
  /** A leader resends from the follower's acknowledged offset after this long without progress, */
  timeoutMs: number;
  /** and gives up after this many such timeouts in a row. */
  retriesMax: number;
  /** A follower drops a partial file no leader has added to for this long. */
  idleMs: number;
  /** A follower starts an fsync of the partial file every this many bytes (SNAPSHOT_SYNC_BYTES). */
  syncBytes: number;
}

export const DEFAULT_TRANSFER_OPTIONS: TransferOptions = { chunkBytes: 1024 * 1024, windowChunks: 4, timeoutMs: 2_000, retriesMax: 10, idleMs: 120_000, syncBytes: SNAPSHOT_SYNC_BYTES };

/** First byte of a binary chunk frame (0x00 is a binary Raft append; JSON starts with '{'). */
export const SNAPSHOT_CHUNK_FRAME = 0x01;

/** Identifies one snapshot being transferred, and the leader term it is sent in. */
export interface ChunkHeader {
  kind: 'snapchunk';
  /** The sender's term (a follower ignores chunks from an older one). */
  term: Term;
  index: number;
  snapTerm: Term;
  /** The whole file's size. */
  total: number;
  /** Where in the file these bytes go. */
  offset: number;
}

export interface SnapshotAck {
  kind: 'snapack';
  term: Term;
  index: number;
  snapTerm: Term;
  /** Bytes the follower holds from the start of the file. */
  have: number;
  /** The follower holds the whole snapshot (received, or already covered by its log). */
  done: boolean;
}

/** A chunk frame or an ack frame that does not decode: the frame is dropped. */
export class TransferCodecError extends Error {
  override name = 'TransferCodecError';
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });
const CHUNK_HEADER_BYTES_MAX = 1024;

export function encodeChunkFrame(h: ChunkHeader, data: Uint8Array): Uint8Array {
  const header = encoder.encode(JSON.stringify(h));
  const out = new Uint8Array(5 + header.length + data.length);
  out[0] = SNAPSHOT_CHUNK_FRAME;
  new DataView(out.buffer).setUint32(1, header.length);
  out.set(header, 5);
  out.set(data, 5 + header.length);
  return out;
}

/** A chunk frame's header and bytes (a view into the frame). Throws TransferCodecError. */
export function decodeChunkFrame(frame: Uint8Array): { header: ChunkHeader; data: Uint8Array } {
  if (frame.length < 5 || frame[0] !== SNAPSHOT_CHUNK_FRAME) throw new TransferCodecError('not a snapshot chunk frame');
  const n = new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(1);
  if (n > CHUNK_HEADER_BYTES_MAX || frame.length - 5 < n) throw new TransferCodecError(`chunk header of ${n} bytes in a frame of ${frame.length}`);
  let h: Record<string, unknown>;
  try {
    h = parseJson(decoder.decode(frame.subarray(5, 5 + n)), 'chunk header', 2) as Record<string, unknown>;
  } catch (err) {
    throw new TransferCodecError((err as Error).message);
  }
  const header = checkFields(h, 'snapchunk', ['term', 'index', 'snapTerm', 'total', 'offset']) as unknown as ChunkHeader;
  const data = frame.subarray(5 + n);
  if (header.offset + data.length > header.total) throw new TransferCodecError(`chunk at ${header.offset} of ${data.length} bytes runs past the file's ${header.total}`);
  return { header, data };
}

export function decodeAck(body: Record<string, unknown>): SnapshotAck {
  const ack = checkFields(body, 'snapack', ['term', 'index', 'snapTerm', 'have']);
  if (typeof ack.done !== 'boolean') throw new TransferCodecError('snapack without done');
  return ack as unknown as SnapshotAck;
}

function checkFields(v: unknown, kind: string, counts: string[]): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || (v as { kind?: unknown }).kind !== kind) throw new TransferCodecError(`not a ${kind}`);
  const o = v as Record<string, unknown>;
  for (const f of counts) if (!Number.isSafeInteger(o[f]) || (o[f] as number) < 0) throw new TransferCodecError(`${kind}: ${f} must be a non-negative integer`);
  return o;
}

/** What a transfer needs of the runtime around it. */
export interface TransferDeps {
  env: Env;
  /** The directory of snapshot files. */
  snapDir: string;
  send(to: NodeId, frame: Uint8Array): void;
  pin(file: string): void;
  unpin(file: string): void;
}

// ---------------------------------------------------------------- the leader's side

/** One snapshot on its way to one follower. */
export class SnapshotSender {
  private readonly reader: SnapshotFileReader;
  private readonly file: string;
  private readonly total: number;
  /** Bytes the follower holds (its last answer), and bytes sent (resent from `acked` after a loss). */
  private acked = 0;
  private sent = 0;
  private lastRewindAt = -1;
  private lastProgressMs: number;
  private retries = 0;
  private readonly startedMs: number;
  finished: 'no' | 'done' | 'gave up' = 'no';

  /** Opens the file; throws if it cannot be read as format 2 (a format 1 file is not streamed). */
  constructor(
    private readonly deps: TransferDeps,
    readonly to: NodeId,
    readonly term: Term,
    readonly snapshot: Snapshot,
    private readonly options: TransferOptions,
  ) {
    const ref = decodeSnapshotRef(snapshot.data);
    assert(ref !== null, () => `sending snapshot ${snapshot.meta.index} without a file`);
    this.file = ref.file;
    this.reader = SnapshotFileReader.open(deps.env.disk, deps.snapDir, ref.file);
    if (this.reader.version !== 2) {
      this.reader.close();
      throw new Error(`${ref.file} is a format ${this.reader.version} snapshot file, which is not streamed`);
    }
    this.total = this.reader.bytes;
    deps.pin(this.file);
    this.lastProgressMs = deps.env.clock.monotonicMs();
    this.startedMs = this.lastProgressMs;
    // A probe first: a follower that kept part of this file from a cut transfer says how much.
    this.sendChunk(0, 0);
  }

  get index(): number {
    return this.snapshot.meta.index;
  }

  private sendChunk(offset: number, length: number): void {
    const data = length === 0 ? new Uint8Array(0) : this.reader.readRaw(offset, length);
    assert(data.length === length, () => `snapshot ${this.file} is shorter than its ${this.total} bytes`);
    const m = this.snapshot.meta;
    this.deps.send(this.to, encodeChunkFrame({ kind: 'snapchunk', term: this.term, index: m.index, snapTerm: m.term, total: this.total, offset }, data));
  }

  /** Sends what the window allows. */
  private fill(): void {
    const windowBytes = this.options.windowChunks * this.options.chunkBytes;
    while (this.sent < this.total && this.sent - this.acked < windowBytes) {
      const n = Math.min(this.options.chunkBytes, this.total - this.sent);
      this.sendChunk(this.sent, n);
      this.sent += n;
    }
  }

  onAck(ack: SnapshotAck): void {
    if (this.finished !== 'no' || ack.index !== this.snapshot.meta.index || ack.snapTerm !== this.snapshot.meta.term) return;
    if (ack.done) return this.finish('done');
    if (ack.have > this.total) return;
    if (ack.have !== this.acked) {
      // Progress; or less than before, from a follower that restarted and began the file again.
      if (ack.have < this.acked || this.sent < ack.have) this.sent = ack.have;
      this.acked = ack.have;
      this.retries = 0;
      this.lastProgressMs = this.deps.env.clock.monotonicMs();
    } else if (ack.have < this.sent && ack.have !== this.lastRewindAt) {
      // No progress while more is in flight: the chunk at `have` was lost or overtaken. Resend
      // from there, once per position (later answers of the same kind are for the same loss).
      this.lastRewindAt = ack.have;
      this.sent = ack.have;
    }
    this.fill();
  }

  /** Called at every tick: resends after a timeout, gives up after retriesMax of them. */
  tick(): void {
    if (this.finished !== 'no') return;
    if (this.deps.env.clock.monotonicMs() - this.lastProgressMs < this.options.timeoutMs) return;
    if (++this.retries > this.options.retriesMax) return this.finish('gave up');
    this.lastProgressMs = this.deps.env.clock.monotonicMs();
    this.sent = this.acked;
    this.lastRewindAt = -1;
    this.sendChunk(this.acked, 0);
    this.fill();
  }

  finish(how: 'done' | 'gave up'): void {
    if (this.finished !== 'no') return;
    this.finished = how;
    this.reader.close();
    this.deps.unpin(this.file);
    this.deps.env.log.log(how === 'done' ? 'info' : 'warn', how === 'done' ? 'raft.snapshot_sent' : 'raft.snapshot_send_failed', { to: this.to, index: this.snapshot.meta.index, bytes: this.total, acked: this.acked, ms: Math.round(this.deps.env.clock.monotonicMs() - this.startedMs) });
  }
}

// ---------------------------------------------------------------- the follower's side

/** A snapshot this node receives: where it is written, and what has been checked. */
interface Incoming {
  from: NodeId;
  header: ChunkHeader;
  /** The file's final name, and the partial file's while it arrives. */
  name: string;
  part: string;
  file: DiskFile;
  check: SnapshotStreamCheck;
  have: number;
  lastMs: number;
  /** The file is complete and being made durable: chunks are only answered. */
  closing: boolean;
  /** Bytes appended since the last fsync was started, and whether one is running. */
  unsynced: number;
  syncing: boolean;
  /** What waits for the running fsync to end (the final one, or closing an abandoned file). */
  afterSync: (() => void) | null;
}

export interface ReceiverHooks {
  /** The current term and commit index (chunks from older terms, snapshots already covered, are not taken). */
  term(): Term;
  commitIndex(): number;
  /**
   * Whether the disk has room for a snapshot file of this many bytes besides its reserve: if not,
   * chunks are not answered (the leader retries, and gives up), rather than filling the disk.
   */
  hasRoomFor(bytes: number): boolean;
  /** A complete, verified, durable snapshot file from `from`, sent in `term`. */
  received(from: NodeId, term: Term, snapshot: Snapshot): void;
  /** The file could not be written or made durable. */
  failed(err: Error): void;
}

export class SnapshotReceiver {
  private incoming: Incoming | null = null;
  /**
   * A received file between its fsync and its hand-over (the rename and the directory's fsync).
   * Chunks of that same snapshot meanwhile are not a new transfer: a second copy would be renamed
   * to the same name, and whichever the runtime is done with first is removed under the other
   * (shards/rot seed 32: a repair installed the first and dropped the file, and the second, handed
   * to the core, named a file that was gone).
   */
  private handing: Incoming | null = null;
  /** Transfers begun, numbering their partial files. */
  private transfers = 0;

  constructor(
    private readonly deps: TransferDeps,
    private readonly hooks: ReceiverHooks,
    private readonly options: TransferOptions,
  ) {}

  onChunk(from: NodeId, header: ChunkHeader, data: Uint8Array): void {
    if (header.term < this.hooks.term()) return;
    const ack = (have: number, done: boolean) => {
      const body: SnapshotAck = { kind: 'snapack', term: header.term, index: header.index, snapTerm: header.snapTerm, have, done };
      this.deps.send(from, encoder.encode(JSON.stringify(body)));
    };
    if (header.index <= this.hooks.commitIndex()) {
      // Our log already holds what the snapshot covers (we installed it, or caught up).
      this.abandon(null);
      return ack(header.total, true);
    }
    const h = this.handing;
    // (Whoever sends it: another leader's copy of the same snapshot gets the same name.)
    if (h !== null && h.header.index === header.index && h.header.snapTerm === header.snapTerm) return;
    let cur = this.incoming;
    if ((cur === null || cur.header.index !== header.index) && !this.hooks.hasRoomFor(header.total)) {
      this.deps.env.log.log('warn', 'raft.snapshot_no_room', { from, index: header.index, bytes: header.total });
      return;
    }
    if (cur === null || cur.from !== from || cur.header.index !== header.index || cur.header.snapTerm !== header.snapTerm || cur.header.total !== header.total) {
      if (cur !== null && cur.closing) return;
      this.abandon(cur === null ? null : 'a newer snapshot arrived');
      cur = this.begin(from, header);
      if (cur === null) return;
    }
    cur.lastMs = this.deps.env.clock.monotonicMs();
    if (cur.closing || data.length === 0 || header.offset !== cur.have) return ack(cur.have, false);
    try {
      cur.check.update(data);
      cur.file.append(data);
    } catch (err) {
      this.deps.env.log.log('error', 'raft.snapshot_receive_failed', { from, index: header.index, at: cur.have, error: (err as Error).message });
      this.abandon('its bytes do not verify or cannot be written');
      return;
    }
    cur.have += data.length;
    cur.unsynced += data.length;
    if (cur.have === header.total) return this.whenSynced(cur, () => this.complete(cur, () => ack(header.total, true)));
    // Every SNAPSHOT_SYNC_BYTES an fsync starts (see there), one at a time, and the stream goes
    // on: it only keeps dirty pages from piling up; the fsync at the end is what makes the file
    // durable. (Waiting for each one made a loaded disk the transfer's pace: 1.7 MB/s.)
    if (cur.unsynced >= this.options.syncBytes && !cur.syncing) {
      cur.syncing = true;
      cur.unsynced = 0;
      cur.file.sync((err) => {
        cur.syncing = false;
        const next = cur.afterSync;
        cur.afterSync = null;
        if (err !== null && this.incoming === cur) return this.hooks.failed(err);
        next?.();
      });
    }
    ack(cur.have, false);
  }

  private begin(from: NodeId, header: ChunkHeader): Incoming | null {
    // A copy received from a leader is named apart from one this node may have made itself at the
    // same position (its own log names that one).
    const name = snapshotFileName(header.index, header.snapTerm).replace(/\.snap$/, '-r.snap');
    // Each transfer writes a partial file of its own: an abandoned one's file is removed only once
    // its running fsync ends, by which time a new transfer of the same snapshot may have begun.
    const part = `${name}.${++this.transfers}.part`;
    const path = joinPath(this.deps.snapDir, part);
    try {
      const file = this.deps.env.disk.open(path, 'truncate');
      this.deps.env.log.log('info', 'raft.snapshot_receiving', { from, index: header.index, term: header.snapTerm, bytes: header.total });
      this.incoming = { from, header, name, part, file, check: new SnapshotStreamCheck(path, header.total), have: 0, lastMs: this.deps.env.clock.monotonicMs(), closing: false, unsynced: 0, syncing: false, afterSync: null };
      return this.incoming;
    } catch (err) {
      this.deps.env.log.log('error', 'raft.snapshot_receive_failed', { from, index: header.index, error: (err as Error).message });
      return null;
    }
  }

  /** Runs fn once no fsync of cur's file is running (at once if none is). */
  private whenSynced(cur: Incoming, fn: () => void): void {
    if (!cur.syncing) return fn();
    cur.closing = true;
    cur.afterSync = fn;
  }

  /** The whole file is in and verified so far: check its end, make it durable, rename it, hand it over. */
  private complete(cur: Incoming, acked: () => void): void {
    let meta: SnapshotMeta;
    try {
      meta = cur.check.finish();
      if (meta.index !== cur.header.index || meta.term !== cur.header.snapTerm) throw new Error(`the file holds index ${meta.index} term ${meta.term}, announced ${cur.header.index} ${cur.header.snapTerm}`);
    } catch (err) {
      this.deps.env.log.log('error', 'raft.snapshot_receive_failed', { from: cur.from, index: cur.header.index, error: (err as Error).message });
      cur.closing = false; // (set while waiting for an fsync) so that abandon removes the file
      this.abandon('it does not verify');
      return;
    }
    cur.closing = true;
    cur.file.sync((err) => {
      cur.file.close();
      if (this.incoming !== cur) return;
      this.incoming = null;
      if (err !== null) return this.hooks.failed(err);
      const dir = this.deps.snapDir;
      try {
        this.deps.env.disk.rename(joinPath(dir, cur.part), joinPath(dir, cur.name));
      } catch (e) {
        return this.hooks.failed(e as Error);
      }
      this.handing = cur;
      this.deps.env.disk.syncDir(dir, (e) => {
        if (this.handing === cur) this.handing = null;
        if (e !== null) return this.hooks.failed(e);
        this.deps.env.log.log('info', 'raft.snapshot_received', { from: cur.from, index: meta.index, bytes: cur.header.total });
        acked();
        this.hooks.received(cur.from, cur.header.term, { meta, data: encodeSnapshotRef({ file: cur.name, bytes: cur.header.total }) });
      });
    });
  }

  /** Drops the partial file (why null: quietly). */
  abandon(why: string | null): void {
    const cur = this.incoming;
    if (cur === null || cur.closing) return;
    this.incoming = null;
    if (why !== null) this.deps.env.log.log('warn', 'raft.snapshot_abandoned', { from: cur.from, index: cur.header.index, have: cur.have, why });
    this.whenSynced(cur, () => {
      cur.file.close();
      try {
        this.deps.env.disk.remove(joinPath(this.deps.snapDir, cur.part));
      } catch {
        // removeTemporaries takes it at the next start.
      }
    });
  }

  /** Called at every tick: a partial file no leader has added to for idleMs goes. */
  tick(): void {
    const cur = this.incoming;
    if (cur !== null && !cur.closing && this.deps.env.clock.monotonicMs() - cur.lastMs > this.options.idleMs) this.abandon('no chunk for too long');
  }

  /** Who sends the snapshot being received, if one is. */
  receivingFrom(): NodeId | null {
    return this.incoming?.from ?? null;
  }

  /** How far an incoming snapshot has come, for status and tests. */
  progress(): { index: number; have: number; total: number } | null {
    const cur = this.incoming;
    return cur === null ? null : { index: cur.header.index, have: cur.have, total: cur.header.total };
  }
}

/** Checks a decoded ack body from a peer; null if it is not one. */
export function ackOf(body: Record<string, unknown>): SnapshotAck | null {
  try {
    return decodeAck(body);
  } catch (err) {
    if (err instanceof TransferCodecError || err instanceof JsonParseError) return null;
    throw err;
  }
}
