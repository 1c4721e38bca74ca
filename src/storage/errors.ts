/**
 * The errors storage reports. Each says what and where, so that an operator can act on it without
 * reading code: corruption names the file and byte offset, a stopped engine says why it stopped.
 */

/**
 * Stored data failed a check: a checksum, a length, a magic number, a sequence that must be
 * contiguous. Recovery and reads raise it instead of skipping data; nothing is ever returned from
 * bytes that did not verify.
 */
export class StorageCorruptionError extends Error {
  constructor(
    /** The file, relative to the Disk's root. */
    readonly path: string,
    /** Byte offset in the file where the bad data starts (the record, block or entry). */
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`corruption in ${path} at offset ${offset}: ${reason}`);
    this.name = 'StorageCorruptionError';
  }
}

/**
 * The engine stopped accepting writes after a fatal error (a failed fsync, a failed write, a
 * background flush or compaction that could not complete). Every later write fails with this error;
 * reads keep working on what is in memory and on disk. Restarting the engine recovers from what is
 * durable.
 */
export class EngineFailedError extends Error {
  constructor(override readonly cause: Error) {
    super(`storage engine stopped accepting writes after a fatal error: ${cause.message}`);
    this.name = 'EngineFailedError';
  }
}

export class EngineClosedError extends Error {
  constructor(what: string) {
    super(`storage engine is closed: cannot ${what}`);
    this.name = 'EngineClosedError';
  }
}

/** A write the engine refuses as given (a bad key or value, a batch over its limits). */
export class InvalidWriteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidWriteError';
  }
}

/** Options that cannot work, named with what was expected. */
export class StorageOptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StorageOptionsError';
  }
}
