import { joinPath } from '../../env/disk.js';

/**
 * Bitcask directory: 000001.data (data files, appended, then closed and immutable), 000001.hint
 * (hint of a closed data file), 000004.merge (a merge's record of the files it consumed), *.tmp
 * (being written; garbage at open).
 */
const DATA_RE = /^(\d{6,})\.data$/;
const HINT_RE = /^(\d{6,})\.hint$/;
const MERGE_RE = /^(\d{6,})\.merge$/;

export function mergeMarkerPath(dir: string, id: number): string {
  return joinPath(dir, `${String(id).padStart(6, '0')}.merge`);
}

export function parseMergeMarkerName(name: string): number | null {
  const m = MERGE_RE.exec(name);
  return m === null ? null : Number(m[1]);
}

export function dataName(id: number): string {
  return `${String(id).padStart(6, '0')}.data`;
}

export function dataPath(dir: string, id: number): string {
  return joinPath(dir, dataName(id));
}

export function hintPath(dir: string, id: number): string {
  return joinPath(dir, `${String(id).padStart(6, '0')}.hint`);
}

export function parseDataName(name: string): number | null {
  const m = DATA_RE.exec(name);
  return m === null ? null : Number(m[1]);
}

export function parseHintName(name: string): number | null {
  const m = HINT_RE.exec(name);
  return m === null ? null : Number(m[1]);
}
