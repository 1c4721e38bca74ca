/**
 * npm run fuzz -- [--seconds N] [--nodes 3] [--workers 12] [--seed S] [--json] [--keep] [--only KIND]
 *
 * A hostile crowd against a real cluster (issue 16): starts `kv-lab cluster up` with N nodes as
 * processes on loopback in a temporary directory, authentication on, and for --seconds drives
 * every node's every port — HTTP, the TCP client port (line protocol and request frames) and the
 * peer port — with random bytes and with valid requests mutated: cut short, lengths that lie,
 * JSON nested 100,000 deep, bytes that are not UTF-8, names of built-in object properties,
 * pipelined bursts, slowloris trickles and login floods. One well-behaved client writes and reads
 * throughout, to show the cluster still serves.
 *
 * Reports requests sent (connections and the requests or frames they carried), crashes (a node
 * process that exited), 5xx responses (and the line protocol's `ERR internal`), the well-behaved
 * client's outcomes, and each node's RSS at start, at the end and at its peak (VmRSS sampled every
 * 500 ms, and VmHWM). Exit 1 if any node crashed or any 5xx / internal error was answered.
 *
 * The generator is seeded (--seed, printed): the same seed makes the same choices, though the
 * interleaving with the nodes' own timing is the machine's.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchSmoke, smokeNote } from './args.js';
import { cpuMs, memoryMb } from './proc.js';

const root = join(import.meta.dirname, '..');
const main = join(root, 'src', 'cli', 'main.ts');

// ---- arguments

function parseArgs(argv: string[]) {
  const get = (name: string, fallback: string) => {
    const i = argv.indexOf(`--${name}`);
    return i < 0 ? fallback : (argv[i + 1] ?? '');
  };
  const int = (name: string, fallback: number, min: number, max: number) => {
    const text = get(name, String(fallback));
    if (!/^\d{1,10}$/.test(text) || Number(text) < min || Number(text) > max) {
      process.stderr.write(`fuzz: --${name} expects an integer in ${min}..${max}, got ${JSON.stringify(text)}\n`);
      process.exit(2);
    }
    return Number(text);
  };
  return {
    // A smoke run (bench/args.ts) keeps the command's flags but attacks for 2 s at most.
    seconds: benchSmoke() ? Math.min(2, int('seconds', 30, 1, 86_400)) : int('seconds', 30, 1, 86_400),
    nodes: int('nodes', 3, 1, 7),
    workers: int('workers', 12, 1, 256),
    seed: int('seed', Math.floor(Math.random() * 2 ** 31), 0, 2 ** 31),
    json: argv.includes('--json'),
    keep: argv.includes('--keep'),
    /** Only attacks whose kind starts with this (e.g. http.deep-json): to see what one costs. */
    only: get('only', ''),
  };
}

const args = parseArgs(process.argv.slice(2));
if (benchSmoke()) smokeNote();
const say = (line: string) => {
  if (!args.json) process.stdout.write(line + '\n');
};

// ---- a seeded generator (mulberry32): every choice below comes from it

class Gen {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  /** A name users might type, or one that breaks careless code. */
  name(): string {
    return this.pick(['k', 'key-1', 'constructor', '__proto__', 'toString', 'hasOwnProperty', '', ' ', 'a b', '%00', '\u00e9t\u00e9', '\ud83d\ude00', 'x'.repeat(1100), '../../etc/passwd', '*', 'shop', 'db-1']);
  }
}

// ---- the cluster

interface NodePorts {
  id: string;
  http: number;
  tcp: number;
  peer: number;
  pid: number;
}

function kvLab(argv: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', main, ...argv], { cwd: root, env: { ...process.env, KV_LAB_WATCH_PID: String(process.pid) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code) => resolve({ code, out }));
  });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

async function freeBasePort(nodes: number, gen: Gen): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + gen.int(20_000);
    const ports = Array.from({ length: nodes }, (_, i) => [base + i, base - 5000 + i + 1, base + 1000 + i + 1]).flat();
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return base;
  }
  throw new Error('no free base port found');
}

/** CPU seconds a process has used (user + system). */
function cpuSeconds(pid: number): number {
  return (cpuMs(pid) ?? NaN) / 1000;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// ---- what is counted

const stats = {
  connections: 0,
  requests: 0,
  bytesSent: 0,
  byKind: new Map<string, number>(),
  httpStatus: new Map<number, number>(),
  lineErrors: new Map<string, number>(),
  fiveXx: [] as string[],
  internal: [] as string[],
  probe: { ok: 0, failed: 0, failures: new Map<string, number>() },
};

const bump = <K>(m: Map<K, number>, k: K, by = 1) => m.set(k, (m.get(k) ?? 0) + by);

// ---- one connection: write pieces (with pauses), read what comes back, bounded in time

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function connection(port: number, pieces: { bytes: Buffer; pauseMs?: number }[], lifeMs: number): Promise<Buffer> {
  stats.connections++;
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const got: Buffer[] = [];
    let gotBytes = 0;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(got));
    };
    const timer = setTimeout(finish, lifeMs);
    socket.on('data', (d) => {
      // Keep the head of what came back: enough for status lines and errors.
      if (gotBytes < 256 * 1024) got.push(d);
      gotBytes += d.length;
    });
    socket.on('error', finish);
    socket.on('close', finish);
    socket.on('connect', async () => {
      for (const p of pieces) {
        if (done) return;
        if (p.pauseMs !== undefined) await sleep(p.pauseMs);
        if (done || socket.destroyed) return;
        socket.write(p.bytes);
        stats.bytesSent += p.bytes.length;
      }
      // Let the answers come, then hang up (a half-close: the server may answer and close).
      setTimeout(() => socket.end(), 300);
    });
  });
}

// ---- HTTP

function deepJson(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}

function httpRequest(gen: Gen, auth: string): string {
  const k = encodeURIComponent(gen.name());
  const routes: [string, string, string | null][] = [
    ['PUT', `/kv/${k}`, JSON.stringify({ value: gen.pick(['v', 1, null, { a: [1, 2] }, 'x'.repeat(gen.int(5000))]) })],
    ['GET', `/kv/${k}`, null],
    ['GET', `/key/${k}`, null],
    ['DELETE', `/kv/${k}`, null],
    ['POST', `/kv/${k}/cas`, JSON.stringify({ expected: null, value: 'c' })],
    ['POST', `/kv/${k}/append`, JSON.stringify({ value: 'a' })],
    ['GET', `/kv?start=${k}&limit=${gen.pick([1, 100, 10000, 0, -1, 'x'])}${gen.chance(0.3) ? '&reverse=true' : ''}`, null],
    ['POST', '/batch', JSON.stringify({ ops: [{ op: 'put', key: gen.name(), value: 1 }, { op: gen.pick(['put', 'delete', 'cas', 'nope']), key: 'b', value: 2 }] })],
    ['GET', '/db', null],
    ['PUT', `/db/${k}`, null],
    ['GET', `/db/${k}/kv/x`, null],
    ['GET', '/users', null],
    ['PUT', `/users/${k}`, JSON.stringify({ password: 'pw' })],
    ['POST', `/users/${k}/grants`, JSON.stringify({ db: gen.name(), perms: [gen.pick(['read', 'write', 'admin', 'root'])] })],
    ['POST', '/auth/login', JSON.stringify({ username: gen.pick(['admin', gen.name()]), password: 'wrong' })],
    ['GET', gen.pick(['/health', '/status', '/metrics', '/openapi.json', '/', '/nope', '//kv', '/kv/%ZZ']), null],
  ];
  const [method, path, body] = gen.pick(routes);
  const headers = [`${method} ${path} HTTP/1.1`, 'Host: fuzz'];
  if (gen.chance(0.7)) headers.push(`Authorization: ${gen.chance(0.8) ? auth : gen.pick(['Basic Zm9vOmJhcg==', 'Bearer x.1.y', 'Basic %%%', 'Digest x'])}`);
  if (body !== null) headers.push('Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`);
  return headers.join('\r\n') + '\r\n\r\n' + (body ?? '');
}

/** A valid request, changed the way a broken or hostile client would change it. */
function mutateHttp(gen: Gen, req: string): { pieces: { bytes: Buffer; pauseMs?: number }[]; kind: string; requests: number } {
  const b = Buffer.from(req);
  switch (gen.int(12)) {
    case 0:
      return { kind: 'http.valid', pieces: [{ bytes: b }], requests: 1 };
    case 1:
      return { kind: 'http.truncated', pieces: [{ bytes: b.subarray(0, gen.int(b.length)) }], requests: 1 };
    case 2: {
      const c = Buffer.from(b);
      for (let i = 0; i < 1 + gen.int(8); i++) c[gen.int(c.length)] = gen.int(256);
      return { kind: 'http.flipped', pieces: [{ bytes: c }], requests: 1 };
    }
    case 3:
      return { kind: 'http.huge-length', pieces: [{ bytes: Buffer.from(req.replace(/\r\n\r\n/, `\r\nContent-Length: ${gen.pick(['99999999999', '-1', '1e9', '4294967296', '0x10', ' 5'])}\r\n\r\n`)) }], requests: 1 };
    case 4: {
      const body = gen.chance(0.5) ? deepJson(100_000) : `{"value":${deepJson(gen.pick([63, 64, 65, 1000]))}}`;
      return { kind: 'http.deep-json', pieces: [{ bytes: Buffer.from(`PUT /kv/deep HTTP/1.1\r\nHost: f\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`) }], requests: 1 };
    }
    case 5: {
      const bad = Buffer.concat([Buffer.from('PUT /kv/'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(' HTTP/1.1\r\nHost: f\r\nContent-Length: 12\r\n\r\n{"value":"'), Buffer.from([0xed, 0xa0]), Buffer.from('"}')]);
      return { kind: 'http.bad-utf8', pieces: [{ bytes: bad }], requests: 1 };
    }
    case 6: {
      const n = 2 + gen.int(30);
      return { kind: 'http.pipelined', pieces: [{ bytes: Buffer.from(Array.from({ length: n }, () => req).join('')) }], requests: n };
    }
    case 7: {
      // Slowloris: a byte or a few at a time, for a few seconds at most.
      const pieces: { bytes: Buffer; pauseMs: number }[] = [];
      for (let i = 0; i < b.length && pieces.length < 40; i += 1 + gen.int(4)) pieces.push({ bytes: b.subarray(i, i + 1 + gen.int(4)), pauseMs: 50 + gen.int(150) });
      return { kind: 'http.slowloris', pieces, requests: 1 };
    }
    case 8:
      return { kind: 'http.long-header', pieces: [{ bytes: Buffer.from(`GET /health HTTP/1.1\r\nHost: f\r\nX-Long: ${'a'.repeat(gen.pick([9000, 70_000, 1_000_000]))}\r\n\r\n`) }], requests: 1 };
    case 9:
      return { kind: 'http.chunked', pieces: [{ bytes: Buffer.from(`PUT /kv/c HTTP/1.1\r\nHost: f\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n${gen.pick(['ffffffffffff', 'zz', '-1', '5'])}\r\nabc\r\n0\r\n\r\n`) }], requests: 1 };
    case 10: {
      const flood = Array.from({ length: 20 }, () => `POST /auth/login HTTP/1.1\r\nHost: f\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n${JSON.stringify({ username: 'admin', password: 'wrong-pw-000000' }).padEnd(40)}`).join('');
      return { kind: 'http.auth-flood', pieces: [{ bytes: Buffer.from(flood) }], requests: 20 };
    }
    default:
      return { kind: 'http.random', pieces: [{ bytes: gen.bytes(1 + gen.int(4096)) }], requests: 1 };
  }
}

function countHttp(reply: Buffer, kind: string): void {
  const text = reply.toString('latin1');
  for (const m of text.matchAll(/HTTP\/1\.[01] (\d{3})/g)) {
    const status = Number(m[1]);
    bump(stats.httpStatus, status);
    if (status >= 500 && stats.fiveXx.length < 20) stats.fiveXx.push(`${kind}: ${text.slice(m.index, m.index + 400).replace(/\r\n/g, ' | ')}`);
    else if (status >= 500) stats.fiveXx.push('…');
  }
}

// ---- the TCP client port: line protocol, and request frames after a 0x00 byte

function frame(payload: Buffer | string): Buffer {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

function lineAttack(gen: Gen, password: string): { pieces: { bytes: Buffer; pauseMs?: number }[]; kind: string; requests: number } {
  const tok = () => (gen.chance(0.5) ? gen.name() : JSON.stringify(gen.name()));
  const command = () =>
    gen.pick([
      `PUT ${tok()} ${tok()}`,
      `GET ${tok()}`,
      `DELETE ${tok()}`,
      `CAS ${tok()} a b`,
      `APPEND ${tok()} x`,
      `BATCHPUT ${tok()} 1 ${tok()} 2`,
      `RANGE "" "" ${gen.pick(['1', '10000', '0', '99999999999', 'x'])}`,
      `USE ${tok()}`,
      `AUTH admin ${gen.chance(0.5) ? password : 'wrong'}`,
      'PING',
      `${gen.name()} ${gen.name()}`,
      `GET "unterminated`,
    ]);
  switch (gen.int(9)) {
    case 0: {
      const n = 1 + gen.int(40);
      const auth = gen.chance(0.5) ? `AUTH admin ${password}\n` : '';
      return { kind: 'line.pipelined', pieces: [{ bytes: Buffer.from(auth + Array.from({ length: n }, command).join(gen.pick(['\n', '\r\n'])) + '\n') }], requests: n };
    }
    case 1:
      return { kind: 'line.auth-flood', pieces: [{ bytes: Buffer.from('AUTH admin wrong\n'.repeat(50)) }], requests: 50 };
    case 2:
      return { kind: 'line.bad-utf8', pieces: [{ bytes: Buffer.concat([Buffer.from('PUT k '), Buffer.from([0xc0, 0xaf, 0xed, 0xa0, 0x80, 0xff]), Buffer.from('\nGET k\n')]) }], requests: 2 };
    case 3:
      return { kind: 'line.long-line', pieces: [{ bytes: Buffer.from(`PUT k ${'v'.repeat(gen.pick([2000, 1_100_000, 5_000_000]))}\nPING\n`) }], requests: 2 };
    case 4: {
      const text = `AUTH admin ${password}\nPUT slow value\nGET slow\n`;
      const pieces: { bytes: Buffer; pauseMs: number }[] = [];
      for (let i = 0; i < text.length && pieces.length < 30; i += 2) pieces.push({ bytes: Buffer.from(text.slice(i, i + 2)), pauseMs: 100 + gen.int(100) });
      return { kind: 'line.slowloris', pieces, requests: 3 };
    }
    case 5: {
      // Request frames: a hello, then a mutated request.
      const hello = frame(JSON.stringify({ from: `fuzz-${gen.int(1000)}`, role: 'client' }));
      const req = JSON.stringify({ kind: 'req', client: 'fuzz', seq: gen.int(100), ackSeq: 0, db: gen.name(), op: gen.pick([{ f: 'read', key: gen.name() }, { f: 'write', key: gen.name(), value: 1 }, { f: 'range', start: '', end: null, limit: 10000, reverse: false }, { f: 'db.list' }, { f: 'auth.login', user: 'admin', password: 'wrong' }, { f: 'nope' }]) });
      const bodies = [frame(req), frame(req.slice(0, gen.int(req.length))), frame(`{"kind":"req","op":${deepJson(100_000)}}`), frame(gen.bytes(gen.int(2000))), Buffer.from([0x7f, 0xff, 0xff, 0xff])];
      return { kind: 'native.mutated', pieces: [{ bytes: Buffer.concat([hello, gen.pick(bodies)]) }], requests: 1 };
    }
    case 6:
      return { kind: 'native.bad-hello', pieces: [{ bytes: gen.pick([Buffer.from([0, 0x10, 0, 0]), frame(deepJson(2000)), frame(gen.bytes(100)), Buffer.concat([Buffer.from([0, 0, 0, 200]), gen.bytes(20)])]) }], requests: 1 };
    case 7: {
      const n = 1 + gen.int(10);
      return { kind: 'line.valid', pieces: [{ bytes: Buffer.from(`AUTH admin ${password}\n` + Array.from({ length: n }, (_, i) => gen.pick([`PUT f${i} v${i}`, `GET f${i}`, 'RANGE "" "" 50'])).join('\n') + '\n') }], requests: n + 1 };
    }
    default:
      return { kind: 'line.random', pieces: [{ bytes: gen.bytes(1 + gen.int(4096)) }], requests: 1 };
  }
}

function countLine(reply: Buffer, kind: string): void {
  const text = reply.toString('utf8');
  for (const m of text.matchAll(/^ERR ([a-z_]+)/gm)) {
    bump(stats.lineErrors, m[1] as string);
    if (m[1] === 'internal') stats.internal.push(`${kind}: ${text.slice(m.index, m.index + 300)}`);
  }
}

// ---- the peer port

function peerAttack(gen: Gen): { pieces: { bytes: Buffer; pauseMs?: number }[]; kind: string; requests: number } {
  const hello = (h: unknown) => frame(JSON.stringify(h));
  switch (gen.int(7)) {
    case 0:
      return { kind: 'peer.client-hello', pieces: [{ bytes: Buffer.concat([hello({ from: 'x', role: 'client' }), frame(`{"kind":"req","op":${deepJson(100_000)}}`)]) }], requests: 1 };
    case 1:
      return { kind: 'peer.bad-mac', pieces: [{ bytes: Buffer.concat([hello({ from: gen.pick(['n1', 'n2', 'n9']), role: 'peer', mac: '00'.repeat(32), nonce: 'x' }), frame('{"kind":"raft"}')]) }], requests: 1 };
    case 2:
      return { kind: 'peer.huge-length', pieces: [{ bytes: gen.pick([Buffer.from([0xff, 0xff, 0xff, 0xff]), Buffer.from([0x03, 0xff, 0xff, 0xff, 1, 2, 3])]) }], requests: 1 };
    case 3:
      return { kind: 'peer.deep-hello', pieces: [{ bytes: frame(deepJson(2000)) }], requests: 1 };
    case 4: {
      // A frame that never completes, trickled.
      const pieces: { bytes: Buffer; pauseMs: number }[] = [{ bytes: Buffer.from([0, 0, 0x0f, 0xff]), pauseMs: 0 }];
      for (let i = 0; i < 20; i++) pieces.push({ bytes: gen.bytes(8), pauseMs: 100 + gen.int(100) });
      return { kind: 'peer.slowloris', pieces, requests: 1 };
    }
    case 5:
      return { kind: 'peer.control', pieces: [{ bytes: hello({ from: 'lab', role: 'control', mac: 'ab'.repeat(32) }) }], requests: 1 };
    default:
      return { kind: 'peer.random', pieces: [{ bytes: gen.bytes(1 + gen.int(4096)) }], requests: 1 };
  }
}

// ---- the run

async function startCluster(dir: string, gen: Gen): Promise<{ nodes: NodePorts[]; password: string }> {
  const base = await freeBasePort(args.nodes, gen);
  const up = await kvLab(['cluster', 'up', '--dir', dir, '--nodes', String(args.nodes), '--base-port', String(base), '--no-connect']);
  if (up.code !== 0) throw new Error(`kv-lab cluster up failed (exit ${up.code}):\n${up.out}`);
  const password = readFileSync(join(dir, 'admin.password'), 'utf8').trim();
  const nodes = Array.from({ length: args.nodes }, (_, i) => {
    const id = `n${i + 1}`;
    return { id, http: base + i, tcp: base - 5000 + i + 1, peer: base + 1000 + i + 1, pid: Number(readFileSync(join(dir, 'run', `${id}.pid`), 'utf8').trim()) };
  });
  return { nodes, password };
}

/** A bearer token for the well-behaved client, taken before the crowd arrives (its logins are throttled per source address, and the crowd shares its address). */
async function login(n: NodePorts, password: string): Promise<string> {
  const body = JSON.stringify({ username: 'admin', password });
  const reply = (await connection(n.http, [{ bytes: Buffer.from(`POST /auth/login HTTP/1.1\r\nHost: p\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`) }], 10_000)).toString();
  const token = /"token":"([^"]+)"/.exec(reply)?.[1];
  if (token === undefined) throw new Error(`login failed: ${reply.slice(0, 300)}`);
  return `Bearer ${token}`;
}

/** The well-behaved client: a PUT and a GET a second on each node in turn, over HTTP. */
async function probe(nodes: NodePorts[], auth: string, i: number): Promise<void> {
  const n = nodes[i % nodes.length] as NodePorts;
  const body = JSON.stringify({ value: i });
  const reply = await connection(n.http, [{ bytes: Buffer.from(`PUT /kv/probe HTTP/1.1\r\nHost: p\r\nAuthorization: ${auth}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}GET /kv/probe HTTP/1.1\r\nHost: p\r\nAuthorization: ${auth}\r\nConnection: close\r\n\r\n`) }], 5000);
  const statuses = [...reply.toString('latin1').matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
  if (statuses.length === 2 && statuses.every((s) => s === '200')) stats.probe.ok++;
  else {
    stats.probe.failed++;
    bump(stats.probe.failures, `${n.id}: ${statuses.join(',') || 'no answer'}`);
  }
}

async function main_(): Promise<number> {
  const gen = new Gen(args.seed);
  const loadStart = loadavg().map((x) => Math.round(x * 10) / 10);
  const dir = mkdtempSync(join(tmpdir(), 'kv-lab-fuzz-'));
  say(`fuzz: seed ${args.seed}, ${args.nodes} node(s), ${args.seconds} s, ${args.workers} workers, cluster in ${dir}`);
  const { nodes, password } = await startCluster(dir, gen);
  const auth = `Basic ${Buffer.from(`admin:${password}`).toString('base64')}`;
  const bearer = await login(nodes[0] as NodePorts, password);
  const rss = new Map(nodes.map((n) => {
    const m = memoryMb(n.pid);
    return [n.id, { startMb: m?.rssMb ?? NaN, endMb: NaN, peakMb: m?.rssMb ?? NaN, hwmMb: NaN, cpuS: cpuSeconds(n.pid) }];
  }));
  const crashed = new Map<string, string>();
  const endAt = Date.now() + args.seconds * 1000;
  const sampler = setInterval(() => {
    for (const n of nodes) {
      if (crashed.has(n.id)) continue;
      if (!alive(n.pid)) {
        crashed.set(n.id, `process ${n.pid} exited`);
        continue;
      }
      const m = memoryMb(n.pid);
      const r = rss.get(n.id);
      if (m !== null && r !== undefined) r.peakMb = Math.max(r.peakMb, m.rssMb);
    }
  }, 500);
  const worker = async (w: number) => {
    const g = new Gen(args.seed * 1000 + w);
    while (Date.now() < endAt) {
      const n = g.pick(nodes);
      let which = g.int(10);
      let attack = which < 5 ? mutateHttp(g, httpRequest(g, auth)) : which < 8 ? lineAttack(g, password) : peerAttack(g);
      for (let i = 0; i < 10_000 && !attack.kind.startsWith(args.only); i++) {
        which = g.int(10);
        attack = which < 5 ? mutateHttp(g, httpRequest(g, auth)) : which < 8 ? lineAttack(g, password) : peerAttack(g);
      }
      const port = which < 5 ? n.http : which < 8 ? n.tcp : n.peer;
      stats.requests += attack.requests;
      bump(stats.byKind, attack.kind);
      const reply = await connection(port, attack.pieces, Math.min(6000, Math.max(500, endAt - Date.now() + 1000)));
      if (which < 5) countHttp(reply, attack.kind);
      else if (which < 8) countLine(reply, attack.kind);
    }
  };
  const prober = async () => {
    for (let i = 0; Date.now() < endAt; i++) {
      const t = Date.now();
      await probe(nodes, bearer, i);
      await sleep(Math.max(0, 1000 - (Date.now() - t)));
    }
  };
  const progress = setInterval(() => say(`  ${Math.round((endAt - Date.now()) / 1000)} s left: ${stats.connections} connections, ${stats.requests} requests, ${stats.fiveXx.length} 5xx, ${crashed.size} crashed, probe ${stats.probe.ok} ok / ${stats.probe.failed} failed`), 30_000);
  await Promise.all([prober(), ...Array.from({ length: args.workers }, (_, w) => worker(w))]);
  clearInterval(progress);
  clearInterval(sampler);
  for (const n of nodes) {
    const r = rss.get(n.id);
    const m = memoryMb(n.pid);
    if (r !== undefined && m !== null) {
      r.endMb = m.rssMb;
      r.hwmMb = m.peakRssMb;
      r.cpuS = Math.round((cpuSeconds(n.pid) - r.cpuS) * 10) / 10;
      r.peakMb = Math.max(r.peakMb, m.rssMb);
    }
    if (!alive(n.pid) && !crashed.has(n.id)) crashed.set(n.id, `process ${n.pid} exited`);
    const log = join(dir, 'logs', `${n.id}.log`);
    if (existsSync(log)) {
      const crash = readFileSync(log, 'utf8').split('\n').find((l) => l.includes('"serve.crashed"') || l.includes('"serve.fatal"'));
      if (crash !== undefined) crashed.set(n.id, crash.slice(0, 2000));
    }
  }
  await kvLab(['cluster', 'down', '--dir', dir]);
  const report = {
    seed: args.seed,
    nodes: args.nodes,
    seconds: args.seconds,
    connections: stats.connections,
    requests: stats.requests,
    megabytesSent: Math.round(stats.bytesSent / 1e5) / 10,
    crashes: crashed.size,
    crashed: Object.fromEntries(crashed),
    fiveXx: stats.fiveXx.length,
    fiveXxSamples: stats.fiveXx.slice(0, 10),
    lineInternalErrors: stats.internal.length,
    lineInternalSamples: stats.internal.slice(0, 10),
    httpStatus: Object.fromEntries([...stats.httpStatus].sort((a, b) => a[0] - b[0])),
    lineErrors: Object.fromEntries(stats.lineErrors),
    byKind: Object.fromEntries([...stats.byKind].sort()),
    probe: { ok: stats.probe.ok, failed: stats.probe.failed, failures: Object.fromEntries(stats.probe.failures) },
    rssMb: Object.fromEntries(rss),
    loadAverage: { start: loadStart, end: loadavg().map((x) => Math.round(x * 10) / 10) },
    dir: null as string | null,
  };
  const failed = report.crashes > 0 || report.fiveXx > 0 || report.lineInternalErrors > 0;
  // The nodes' logs explain a failure: kept then, and with --keep.
  if (args.keep || failed) report.dir = dir;
  else rmSync(dir, { recursive: true, force: true });
  if (args.json) process.stdout.write(JSON.stringify(report) + '\n');
  else {
    say(`sent ${report.requests} requests over ${report.connections} connections (${report.megabytesSent} MB) in ${args.seconds} s`);
    say(`crashes: ${report.crashes}${report.crashes > 0 ? ` ${JSON.stringify(report.crashed)}` : ''}`);
    say(`5xx responses: ${report.fiveXx}; line ERR internal: ${report.lineInternalErrors}`);
    for (const s of [...report.fiveXxSamples, ...report.lineInternalSamples]) say(`  ${s}`);
    say(`HTTP statuses: ${JSON.stringify(report.httpStatus)}`);
    say(`line errors: ${JSON.stringify(report.lineErrors)}`);
    say(`well-behaved client: ${report.probe.ok} ok, ${report.probe.failed} failed ${report.probe.failed > 0 ? JSON.stringify(report.probe.failures) : ''}`);
    for (const [id, r] of rss) say(`${id} RSS MB: start ${r.startMb}, end ${r.endMb}, peak sampled ${r.peakMb}, VmHWM ${r.hwmMb}; CPU during the run ${r.cpuS} s`);
    say(`machine load average (1, 5, 15 min): start ${report.loadAverage.start.join(' ')}, end ${report.loadAverage.end.join(' ')}`);
    if (report.dir !== null) say(`cluster files kept in ${report.dir}`);
  }
  return failed ? 1 : 0;
}

process.exitCode = await main_();
