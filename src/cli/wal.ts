import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, UsageError } from './errors.js';

/**
 * `kv-lab wal dump <dir> [--from LSN] [--limit N] [--block-bytes B]`: prints the records of a
 * write-ahead log as JSON lines, one per record, without changing anything on disk (no torn tail
 * is cut off, no stale segment removed). <dir> is a WAL directory or an engine directory holding
 * wal/ (the LSM's; its manifest says which block size the log was written with).
 *
 * A line: {"lsn":7,"type":1,"kind":"kv-batch","segment":"wal/…7.wal","offset":0,"bytes":42,
 * "ops":[["k","v"],["gone",null]]}. Records of other types carry their bytes as base64 ("data").
 * A summary goes to stderr, with the torn tail recovery would cut off, if any. Exit codes: 0 read to
 * the end, 1 corruption (the message names the file and offset), 2 bad arguments.
 */
export function registerWalCommand(program: Command): void {
  const wal = program.command('wal').description('inspect a write-ahead log');
  wal
    .command('dump')
    .description('print the records of a write-ahead log as JSON lines (read-only)')
    .argument('<dir>', 'a WAL directory, or an engine directory holding wal/')
    .option('--from <lsn>', 'start at this LSN')
    .option('--limit <n>', 'print at most this many records')
    .option('--block-bytes <n>', 'block size the log was written with (default: from the manifest, else 32768)')
    .addHelpText('after', '\nExit codes: 0 read to the end, 1 corruption found, 2 bad arguments.')
    .action(async (dir: string, opts: WalDumpFlags) => {
      process.exitCode = await walDumpCommand(dir, opts, (line) => process.stdout.write(`${line}\n`), (line) => process.stderr.write(`${line}\n`));
    });
}

export interface WalDumpFlags {
  from?: string;
  limit?: string;
  blockBytes?: string;
}

function positiveInt(flag: string, value: string | undefined, min: number): number | null {
  if (value === undefined) return null;
  if (!/^\d+$/.test(value) || Number(value) < min) throw new UsageError(`${flag} expects an integer >= ${min}, got ${JSON.stringify(value)}`);
  return Number(value);
}

/** Runs the dump, writing record lines to out and the summary or error to err; returns the exit code. */
export async function walDumpCommand(dir: string, flags: WalDumpFlags, out: (line: string) => void, err: (line: string) => void): Promise<number> {
  const { RealDisk } = await import('../env/real/disk.js');
  const { recoverWal, tailMayBeRot } = await import('../storage/wal/recovery.js');
  const { decodeBatch } = await import('../storage/batch.js');
  const { RECORD_KV_BATCH, RECORD_TYPE_NAMES } = await import('../storage/wal/record-types.js');
  const { BLOCK_BYTES_DEFAULT, checkBlockBytes } = await import('../storage/wal/record-format.js');
  const { StorageCorruptionError } = await import('../storage/errors.js');
  const { recoverVersions } = await import('../storage/lsm/version-set.js');
  const { MANIFEST_BLOCK_BYTES } = await import('../storage/lsm/lsm.js');
  try {
    const from = positiveInt('--from', flags.from, 1);
    const limit = positiveInt('--limit', flags.limit, 0);
    let blockBytes = positiveInt('--block-bytes', flags.blockBytes, 1);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`${dir}: no such directory`);
    const engineDir = existsSync(join(dir, 'wal')) && statSync(join(dir, 'wal')).isDirectory();
    const disk = new RealDisk(dir);
    if (blockBytes === null && engineDir && existsSync(join(dir, 'CURRENT'))) blockBytes = recoverVersions(disk, '', MANIFEST_BLOCK_BYTES).walBlockBytes;
    blockBytes ??= BLOCK_BYTES_DEFAULT;
    try {
      checkBlockBytes(blockBytes);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    let printed = 0;
    const plan = recoverWal(disk, engineDir ? 'wal' : '', blockBytes, null, (r) => {
      if ((from !== null && r.lsn < from) || (limit !== null && printed >= limit)) return;
      printed++;
      const line: Record<string, unknown> = { lsn: r.lsn, type: r.type, kind: RECORD_TYPE_NAMES[r.type] ?? 'unknown', segment: r.segment, offset: r.offset, bytes: r.data.length };
      if (r.type === RECORD_KV_BATCH) {
        try {
          line.ops = decodeBatch(r.data);
        } catch (e) {
          line.error = `malformed batch: ${(e as Error).message}`;
          line.data = Buffer.from(r.data).toString('base64');
        }
      } else line.data = Buffer.from(r.data).toString('base64');
      out(JSON.stringify(line));
    });
    const rep = plan.report;
    err(`wal dump: ${rep.records} records${rep.firstLsn === null ? '' : `, LSN ${rep.firstLsn}..${rep.lastLsn}`}, ${rep.segments.length} segments, next LSN ${rep.nextLsn}, block size ${blockBytes}`);
    if (rep.droppedTail !== null) {
      const t = rep.droppedTail;
      if (tailMayBeRot(t)) err(`wal dump: rotten last record in ${t.segment} at offset ${t.offset}: ${t.bytes} bytes (${t.kind}: ${t.detail}), written whole, so not a torn write; recovery would cut it off, and a Raft log would first mark the loss and hold its votes`);
      else err(`wal dump: torn tail in ${t.segment} at offset ${t.offset}: ${t.bytes} bytes (${t.kind}: ${t.detail}); recovery would cut it off`);
    }
    if (rep.staleSegments.length > 0) err(`wal dump: stale segments recovery would remove: ${rep.staleSegments.join(', ')}`);
    return EXIT_OK;
  } catch (e) {
    if (e instanceof UsageError) {
      err(`kv-lab: ${e.message}`);
      return EXIT_BAD_INPUT;
    }
    if (e instanceof StorageCorruptionError) {
      err(`kv-lab: ${e.message}`);
      return EXIT_FAILED;
    }
    throw e;
  }
}
