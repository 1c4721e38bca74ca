import { readFileSync } from 'node:fs';

/**
 * A process's counters from Linux's /proc, for the benches: memory (status), CPU time (stat) and
 * I/O (io). One reader, so that every bench measures the same thing the same way. Each returns
 * null where the file or field is not there (the process has exited, or not Linux).
 */
export type Pid = number | string;

function read(pid: Pid | 'self', file: 'status' | 'stat' | 'io'): string | null {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return null;
  }
}

/** Resident set size now (VmRSS) and at its peak (VmHWM), in MB. */
export function memoryMb(pid: Pid | 'self'): { rssMb: number; peakRssMb: number } | null {
  const status = read(pid, 'status');
  if (status === null) return null;
  const kb = (field: string) => /^(\d+) kB$/.exec(new RegExp(`^${field}:\\s+(.*)$`, 'm').exec(status)?.[1] ?? '')?.[1];
  const rss = kb('VmRSS');
  const hwm = kb('VmHWM');
  if (rss === undefined || hwm === undefined) return null;
  return { rssMb: Math.round(Number(rss) / 1024), peakRssMb: Math.round(Number(hwm) / 1024) };
}

/** CPU time used so far, user + system, in ms (utime and stime of stat, in ticks of 10 ms: USER_HZ is 100 on Linux). */
export function cpuMs(pid: Pid | 'self'): number | null {
  const stat = read(pid, 'stat');
  if (stat === null) return null;
  // The command name (field 2) is in parentheses and may hold spaces or ')': fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ticks) ? ticks * 10 : null;
}

/**
 * A counter of io: write_bytes (what reached storage), wchar (what was passed to write(2)), and
 * syscw / syscr (how many write- and read-like system calls: write, writev, pwrite, send… on files
 * and sockets alike), …
 */
export function ioBytes(pid: Pid | 'self', field: 'write_bytes' | 'read_bytes' | 'wchar' | 'rchar' | 'syscw' | 'syscr'): number | null {
  const io = read(pid, 'io');
  const m = io === null ? null : new RegExp(`^${field}: (\\d+)$`, 'm').exec(io);
  return m === null || m[1] === undefined ? null : Number(m[1]);
}

/**
 * How many times the process's main thread has gone to sleep and been woken (voluntary_ctxt_switches
 * of status): for a Node server, each is an event loop that ran out of work and waited in epoll.
 * Work that arrives in many small pieces costs a wake-up each, which the CPU time of the wake-up
 * (the scheduler's, on both sides of a socket) grows with.
 */
export function sleeps(pid: Pid | 'self'): number | null {
  const status = read(pid, 'status');
  const m = status === null ? null : /^voluntary_ctxt_switches:\s+(\d+)$/m.exec(status);
  return m === null || m[1] === undefined ? null : Number(m[1]);
}
