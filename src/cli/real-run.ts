import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { historyCheck, type CheckResult, type RunSummary } from '../../sim/runner.js';
import { nodeIds, type CheckName, type Fault, type Scenario } from '../../sim/scenario.js';
import { Workload, type WorkloadHost } from '../../sim/workload.js';
import type { HistoryEvent } from '../check/history.js';
import type { Clock } from '../env/clock.js';
import type { Net } from '../env/net.js';
import { RealClock } from '../env/real/clock.js';
import { setNetFault, type PeerAddress } from '../env/real/net.js';
import { StreamNet } from '../client/stream-net.js';
import type { Dialer, Stream } from '../env/stream.js';
import { tcpDialer } from '../host/socket-stream.js';
import { SeededRng, type Rng } from '../env/rng.js';
import { renderClusterConfig, serveNodeOptions, type ClusterConfig } from './cluster-config.js';
import { EnvironmentError, UsageError } from './errors.js';

/**
 * `kv-lab run scenario.yaml --real`: the scenario's workload and faults against a real cluster —
 * separate `kv-lab serve` processes on loopback, with their own disks and TCP — recorded and
 * checked with the same checkers as a simulated run.
 *
 * Faults that exist in the real world are applied for real: a crash is `kill -9`, a pause is
 * SIGSTOP/SIGCONT, a partition goes through a fault hook in each node's network layer that only a
 * loopback caller holding the cluster secret may set. Faults only the simulator can make (clock
 * skew, disk faults, message loss) are refused up front. A real run is not reproducible bit for
 * bit: the operating system schedules it. The seed still fixes the workload's choices.
 */

const REAL_FAULTS: ReadonlySet<Fault['kind']> = new Set(['crash', 'restart', 'pause', 'resume', 'partition', 'partition-one-way', 'heal']);
const REAL_CHECKS: ReadonlySet<CheckName> = new Set(['linearizable', 'lost-writes', 'liveness']);

export function checkRealScenario(s: Scenario): void {
  const bad = s.faults.filter((f) => !REAL_FAULTS.has(f.kind) || (f.kind === 'crash' && f.disk !== undefined));
  if (bad.length > 0) {
    throw new UsageError(
      `--real applies only faults a real machine can have on request (crash, restart, pause, resume, partitions, heal):\n` +
        bad.map((f) => `${s.file}:${f.line}: ${f.kind}${f.kind === 'crash' ? ' with disk:' : ''} needs the simulator`).join('\n'),
    );
  }
  if (s.cluster.voters !== s.cluster.nodes) throw new UsageError(`${s.file}: cluster.voters: --real starts every node as a member`);
  if (s.cluster.shards > 1 && s.cluster.replication !== 'raft') throw new UsageError(`${s.file}: cluster.shards: shards are Raft groups; replication is ${s.cluster.replication}`);
}

/**
 * A port free now, below Linux's ephemeral range (32768+): a port the kernel hands out for
 * listen(0) is soon handed out again as the local port of some outgoing connection, and the node
 * started on it a moment later failed to bind (seen while other tests and a fuzz run shared the
 * machine). Ports already given to this run are not given again.
 */
const taken = new Set<number>();
async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (taken.has(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (free) {
      taken.add(port);
      return port;
    }
  }
  throw new EnvironmentError('no free port found in 20000-31999 for a --real cluster');
}

interface RealNode {
  id: string;
  peer: PeerAddress;
  httpPort: number;
  tcpPort: number;
  proc: ChildProcess | null;
  state: 'up' | 'down' | 'paused';
}

class RealCluster {
  readonly nodes: RealNode[] = [];
  readonly exits: { node: string; atMs: number; reason: string }[] = [];

  constructor(
    readonly dir: string,
    readonly configFile: string,
    readonly secret: string,
    private readonly t0: number,
    private readonly replication: string,
  ) {}

  static async create(s: Scenario, dir: string, t0: number): Promise<RealCluster> {
    fs.mkdirSync(path.join(dir, 'logs'), { recursive: true });
    const secret = randomBytes(32).toString('hex');
    const secretFile = path.join(dir, 'cluster.secret');
    fs.writeFileSync(secretFile, secret + '\n', { mode: 0o600 });
    const ids = nodeIds(s);
    const nodes = [];
    for (const id of ids) nodes.push({ id, host: '127.0.0.1', httpPort: await freePort(), tcpPort: await freePort(), peerPort: await freePort(), dataDir: path.join(dir, 'data', id) });
    const config: ClusterConfig = {
      file: path.join(dir, 'cluster.yaml'),
      name: 'lab',
      replication: s.cluster.replication,
      engine: s.cluster.engine,
      ...(s.cluster.replication === 'primary' ? { primary: s.cluster.primary } : {}),
      // Shards run as `kv-lab serve` runs them: the cluster file's shards and replicas.
      ...(s.cluster.shards > 1 ? { shards: { count: s.cluster.shards, replicas: s.cluster.replicas } } : {}),
      secretFile,
      auth: null,
      nodes,
    };
    fs.writeFileSync(config.file, renderClusterConfig(config), { mode: 0o600 });
    const c = new RealCluster(dir, config.file, secret, t0, s.cluster.replication);
    for (const n of nodes) c.nodes.push({ id: n.id, peer: { host: '127.0.0.1', port: n.peerPort }, httpPort: n.httpPort, tcpPort: n.tcpPort, proc: null, state: 'down' });
    for (const n of c.nodes) c.start(n);
    return c;
  }

  node(id: string): RealNode {
    const n = this.nodes.find((x) => x.id === id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  start(n: RealNode): void {
    const log = fs.openSync(path.join(this.dir, 'logs', `${n.id}.log`), 'a');
    // The program running this command (compiled, or the TypeScript sources through tsx).
    const proc = spawn(process.execPath, [...serveNodeOptions(this.replication), process.argv[1] as string, 'serve', '--config', this.configFile, '--node', n.id], {
      stdio: ['ignore', log, log],
      env: { ...process.env, KV_LAB_WATCH_PID: String(process.pid) },
    });
    fs.closeSync(log);
    n.proc = proc;
    n.state = 'up';
    proc.on('exit', (code, signal) => {
      if (n.proc !== proc) return;
      n.proc = null;
      if (n.state !== 'down') this.exits.push({ node: n.id, atMs: performance.now() - this.t0, reason: `exited (${signal ?? code})` });
      n.state = 'down';
    });
  }

  kill(n: RealNode): void {
    if (n.proc === null) return;
    n.state = 'down';
    n.proc.kill('SIGKILL');
  }

  /** The leader of the highest term; on a sharded cluster, the node that leads the most shards (then the highest term). */
  async leader(): Promise<string | null> {
    let best: { id: string; leading: number; term: number } | null = null;
    for (const n of this.nodes) {
      if (n.state !== 'up') continue;
      try {
        const res = await fetch(`http://127.0.0.1:${n.httpPort}/status`, { signal: AbortSignal.timeout(500) });
        const st = (await res.json()) as { role?: string; term?: number; shards?: { leading?: number } };
        const leading = typeof st.shards?.leading === 'number' ? st.shards.leading : 1;
        const term = st.term ?? 0;
        if (st.role === 'leader' && (best === null || leading > best.leading || (leading === best.leading && term > best.term))) best = { id: n.id, leading, term };
      } catch {
        // Not answering: not the leader we are looking for.
      }
    }
    return best?.id ?? null;
  }

  /** A node's last log lines, for a message that outlives the run's directory (--no-out removes it). */
  logTail(id: string, lines = 8): string {
    try {
      const text = fs.readFileSync(path.join(this.dir, 'logs', `${id}.log`), 'utf8').trimEnd();
      if (text === '') return '    (nothing logged yet)';
      return text.split('\n').slice(-lines).map((l) => `    ${l}`).join('\n');
    } catch {
      return '    (no log)';
    }
  }

  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (const n of this.nodes) {
      for (;;) {
        if (n.state === 'down') throw new EnvironmentError(`node ${n.id} exited during start; its log ended:\n${this.logTail(n.id)}`);
        try {
          const res = await fetch(`http://127.0.0.1:${n.httpPort}/health`, { signal: AbortSignal.timeout(500) });
          await res.text();
          if (res.ok) break;
        } catch {
          // Not up yet.
        }
        if (performance.now() > deadline) throw new EnvironmentError(`node ${n.id} did not become healthy within ${timeoutMs / 1000} s (a machine too busy, or a node stuck); its log ended:\n${this.logTail(n.id)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.nodes.map(
        (n) =>
          new Promise<void>((resolve) => {
            const p = n.proc;
            if (p === null) return resolve();
            // A stopped (SIGSTOP) process must run again to hear SIGTERM.
            if (n.state === 'paused') p.kill('SIGCONT');
            n.state = 'down';
            const t = setTimeout(() => p.kill('SIGKILL'), 5000);
            p.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            p.kill('SIGTERM');
          }),
      ),
    );
  }
}

/** The workload's host on real time and real sockets. */
class RealHost implements WorkloadHost {
  private readonly clock = new RealClock();
  readonly ops: HistoryEvent[] = [];
  readonly nets: StreamNet[] = [];

  /** Monotonic time at which the history's clock reads zero. */
  t0Ns = Number(process.hrtime.bigint());

  constructor(private readonly cluster: RealCluster) {}

  get nowNs(): number {
    return Number(process.hrtime.bigint()) - this.t0Ns;
  }

  after(delayNs: number, _label: string, fn: () => void): void {
    setTimeout(fn, delayNs / 1e6);
  }

  clientEndpoint(address: string): { net: Net; clock: Clock; dial: Dialer } {
    // Native clients speak the request protocol's frames on each node's TCP client port, as
    // connectKv does: the peer port admits only holders of the cluster secret.
    const net = new StreamNet(address, new Map(this.cluster.nodes.map((n) => [n.id, `127.0.0.1:${n.tcpPort}`])), tcpDialer);
    this.nets.push(net);
    // "n1:line" / "n1:http" → the node's real port; the workload's stream clients dial these.
    const dial: Dialer = (target) => {
      const [id, protocol] = target.split(':');
      const n = this.cluster.nodes.find((x) => x.id === id);
      if (n === undefined) throw new Error(`no node ${id} in this cluster`);
      const stream = tcpDialer(`127.0.0.1:${protocol === 'http' ? n.httpPort : n.tcpPort}`);
      this.streams.push(stream);
      return stream;
    };
    return { net, clock: this.clock, dial };
  }

  /** Every connection the clients opened, to close at the end of the run. */
  readonly streams: Stream[] = [];

  recordOp(): void {}
}

/** Faults applied to real processes and through the nodes' network fault hook. */
class RealNemesis {
  /** Per active partition, the links it cuts (both directions are listed). */
  private readonly cuts = new Map<number, [string, string][]>();
  private cutNext = 1;
  private readonly timers: NodeJS.Timeout[] = [];
  applied = 0;
  readonly skipped: string[] = [];

  constructor(
    private readonly cluster: RealCluster,
    private readonly rng: Rng,
  ) {}

  schedule(faults: readonly Fault[], endNs: number): void {
    for (const f of faults) {
      const until = f.untilNs ?? endNs;
      for (let t = f.atNs; ; t += f.everyNs as number) {
        this.timers.push(setTimeout(() => void this.apply(f), t / 1e6));
        if (f.everyNs === undefined || t + f.everyNs >= until) break;
      }
    }
  }

  private later(ms: number, fn: () => void | Promise<void>): void {
    this.timers.push(setTimeout(() => void fn(), ms));
  }

  private async pick(sel: string, ok: (n: RealNode) => boolean): Promise<RealNode | null> {
    const c = this.cluster;
    if (sel === 'leader') {
      // Between elections there is none: wait for one, as an operator would, for a while.
      for (let tries = 0; tries < 30; tries++) {
        const id = await c.leader();
        if (id !== null) return c.node(id);
        await new Promise((r) => setTimeout(r, 100));
      }
      return null;
    }
    if (sel === 'random' || sel === 'follower') {
      const leader = sel === 'follower' ? await c.leader() : null;
      const candidates = c.nodes.filter((n) => n.id !== leader && ok(n));
      return candidates.length === 0 ? null : this.rng.pick(candidates);
    }
    return c.node(sel);
  }

  private async apply(f: Fault): Promise<void> {
    const c = this.cluster;
    switch (f.kind) {
      case 'crash': {
        const n = await this.pick(f.node, (x) => x.state !== 'down');
        if (n === null) return this.skip(f);
        this.applied++;
        c.kill(n);
        if (f.forNs !== undefined) {
          this.later(f.forNs / 1e6, () => {
            if (n.state === 'down') c.start(n);
          });
        }
        return;
      }
      case 'restart': {
        const n = await this.pick(f.node, (x) => x.state === 'down');
        if (n === null || n.state !== 'down') return this.skip(f);
        this.applied++;
        c.start(n);
        return;
      }
      case 'pause': {
        const n = await this.pick(f.node, (x) => x.state === 'up');
        if (n === null || n.proc === null) return this.skip(f);
        this.applied++;
        n.proc.kill('SIGSTOP');
        n.state = 'paused';
        if (f.forNs !== undefined) this.later(f.forNs / 1e6, () => this.resume(n));
        return;
      }
      case 'resume': {
        const n = await this.pick(f.node, (x) => x.state === 'paused');
        if (n === null) return this.skip(f);
        this.applied++;
        this.resume(n);
        return;
      }
      case 'heal':
        this.applied++;
        this.cuts.clear();
        return this.pushBlocks();
      case 'partition':
      case 'partition-one-way':
        return this.partition(f);
      default:
        throw new Error(`fault ${f.kind} is not available with --real`);
    }
  }

  private skip(f: Fault): void {
    this.skipped.push(`${f.kind} (line ${f.line}): no node to apply it to at that moment`);
  }

  private resume(n: RealNode): void {
    if (n.state !== 'paused' || n.proc === null) return;
    n.proc.kill('SIGCONT');
    n.state = 'up';
  }

  private async partition(f: Extract<Fault, { kind: 'partition' | 'partition-one-way' }>): Promise<void> {
    const ids = this.cluster.nodes.map((n) => n.id);
    const links: [string, string][] = [];
    const cut = (a: string[], b: string[]) => {
      for (const x of a) for (const y of b) if (x !== y) links.push([x, y], [y, x]);
    };
    if (f.kind === 'partition-one-way') {
      // The hook drops both directions; a one-way cut is approximated by the sending side's block.
      const from = await Promise.all(f.from.map(async (s) => (s === 'others' ? null : (await this.pick(s, () => true))?.id ?? null)));
      const to = await Promise.all(f.to.map(async (s) => (s === 'others' ? null : (await this.pick(s, () => true))?.id ?? null)));
      const fromIds = f.from.includes('others') ? ids.filter((i) => !to.includes(i)) : (from.filter((x) => x !== null) as string[]);
      const toIds = f.to.includes('others') ? ids.filter((i) => !fromIds.includes(i)) : (to.filter((x) => x !== null) as string[]);
      cut(fromIds, toIds);
    } else if (f.shape === 'groups') {
      for (let i = 0; i < f.groups.length; i++) for (let j = i + 1; j < f.groups.length; j++) cut(f.groups[i] as string[], f.groups[j] as string[]);
    } else if (f.shape === 'isolate') {
      const n = await this.pick(f.node, () => true);
      if (n === null) return this.skip(f);
      // Only links between members: clients reach a node over its client ports, which the
      // fault hook (a peer-port control) does not cut.
      cut([n.id], ids.filter((i) => i !== n.id));
    } else {
      const s = this.rng.shuffled(ids);
      if (f.shape === 'halves') cut(s.slice(0, Math.floor(s.length / 2)), s.slice(Math.floor(s.length / 2)));
      else if (f.shape === 'majority-minority') cut(s.slice(0, Math.floor((s.length - 1) / 2)), s.slice(Math.floor((s.length - 1) / 2)));
      else {
        const rest = s.slice(1);
        cut(rest.slice(0, Math.floor(rest.length / 2)), rest.slice(Math.floor(rest.length / 2)));
      }
    }
    this.applied++;
    const id = this.cutNext++;
    this.cuts.set(id, links);
    await this.pushBlocks();
    if (f.forNs !== undefined) {
      this.later(f.forNs / 1e6, async () => {
        this.cuts.delete(id);
        await this.pushBlocks();
      });
    }
  }

  /** Tells every running node which addresses it must not hear or reach now. */
  private async pushBlocks(): Promise<void> {
    const blocks = new Map<string, Set<string>>();
    for (const links of this.cuts.values()) for (const [a, b] of links) (blocks.get(a) ?? blocks.set(a, new Set()).get(a))?.add(b);
    await Promise.all(
      this.cluster.nodes
        .filter((n) => n.state === 'up')
        .map((n) => setNetFault(n.peer, this.cluster.secret, [...(blocks.get(n.id) ?? [])]).catch(() => undefined)),
    );
  }

  /** Ends every fault: resume the paused, restart the killed, heal the network. */
  async healAll(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const n of this.cluster.nodes) {
      if (n.state === 'paused') this.resume(n);
      else if (n.state === 'down') this.cluster.start(n);
    }
    this.cuts.clear();
    await this.cluster.waitReady(30_000).catch(() => undefined);
    await this.pushBlocks();
  }
}

/**
 * How long the real nodes have to answer /health at start: 60 s (five nodes of eight Raft groups
 * each were healthy in 3-6 s on this 2-core machine, and in over 30 s at load average 30).
 * KV_LAB_REAL_START_TIMEOUT_MS changes it (the tests use it to make a start fail on purpose).
 */
function startTimeoutMs(): number {
  const text = process.env.KV_LAB_REAL_START_TIMEOUT_MS;
  if (text === undefined || text === '') return 60_000;
  if (!/^\d{1,7}$/.test(text)) throw new UsageError(`KV_LAB_REAL_START_TIMEOUT_MS expects milliseconds (an integer), got ${JSON.stringify(text)}`);
  return Number(text);
}

export interface RealRunOptions {
  seed: number;
  outDir: string | null;
  commandFile: string;
  /** Flags the reproduce command must repeat (` --protocol http`). */
  reproduceArgs?: string;
  log?: (line: string) => void;
}

export async function runScenarioReal(s: Scenario, o: RealRunOptions): Promise<{ summary: RunSummary; history: HistoryEvent[] }> {
  checkRealScenario(s);
  const wallStart = performance.now();
  const dir = o.outDir !== null ? path.resolve(o.outDir, s.name, String(o.seed), 'cluster') : fs.mkdtempSync(path.join(tmpdir(), 'kv-lab-real-'));
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const cluster = await RealCluster.create(s, dir, wallStart);
  let history: HistoryEvent[] = [];
  let unanswered: string[] | null = null;
  let nemesis: RealNemesis | null = null;
  const host = new RealHost(cluster);
  try {
    await cluster.waitReady(startTimeoutMs());
    o.log?.(`cluster of ${s.cluster.nodes} up in ${dir}`);
    const rng = new SeededRng(`kv-lab/${o.seed}`);
    host.t0Ns = Number(process.hrtime.bigint());
    const workload = new Workload(host, s.workload, rng.fork('workload'), nodeIds(s));
    nemesis = new RealNemesis(cluster, rng.fork('nemesis'));
    workload.start();
    nemesis.schedule(s.faults, s.durationNs);
    await new Promise((r) => setTimeout(r, s.durationNs / 1e6));
    workload.stopIssuing();
    o.log?.('healing');
    await nemesis.healAll();
    await new Promise((r) => setTimeout(r, s.settleNs / 1e6));
    unanswered = await new Promise<string[]>((resolve) => workload.whenQuiet(() => workload.finalReads(host.nowNs + s.healNs, resolve)));
    history = workload.history;
    const checks: Partial<Record<CheckName, CheckResult>> = {};
    for (const name of s.checks) {
      const c: CheckResult = REAL_CHECKS.has(name)
        ? historyCheck(name as 'linearizable' | 'lost-writes' | 'liveness', history, unanswered)
        : { verdict: 'skipped', summary: 'only in the simulator (it needs to see inside every node)' };
      checks[name] = s.expectFail.includes(name) ? { ...c, expected: 'fail' } : c;
    }
    const passed = Object.values(checks).every((c) => (c.expected === 'fail' ? c.verdict === 'fail' : c.verdict === 'pass' || c.verdict === 'skipped'));
    const jsonl = history.map((e) => JSON.stringify(e)).join('\n') + '\n';
    const summary: RunSummary & { real: true; clusterDir: string; faultsSkipped: string[] } = {
      scenario: s.name,
      file: s.file,
      seed: o.seed,
      passed,
      virtualMs: 0,
      wallMs: Math.round(performance.now() - wallStart),
      events: 0,
      messages: { sent: 0, delivered: 0, lost: 0, blocked: 0, duplicated: 0, undeliverable: 0, bytes: 0 },
      streams: { connections: host.streams.length, refused: 0, resets: 0, bytes: 0, stalls: 0 },
      protocol: s.workload.protocol,
      ops: { ...workload.stats },
      faultsApplied: nemesis.applied,
      faultsSkipped: nemesis.skipped,
      nodeExits: cluster.exits,
      checks,
      // Of the history, not of a trace: a real run has no deterministic event trace.
      digest: createHash('sha256').update(jsonl).digest('hex'),
      traceLines: 0,
      reproduce: `npx kv-lab run ${o.commandFile} --seed ${o.seed} --real${o.reproduceArgs ?? ''}`,
      real: true,
      clusterDir: dir,
    };
    if (o.outDir !== null) {
      const out = path.resolve(o.outDir, s.name, String(o.seed));
      fs.writeFileSync(path.join(out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
      fs.writeFileSync(path.join(out, 'history.jsonl'), jsonl);
    }
    return { summary, history };
  } finally {
    for (const n of host.nets) n.close();
    for (const s of host.streams) s.destroy();
    await cluster.stop();
    if (o.outDir === null) fs.rmSync(dir, { recursive: true, force: true });
  }
}
