import { StorageOptionsError } from '../errors.js';
import { checkFsyncPolicy, FSYNC_ALWAYS, type FsyncPolicy } from '../fsync-policy.js';

export interface BitcaskOptions {
  fsync: FsyncPolicy;
  /** The active data file is closed and a new one started past this size. */
  fileBytesMax: number;
  /** Closed files are merged once this fraction of their bytes is dead... */
  mergeDeadRatio: number;
  /** ...and at least this many bytes are dead. */
  mergeDeadBytesMin: number;
  /** Work a merge or hint job does per step before it yields to reads and writes. */
  backgroundStepBytes: number;
  /** Bytes of writes waiting for their fsync before more writes wait. */
  inflightBytesMax: number;
  bufferBytesMax: number;
}

export const BITCASK_DEFAULTS: BitcaskOptions = {
  fsync: FSYNC_ALWAYS,
  fileBytesMax: 64 * 1024 * 1024,
  mergeDeadRatio: 0.5,
  mergeDeadBytesMin: 16 * 1024 * 1024,
  backgroundStepBytes: 256 * 1024,
  inflightBytesMax: 64 * 1024 * 1024,
  bufferBytesMax: 1024 * 1024,
};

const RULES: [keyof BitcaskOptions, number, number][] = [
  ['fileBytesMax', 256, 2 ** 32 - 1],
  ['mergeDeadRatio', 0.01, 1],
  ['mergeDeadBytesMin', 0, 2 ** 40],
  ['backgroundStepBytes', 512, 1 << 30],
  ['inflightBytesMax', 1024, 2 ** 40],
  ['bufferBytesMax', 1, 1 << 30],
];

export function resolveBitcaskOptions(given: Partial<BitcaskOptions> = {}): BitcaskOptions {
  for (const k of Object.keys(given)) {
    if (!(k in BITCASK_DEFAULTS)) throw new StorageOptionsError(`unknown bitcask option "${k}"`);
  }
  const o: BitcaskOptions = { ...BITCASK_DEFAULTS, ...given };
  for (const [k, min, max] of RULES) {
    const v = o[k] as number;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
      throw new StorageOptionsError(`bitcask option ${k} must be a number in [${min}, ${max}], got ${JSON.stringify(v)}`);
    }
  }
  checkFsyncPolicy(o.fsync);
  return o;
}
