import type { Clock } from '../env/clock.js';
import type { Disk, DiskFile, OpenMode, SyncCallback } from '../env/disk.js';
import { joinPath } from '../env/disk.js';
import type { Env } from '../env/env.js';
import type { Address, Net, ReceiveHandler } from '../env/net.js';
import { assert } from '../util/assert.js';

/**
 * The Env one shard's Raft group runs on inside a node: the node's clock and log, its own stream
 * of randomness, its own directory under the node's disk (`shards/<i>/`), and a Net that wraps
 * every frame it sends in a shard envelope, so that the receiving node hands the frame to the same
 * shard's replica. The group's code (RaftReplica, RaftRuntime, the engine) is the single-group
 * code, unchanged: it sees an ordinary Env.
 *
 * Envelope: [SHARD_FRAME, shard id as u32 big-endian, the group's own frame]. The group's frame
 * keeps its own first byte (binary Raft, snapshot chunk or JSON), so the node decodes it after
 * unwrapping exactly as it decodes an unsharded frame.
 */
export const SHARD_FRAME = 0x02;
export const SHARD_HEADER_BYTES = 5;

export function wrapShardFrame(shard: number, frame: Uint8Array): Uint8Array {
  assert(Number.isInteger(shard) && shard >= 0 && shard <= 0xffff_ffff, () => `bad shard id ${shard}`);
  const out = new Uint8Array(SHARD_HEADER_BYTES + frame.length);
  out[0] = SHARD_FRAME;
  new DataView(out.buffer).setUint32(1, shard);
  out.set(frame, SHARD_HEADER_BYTES);
  return out;
}

/** The shard and the inner frame, or null for a frame too short to be an envelope. */
export function unwrapShardFrame(frame: Uint8Array): { shard: number; inner: Uint8Array } | null {
  if (frame.length <= SHARD_HEADER_BYTES || frame[0] !== SHARD_FRAME) return null;
  const shard = new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(1);
  return { shard, inner: frame.subarray(SHARD_HEADER_BYTES) };
}

/** The directory of shard i's files under the node's data directory. */
export function shardDir(shard: number): string {
  return `shards/${shard}`;
}

/**
 * Shard i's Env; `clock` replaces the node's (coalesced ticks, tick-coalescer.ts), and `send`
 * the envelope's own sending (coalesced messages, shard-outbox.ts).
 */
export function shardEnv(env: Env, shard: number, clock: Clock = env.clock, send?: (to: Address, frame: Uint8Array) => void): Env {
  return {
    id: env.id,
    clock,
    disk: new ScopedDisk(env.disk, shardDir(shard)),
    net: new ShardNet(env.net, shard, send ?? null),
    rng: env.rng.fork(`shard/${shard}`),
    log: { log: (level, event, fields) => env.log.log(level, event, { shard, ...fields }) },
    ...(env.exit !== undefined ? { exit: env.exit } : {}),
  };
}

/** Sends through the node's Net in envelopes; receiving is the node's (it unwraps and dispatches). */
class ShardNet implements Net {
  constructor(
    private readonly net: Net,
    private readonly shard: number,
    private readonly sendVia: ((to: Address, frame: Uint8Array) => void) | null,
  ) {}

  get self(): Address {
    return this.net.self;
  }

  send(to: Address, frame: Uint8Array): void {
    if (this.sendVia !== null) this.sendVia(to, frame);
    else this.net.send(to, wrapShardFrame(this.shard, frame));
  }

  onReceive(_handler: ReceiveHandler): void {
    assert(false, 'a shard group receives through its node, not its own handler');
  }

  close(): void {
    // The node's Net is the node's to close.
  }
}

/** The node's disk seen from a directory: every path is relative to it. Space is the whole disk's. */
class ScopedDisk implements Disk {
  constructor(
    private readonly disk: Disk,
    private readonly root: string,
  ) {
    disk.mkdir(root);
  }

  private at(path: string): string {
    return joinPath(this.root, path);
  }

  open(path: string, mode: OpenMode): DiskFile {
    return this.disk.open(this.at(path), mode);
  }

  exists(path: string): boolean {
    return this.disk.exists(this.at(path));
  }

  list(dir: string): string[] {
    return this.disk.list(this.at(dir));
  }

  mkdir(dir: string): void {
    this.disk.mkdir(this.at(dir));
  }

  rename(from: string, to: string): void {
    this.disk.rename(this.at(from), this.at(to));
  }

  remove(path: string): void {
    this.disk.remove(this.at(path));
  }

  syncDir(dir: string, done: SyncCallback): void {
    this.disk.syncDir(this.at(dir), done);
  }

  readFile(path: string): Uint8Array {
    return this.disk.readFile(this.at(path));
  }

  usage(): { usedBytes: number; capacityBytes: number | null } {
    return this.disk.usage();
  }
}
