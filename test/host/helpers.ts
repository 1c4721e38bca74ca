import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Shared by the tests that run real processes on loopback (test/api, test/cli): spawning the CLI,
// following a node's JSON log, free ports, a line-protocol client, and cleanup that runs even
// when a test fails (every child is killed when the test process exits).

export const root = join(import.meta.dirname, '..', '..');
const main = join(root, 'src', 'cli', 'main.ts');

const children = new Set<ChildProcess>();
/** Nodes started by a test (also through `cluster up`) stop by themselves if this process dies. */
const WATCH = { KV_LAB_WATCH_PID: String(process.pid) };
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

export function tempDir(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `kv-lab-${label}-`));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `kv-lab <args>` to completion (from source, through tsx). */
export function kvLab(args: string[], env: Record<string, string> = {}, input?: string, timeoutMs = 30_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', main, ...args], { cwd: root, env: { ...process.env, ...WATCH, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.end(input ?? '');
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kv-lab ${args.join(' ')} did not finish within ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A `kv-lab serve` process and its parsed JSON log lines. */
export class Served {
  readonly events: Record<string, unknown>[] = [];
  stderrText = '';
  private readonly waiters: (() => void)[] = [];
  readonly exited: Promise<{ code: number | null; signal: string | null }>;

  constructor(readonly proc: ChildProcess) {
    children.add(proc);
    let buf = '';
    proc.stderr?.on('data', (d: Buffer) => {
      this.stderrText += d;
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('{')) {
          try {
            this.events.push(JSON.parse(line) as Record<string, unknown>);
          } catch {
            // a torn line cannot happen on one pipe; ignore anything else
          }
        }
        for (const w of this.waiters.splice(0)) w();
      }
    });
    this.exited = new Promise((resolve) => proc.on('exit', (code, signal) => {
      children.delete(proc);
      for (const w of this.waiters.splice(0)) w();
      resolve({ code, signal });
    }));
  }

  /** The first log event with this name (waits for it). */
  async event(name: string, timeoutMs = 20_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find((e) => e.event === name);
      if (found !== undefined) return found;
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) throw new Error(`serve exited before logging ${name}:\n${this.stderrText}`);
      if (Date.now() > deadline) throw new Error(`no ${name} within ${timeoutMs} ms:\n${this.stderrText}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }

  /** Ports from the serve.listening event. */
  async ports(): Promise<{ http: number; tcp: number; peer: number }> {
    const e = await this.event('serve.listening');
    const port = (s: unknown) => Number(String(s).split(':').pop());
    return { http: port(e.http), tcp: port(e.tcp), peer: port(e.peer) };
  }

  /** Ports, once the node is ready to serve (its engine open, its replica started). */
  async ready(): Promise<{ http: number; tcp: number; peer: number }> {
    const ports = await this.ports();
    await this.event('node.ready');
    return ports;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
  }
}

export function serve(args: string[]): Served {
  return new Served(spawn(process.execPath, ['--import', 'tsx', main, 'serve', ...args], { cwd: root, env: { ...process.env, ...WATCH }, stdio: ['ignore', 'pipe', 'pipe'] }));
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A base port for `cluster up --base-port` whose every default port is free now. */
export async function freeBasePort(nodes: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 20_000);
    const ports = Array.from({ length: nodes }, (_, i) => [base + i, base - 5000 + i + 1, base + 1000 + i + 1]).flat();
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return base;
  }
  throw new Error('no free base port found');
}

/** A connection speaking the line protocol: send lines, read reply lines in order. */
export class LineClient {
  private buf = '';
  private readonly lines: string[] = [];
  private waiter: (() => void) | null = null;
  closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.buf += d;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        this.lines.push(this.buf.slice(0, nl));
        this.buf = this.buf.slice(nl + 1);
      }
      this.waiter?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on('error', () => {});
  }

  static connect(port: number): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(new LineClient(s)));
      s.once('error', reject);
    });
  }

  send(text: string | Buffer): void {
    this.socket.write(text);
  }

  async read(count = 1, timeoutMs = 10_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length < count) {
      if (this.closed) throw new Error(`connection closed after ${this.lines.length} of ${count} lines`);
      if (Date.now() > deadline) throw new Error(`only ${this.lines.length} of ${count} lines within ${timeoutMs} ms: ${JSON.stringify(this.lines)}`);
      await new Promise<void>((r) => {
        this.waiter = r;
        setTimeout(r, 100);
      });
      this.waiter = null;
    }
    return this.lines.splice(0, count);
  }

  /** Sends one command and returns its reply line. */
  async command(line: string): Promise<string> {
    this.send(line + '\n');
    return (await this.read(1))[0] as string;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** What `echo "…" | nc host port` does: one connection, the text, half-close, everything read. */
export function nc(port: number, text: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const s = net.connect(port, '127.0.0.1', () => s.end(text));
    s.setEncoding('utf8');
    s.on('data', (d: string) => (out += d));
    s.on('error', reject);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`nc: no end of reply within ${timeoutMs} ms; got ${JSON.stringify(out)}`));
    }, timeoutMs);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

/** kill -9 of every process a `kv-lab cluster up --dir dir` left running (its run/*.pid files). */
export function killClusterProcesses(dir: string): void {
  const run = join(dir, 'run');
  if (!existsSync(run)) return;
  for (const f of readdirSync(run)) {
    try {
      process.kill(Number(readFileSync(join(run, f), 'utf8')), 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
