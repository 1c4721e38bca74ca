import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cpuMs, ioBytes, memoryMb } from '../../bench/proc.js';

/** bench/proc.ts: the benches' one reader of /proc, on this process (Linux only, as the benches). */
const P = suite("bench/proc: a process's counters");

P('memory: resident and peak, in MB, the peak never below the resident', () => {
  const m = memoryMb('self');
  assert.ok(m !== null);
  assert.ok(m.rssMb > 0 && m.peakRssMb >= m.rssMb, JSON.stringify(m));
  assert.ok(memoryMb(process.pid) !== null, 'by pid as by self');
});

P('CPU time grows with work done, in ms', () => {
  const before = cpuMs(process.pid);
  assert.ok(before !== null && before >= 0);
  const until = process.cpuUsage().user + 60_000; // 60 ms of user time, in µs
  let x = 0;
  while (process.cpuUsage().user < until) x += Math.sqrt(x + 1);
  const after = cpuMs('self') as number;
  assert.ok(after - before >= 30, `${before} → ${after} ms (${x > 0})`);
});

P('write(2) bytes grow by what was written', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kv-lab-proc-'));
  try {
    const before = ioBytes('self', 'wchar') as number;
    writeFileSync(join(dir, 'f'), Buffer.alloc(1 << 20));
    assert.ok((ioBytes('self', 'wchar') as number) - before >= 1 << 20);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

P('a process that is not there: null, not a throw', () => {
  const gone = 2 ** 22 + 7; // above Linux's pid_max default (4,194,304)
  assert.is(memoryMb(gone), null);
  assert.is(cpuMs(gone), null);
  assert.is(ioBytes(gone, 'write_bytes'), null);
});

P.run();
