import { assert } from './assert.js';

/**
 * Failpoints: named places in the code where the lab can stop a node at exactly the moment the
 * order of its steps matters — after a Ready is durable but before its messages leave, between
 * writing an SSTable and recording it in the manifest. A scenario arms one
 * (`kind: crash-at, point: raft.afterPersistBeforeSend`) and the simulator cuts the machine's
 * power the Nth time that node passes it, N drawn from the run's seed. The idea is etcd's gofail
 * (its robustness tests crash members at `raftBeforeSave`, `raftAfterSave`, ...), done without a
 * code generator: a call site is one function call.
 *
 * Cost when nothing is armed: one comparison with null. No handler is ever installed outside the
 * simulator, so a served node never does more than that.
 *
 * One handler serves the whole process; the simulator, which runs one event of one node at a
 * time, knows which node is running and decides what a hit means for it. A handler may throw (the
 * simulator throws FailpointCrash after cutting the power): the code after the call site then
 * does not run, as it would not on a machine that lost power there.
 */
export const FAILPOINTS = {
  'raft.beforePersist': 'a Ready was taken from the core; nothing of it is written yet',
  'raft.entriesWrittenBeforeHardState': 'a Ready\'s entries are in the log\'s page cache; its hard state record is not written yet',
  'raft.hardStateWritten': 'the hard state record is written; its fsync has not completed',
  'raft.afterPersistBeforeSend': 'a Ready is durable; none of its messages has left',
  'raft.afterSendBeforeApply': 'a Ready\'s messages have left; its committed entries are not applied yet',
  'raft.beforeApply': 'an entry is about to be applied to the state machine',
  'raft.afterApply': 'an entry was applied to the state machine (not necessarily durable in the engine)',
  'raft.proposed': 'a leader appended a client proposal to its log; its appends have not left yet',
  'raft.snapshotSaved': 'a snapshot from the leader is saved to a file; the log does not record it yet',
  'raft.checkpointBeforeTruncate': 'a compaction checkpoint of the Raft log is durable; older segments are not removed yet',
  'lsm.flushTableWritten': 'a flush has written its SSTable; the table is not fsynced yet',
  'lsm.flushBeforeEdit': 'a flushed SSTable is durable; the manifest does not list it yet',
  'lsm.compactionBeforeEdit': 'a compaction\'s output tables are durable; the manifest still lists its inputs',
  'lsm.manifestBeforeCurrent': 'a new manifest is written and fsynced; CURRENT still names the old one',
  'lsm.manifestBeforeInstall': 'a manifest edit is durable; the engine has not installed it in memory',
} as const;

export type FailpointName = keyof typeof FAILPOINTS;

export function isFailpointName(s: string): s is FailpointName {
  return Object.hasOwn(FAILPOINTS, s);
}

export type FailpointHandler = (name: FailpointName) => void;

let handler: FailpointHandler | null = null;

/** Marks a failpoint: does nothing unless the simulator installed a handler. */
export function failpoint(name: FailpointName): void {
  if (handler !== null) handler(name);
}

/**
 * Installs (or, with null, removes) the process's handler; returns the one it replaces. The
 * simulator installs one for a run and puts the previous one back when the run ends.
 */
export function setFailpointHandler(h: FailpointHandler | null): FailpointHandler | null {
  const previous = handler;
  handler = h;
  return previous;
}

/**
 * Thrown by a handler that ended the node at the failpoint: the rest of the event must not run.
 * Code that catches errors to report them sees it like any other error; on a dead node whatever
 * it does next has no effect (the simulator drops a dead process's messages, disk writes and
 * timers).
 */
export class FailpointCrash extends Error {
  override name = 'FailpointCrash';
  constructor(
    readonly point: FailpointName,
    readonly node: string,
  ) {
    super(`${node} lost power at failpoint ${point}`);
    assert(isFailpointName(point), () => `unknown failpoint ${point}`);
  }
}
