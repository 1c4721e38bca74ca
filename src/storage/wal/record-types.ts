/**
 * Record types of the WAL are its owners' business; the ones kv-lab's components write are listed
 * here so that `kv-lab wal dump` can show them. Ranges: 1..15 storage, 16..47 replication.
 */
export const RECORD_KV_BATCH = 1;

export const RECORD_TYPE_NAMES: Readonly<Record<number, string>> = {
  [RECORD_KV_BATCH]: 'kv-batch',
};
