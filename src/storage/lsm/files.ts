import { joinPath } from '../../env/disk.js';

/**
 * Names of an LSM directory's files. Tables and manifests draw numbers from one counter (kept in
 * the manifest), so a number is never reused for another file:
 *
 *   000012.sst        a table
 *   MANIFEST-000007   the log of version edits
 *   CURRENT           names the live manifest (written to CURRENT.tmp, then renamed)
 *   wal/              the write-ahead log's segments
 */
export const CURRENT = 'CURRENT';
export const CURRENT_TMP = 'CURRENT.tmp';
export const WAL_DIR = 'wal';

const TABLE_RE = /^(\d{6,})\.sst$/;
const MANIFEST_RE = /^MANIFEST-(\d{6,})$/;

export function tableName(n: number): string {
  return `${String(n).padStart(6, '0')}.sst`;
}

export function manifestName(n: number): string {
  return `MANIFEST-${String(n).padStart(6, '0')}`;
}

export function tablePath(dir: string, n: number): string {
  return joinPath(dir, tableName(n));
}

export function parseTableName(name: string): number | null {
  const m = TABLE_RE.exec(name);
  return m === null ? null : Number(m[1]);
}

export function parseManifestName(name: string): number | null {
  const m = MANIFEST_RE.exec(name);
  return m === null ? null : Number(m[1]);
}
