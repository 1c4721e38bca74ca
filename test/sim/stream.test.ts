import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LineKvClient } from '../../src/client/line-client.js';
import type { Outcome } from '../../src/client/client.js';
import type { Env } from '../../src/env/env.js';
import type { Stream, StreamCloseReason } from '../../src/env/stream.js';
import { DEFAULT_DISK_OPTIONS } from '../../sim/disk.js';
import { NS_PER_MS, NS_PER_S } from '../../sim/scheduler.js';
import { STALL_RESET_NS, WINDOW_BYTES } from '../../sim/stream.js';
import { Trace } from '../../sim/trace.js';
import { World, type SimNode } from '../../sim/world.js';

// The simulated connections between clients and front doors, fault by fault: what a client sees
// must be what it would see over real TCP, because the lab's verdicts on the front door rest on
// it. The server here is a tiny line-protocol echo: `PUT k v` answers OK (and remembers), `GET k`
// answers the value; anything else echoes the line back.

class EchoServer implements SimNode {
  readonly accepted: Stream[] = [];
  readonly lines: string[] = [];
  readonly store = new Map<string, string>();
  closes: StreamCloseReason[] = [];
  ends = 0;
  constructor(readonly env: Env) {}
  stop(): void {}
  accept(stream: Stream): void {
    this.accepted.push(stream);
    let partial = '';
    stream.setHandler({
      data: (chunk) => {
        partial += chunk.toString('utf8');
        let nl: number;
        while ((nl = partial.indexOf('\n')) >= 0) {
          const line = partial.slice(0, nl);
          partial = partial.slice(nl + 1);
          this.lines.push(line);
          const [verb, k, v] = line.split(' ');
          if (verb === 'PUT') {
            this.store.set(k as string, v as string);
            stream.write('OK\n');
          } else if (verb === 'GET') stream.write(this.store.has(k as string) ? `VALUE ${this.store.get(k as string)}\n` : 'NIL\n');
          else if (verb === 'SILENT') {
            // applied, never answered
            this.store.set(k as string, v as string);
          } else stream.write(`${line}\n`);
        }
      },
      end: () => {
        this.ends++;
        stream.end();
      },
      close: (r) => this.closes.push(r),
      drain: () => {},
    });
  }
}

function setup(seed = 'streams') {
  const servers = new Map<string, EchoServer>();
  const world = new World({
    seed,
    nodeIds: ['n1', 'n2'],
    net: { latency: { minMs: 0.2, meanMs: 0.5, maxMs: 5 } },
    disk: DEFAULT_DISK_OPTIONS,
    trace: new Trace(false),
    createNode: (env) => {
      const s = new EchoServer(env);
      servers.set(env.id, s);
      return s;
    },
  });
  world.start();
  const client = world.clientEndpoint('c1');
  return { world, servers, client, run: (ms: number) => world.sched.runUntil(world.nowNs + ms * NS_PER_MS) };
}

/** A client-side recorder of everything a stream delivers. */
function recorder(stream: Stream) {
  const r = { text: '', ended: false, closed: null as null | StreamCloseReason, detail: undefined as string | undefined, drains: 0 };
  stream.setHandler({
    data: (c) => (r.text += c.toString('utf8')),
    end: () => (r.ended = true),
    close: (reason, detail) => {
      r.closed = reason;
      r.detail = detail;
    },
    drain: () => r.drains++,
  });
  return r;
}

const S = suite('simulated streams');

S('bytes arrive in order and whole, however the segments are cut', () => {
  const { client, servers, run } = setup();
  const s = client.dial('n1:line');
  const r = recorder(s);
  const lines = Array.from({ length: 200 }, (_, i) => `line-${i}-${'x'.repeat(i % 37)}`);
  for (const l of lines) s.write(`${l}\n`);
  run(100);
  assert.equal(servers.get('n1')?.lines, lines);
  assert.is(r.text, lines.map((l) => `${l}\n`).join(''));
});

S('half-close: the server sees end after the data, answers, and the connection closes', () => {
  const { client, servers, run } = setup();
  const s = client.dial('n1:line');
  const r = recorder(s);
  s.write('PUT a 1\n');
  s.end();
  run(50);
  assert.is(servers.get('n1')?.ends, 1);
  assert.is(r.text, 'OK\n');
  assert.ok(r.ended);
  assert.is(r.closed, 'closed');
});

S('a partition stalls a connection; healed in time, nothing is lost', () => {
  const { world, client, servers, run } = setup();
  const s = client.dial('n1:line');
  const r = recorder(s);
  s.write('PUT a 1\n');
  run(20);
  world.net.block('c1', 'n1');
  world.net.block('n1', 'c1');
  s.write('PUT b 2\n');
  run(2000);
  assert.is(r.text, 'OK\n', 'nothing crosses the partition');
  assert.is(servers.get('n1')?.lines.length, 1);
  world.net.heal();
  run(5000);
  assert.is(r.text, 'OK\nOK\n', 'the retransmission gets through once healed');
  assert.is(r.closed, null);
});

S('a connection stalled past the limit is reset on both sides', () => {
  const { world, client, servers, run } = setup();
  const s = client.dial('n1:line');
  const r = recorder(s);
  s.write('PUT a 1\n');
  run(20);
  world.net.block('c1', 'n1');
  s.write('PUT b 2\n');
  run(STALL_RESET_NS / NS_PER_MS + 5000);
  assert.is(r.closed, 'reset');
  assert.is(r.detail, 'ETIMEDOUT');
  assert.equal(servers.get('n1')?.closes, ['reset']);
});

S('a machine that loses power goes silent; once it is back, the next retransmission is reset', () => {
  const { world, client, run } = setup();
  const s = client.dial('n1:line');
  const r = recorder(s);
  s.write('PUT a 1\n');
  run(20);
  world.crash('n1');
  s.write('PUT b 2\n');
  run(3000);
  assert.is(r.closed, null, 'a powered-off machine answers nothing');
  world.restart('n1');
  run(5000);
  assert.is(r.closed, 'reset');
  assert.is(r.detail, 'ECONNRESET');
});

S('a process that dies on a running machine has its connections reset at once', () => {
  const { world, client, run } = setup();
  const s = client.dial('n1:line');
  const r = recorder(s);
  s.write('PUT a 1\n');
  run(20);
  world.processExit('n1', 'test');
  run(50);
  assert.is(r.closed, 'reset');
});

S('connecting to a node that is down is refused; through a partition it times out as refused', () => {
  const { world, client, run } = setup();
  world.crash('n2');
  const r = recorder(client.dial('n2:line'));
  run(50);
  assert.is(r.closed, 'refused');
  world.net.block('c1', 'n1');
  const r2 = recorder(client.dial('n1:line'));
  run(20_000);
  assert.is(r2.closed, 'refused');
  assert.is(r2.detail, 'ETIMEDOUT');
});

S('a paused process gets its bytes when it resumes', () => {
  const { world, client, servers, run } = setup();
  const s = client.dial('n1:line');
  const r = recorder(s);
  run(20);
  world.pause('n1');
  s.write('PUT a 1\n');
  run(1000);
  assert.is(r.text, '');
  world.resume('n1');
  run(50);
  assert.is(r.text, 'OK\n');
  assert.is(servers.get('n1')?.store.get('a'), '1');
});

S('flow control: past the window write() says wait, and a drain follows once the reader takes the bytes', () => {
  const { client, servers, run } = setup();
  const s = client.dial('n1:line');
  const r = recorder(s);
  run(20);
  const server = servers.get('n1')?.accepted[0];
  assert.ok(server !== undefined);
  server.pause();
  let accepted = true;
  for (let i = 0; i < 100 && accepted; i++) accepted = s.write(`ECHO ${'y'.repeat(8 * 1024)}\n`);
  assert.not.ok(accepted, `write() returned false within ${WINDOW_BYTES} bytes`);
  assert.ok(s.needsDrain);
  run(100);
  assert.is(r.drains, 0, 'no drain while the reader is paused');
  server.resume();
  run(100);
  assert.ok(r.drains >= 1);
  assert.not.ok(s.needsDrain);
});

const C = suite('line client over simulated streams');

function outcome(client: LineKvClient, op: Parameters<LineKvClient['invoke']>[0]): { value: Outcome | null } {
  const box: { value: Outcome | null } = { value: null };
  client.invoke(op, (o) => (box.value = o));
  return box;
}

C('a reset connection ends a write as info and a read as fail', () => {
  const { world, client, run } = setup();
  const lc = new LineKvClient({ address: 'n1:line', name: 'n1', dial: client.dial, clock: client.clock, timeoutMs: 5000 });
  const ok = outcome(lc, { f: 'write', key: 'a', value: 'v1' });
  run(50);
  assert.equal(ok.value, { type: 'ok', value: null, node: 'n1' });
  world.net.block('n1', 'c1'); // answers cannot come back
  const w = outcome(lc, { f: 'write', key: 'b', value: 'v2' });
  const rd = outcome(lc, { f: 'read', key: 'a' });
  run(50);
  world.processExit('n1', 'test'); // the kernel resets the connection
  world.net.heal();
  run(100);
  assert.is(w.value?.type, 'info', JSON.stringify(w.value));
  assert.is(rd.value?.type, 'fail', JSON.stringify(rd.value));
});

C('a refused connection fails a write outright: nothing was sent', () => {
  const { world, client, run } = setup();
  world.crash('n2');
  const lc = new LineKvClient({ address: 'n2:line', name: 'n2', dial: client.dial, clock: client.clock, timeoutMs: 5000 });
  const w = outcome(lc, { f: 'write', key: 'a', value: 'v' });
  run(100);
  assert.is(w.value?.type, 'fail');
});

C('an answer that does not come in time: info for a write (it may be applied), and the next operation opens a new connection', () => {
  const { client, servers, run } = setup();
  const lc = new LineKvClient({ address: 'n1:line', name: 'n1', dial: client.dial, clock: client.clock, timeoutMs: 200 });
  // The echo server applies SILENT but never answers it: the client cannot tell it from a lost answer.
  const silent = { verb: 'PUT' } as const;
  void silent;
  const w = outcome(lc, { f: 'write', key: 'a', value: 'v' });
  run(50);
  assert.is(w.value?.type, 'ok');
  const server = servers.get('n1') as EchoServer;
  server.accepted[0]?.pause(); // the server stops reading: the write's answer never comes
  const late = outcome(lc, { f: 'write', key: 'b', value: 'w' });
  run(500);
  assert.is(late.value?.type, 'info');
  const after = outcome(lc, { f: 'read', key: 'a' });
  run(50);
  assert.equal(after.value, { type: 'ok', value: 'v', node: 'n1' });
  assert.is(server.accepted.length, 2, 'a second connection');
});

S('the same seed gives the same deliveries (segment cuts included)', () => {
  const runOnce = () => {
    const { client, servers, run } = setup('same');
    const s = client.dial('n1:line');
    recorder(s);
    for (let i = 0; i < 50; i++) s.write(`line ${i} ${'z'.repeat(i)}\n`);
    run(NS_PER_S / NS_PER_MS);
    return servers.get('n1')?.lines.join('|');
  };
  assert.is(runOnce(), runOnce());
});

S.run();
C.run();
