import type { Clock } from './clock.js';
import type { Disk } from './disk.js';
import type { Logger } from './log.js';
import type { Net } from './net.js';
import type { Rng } from './rng.js';

/**
 * Everything a node may use to reach the outside world. A node gets one Env at construction and
 * touches nothing else: that is what lets the same code run on real machines and in the simulator.
 */
export interface Env {
  /** This node's id, also its network address. */
  readonly id: string;
  readonly clock: Clock;
  readonly disk: Disk;
  readonly net: Net;
  readonly rng: Rng;
  readonly log: Logger;
  /**
   * Ends this node's process after a fatal error (a failed fsync, an unrecoverable log): a node
   * that cannot keep its promises must not go on serving. A supervisor may restart it; it then
   * recovers from what is really on disk. Absent: the caller just stops serving.
   */
  readonly exit?: (reason: string) => void;
}

export type { Clock, Timer } from './clock.js';
export type { Disk, DiskFile, OpenMode, SyncCallback, DiskErrorCode } from './disk.js';
export { DiskError, isDiskError, dirname, joinPath } from './disk.js';
export type { Net, Address, ReceiveHandler } from './net.js';
export { FRAME_BYTES_MAX } from './net.js';
export type { Rng } from './rng.js';
export { SeededRng } from './rng.js';
export type { Logger, LogLevel, LogFields } from './log.js';
export { silentLogger } from './log.js';
