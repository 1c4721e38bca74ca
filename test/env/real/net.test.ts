import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHmac } from 'node:crypto';
import { connect, createServer, type Socket } from 'node:net';
import { CLIENT_FRAME_BYTES_MAX, CLIENT_ON_PEER_PORT, encodeFrame, FrameDecoder, FrameError, HELLO_BYTES_MAX, PEER_PORT_ACCEPTS_CLIENTS, RealNet, type RealNetOptions } from '../../../src/env/real/net.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const poll = () => (cond() ? resolve() : Date.now() - start > ms ? reject(new Error('timed out waiting')) : setTimeout(poll, 5));
    poll();
  });
}

const N = suite('real TCP net');

N('a member whose event loop stalls past the hello deadline still completes the handshake (issue 16)', async () => {
  // The stall lands while the connection is being set up: the dialler's deadline was the
  // acceptor's 5 s, so a leader dialling a new member that stalled 11-20 s timed out each time.
  const [pa, pb] = [await freePort(), await freePort()];
  const peers = new Map([['a', { host: '127.0.0.1', port: pa }], ['b', { host: '127.0.0.1', port: pb }]]);
  const warnings: string[] = [];
  const log = { log: (_level: string, event: string, detail?: Record<string, unknown>) => warnings.push(`${event} ${String(detail?.error ?? '')}`) };
  const limits = { helloDeadlineMs: 100 };
  const a = new RealNet({ self: 'a', role: 'peer', listen: peers.get('a'), peers, secret: 's3cret', reconnectDelayMsMin: 2000, limits, log: log as never });
  const b = new RealNet({ self: 'b', role: 'peer', listen: peers.get('b'), peers, secret: 's3cret', reconnectDelayMsMin: 2000, limits, log: log as never });
  await a.listen();
  await b.listen();
  const got: string[] = [];
  b.onReceive((from, f) => got.push(`${from}:${dec.decode(f)}`));
  a.send('b', enc.encode('hi'));
  const until = Date.now() + 300;
  while (Date.now() < until) {
    // The event loop is stalled: nothing is read, no timer runs.
  }
  await waitFor(() => got.length > 0, 1500);
  assert.equal(got, ['a:hi']);
  assert.equal(warnings.filter((w) => /handshake|hello/.test(w)), [], 'no connection dropped for its handshake');
  a.close();
  b.close();
});

N('frames survive any chunking of the byte stream', () => {
  const frames = ['a', '', 'hello world', 'x'.repeat(70000)].map((s) => enc.encode(s));
  const stream = Buffer.concat(frames.map((f) => encodeFrame(f)));
  for (const chunk of [1, 3, 7, 1000, stream.length]) {
    const d = new FrameDecoder();
    const out: string[] = [];
    for (let i = 0; i < stream.length; i += chunk) out.push(...d.push(stream.subarray(i, i + chunk)).map((b) => dec.decode(b)));
    assert.equal(out, frames.map((f) => dec.decode(f)));
  }
  assert.throws(() => new FrameDecoder(10).push(encodeFrame(new Uint8Array(11))), (e: unknown) => e instanceof FrameError && /exceeds the limit/.test(e.message));
});

N('a frame trickled in small chunks is copied once, not once per chunk (issue 16, item 6)', () => {
  // Buffer.concat on every chunk made a 63 MiB frame sent slowly cost 16.9 s of CPU: the bytes
  // copied grew with the square of the frame. Count the bytes copied while 1 MiB arrives in 1 KiB chunks.
  const frame = encodeFrame(new Uint8Array(1024 * 1024).fill(7));
  let copied = 0;
  const concat = Buffer.concat;
  const copy = Buffer.prototype.copy;
  Buffer.concat = ((list: readonly Uint8Array[], total?: number) => {
    copied += total ?? list.reduce((n, b) => n + b.length, 0);
    return concat(list, total);
  }) as typeof Buffer.concat;
  Buffer.prototype.copy = function (this: Buffer, ...args: Parameters<Buffer['copy']>) {
    const n = copy.apply(this, args);
    copied += n;
    return n;
  };
  const d = new FrameDecoder();
  const out: Buffer[] = [];
  try {
    for (let i = 0; i < frame.length; i += 1024) out.push(...d.push(frame.subarray(i, i + 1024)));
  } finally {
    Buffer.concat = concat;
    Buffer.prototype.copy = copy;
  }
  assert.is(out.length, 1);
  assert.ok(out[0]?.every((b) => b === 7));
  assert.ok(copied <= 2 * frame.length, `copied ${copied} bytes for a frame of ${frame.length}`);
  assert.is(d.pendingBytes, 0);
});

N('two peers exchange frames, and frames sent before the peer is up are delivered once it is', async () => {
  const [pa, pb] = [await freePort(), await freePort()];
  const peers = new Map([['a', { host: '127.0.0.1', port: pa }], ['b', { host: '127.0.0.1', port: pb }]]);
  const a = new RealNet({ self: 'a', role: 'peer', listen: peers.get('a'), peers, secret: 's3cret', reconnectDelayMsMin: 10 });
  const b = new RealNet({ self: 'b', role: 'peer', listen: peers.get('b'), peers, secret: 's3cret', reconnectDelayMsMin: 10 });
  const gotB: string[] = [];
  const gotA: string[] = [];
  b.onReceive((from, f) => gotB.push(`${from}:${dec.decode(f)}`));
  a.onReceive((from, f) => gotA.push(`${from}:${dec.decode(f)}`));
  await a.listen();
  a.send('b', enc.encode('early'));
  await new Promise((r) => setTimeout(r, 50));
  await b.listen();
  a.send('b', enc.encode('later'));
  b.send('a', enc.encode('back'));
  await waitFor(() => gotB.length === 2 && gotA.length === 1);
  assert.equal(gotB, ['a:early', 'a:later']);
  assert.equal(gotA, ['b:back']);
  a.close();
  b.close();
});

N('a peer without the cluster secret is refused; a client is answered on its own connection', async () => {
  const port = await freePort();
  const peers = new Map([['n1', { host: '127.0.0.1', port }]]);
  const node = new RealNet({ self: 'n1', role: 'peer', listen: peers.get('n1'), peers: new Map(), secret: 'right', acceptClients: true });
  const got: string[] = [];
  node.onReceive((from, f) => {
    got.push(`${from}:${dec.decode(f)}`);
    node.send(from, enc.encode(`echo ${dec.decode(f)}`));
  });
  await node.listen();
  const intruder = new RealNet({ self: 'n2', role: 'peer', peers, secret: 'wrong', reconnectDelayMsMin: 10 });
  intruder.send('n1', enc.encode('let me in'));
  const client = new RealNet({ self: 'client-7', role: 'client', peers, secret: null });
  const answers: string[] = [];
  client.onReceive((from, f) => answers.push(`${from}:${dec.decode(f)}`));
  client.send('n1', enc.encode('hi'));
  await waitFor(() => answers.length === 1);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(got, ['client-7:hi'], 'the intruder was never heard');
  assert.equal(answers, ['n1:echo hi']);
  intruder.close();
  client.close();
  node.close();
});

N('a dropped connection is re-established', async () => {
  const [pa, pb] = [await freePort(), await freePort()];
  const peers = new Map([['a', { host: '127.0.0.1', port: pa }], ['b', { host: '127.0.0.1', port: pb }]]);
  const a = new RealNet({ self: 'a', role: 'peer', peers, secret: null, reconnectDelayMsMin: 10 });
  let b = new RealNet({ self: 'b', role: 'peer', listen: peers.get('b'), peers, secret: null });
  const got: string[] = [];
  b.onReceive((_, f) => got.push(dec.decode(f)));
  await b.listen();
  a.send('b', enc.encode('one'));
  await waitFor(() => got.length === 1);
  b.close();
  await new Promise((r) => setTimeout(r, 50));
  b = new RealNet({ self: 'b', role: 'peer', listen: peers.get('b'), peers, secret: null });
  b.onReceive((_, f) => got.push(dec.decode(f)));
  await b.listen();
  await new Promise((r) => setTimeout(r, 100));
  a.send('b', enc.encode('two'));
  await waitFor(() => got.includes('two'));
  a.close();
  b.close();
});


/** A raw TCP client of a RealNet listener: reads its frames, sends what the test says. */
async function raw(port: number) {
  const socket: Socket = connect({ host: '127.0.0.1', port });
  const d = new FrameDecoder();
  const frames: Buffer[] = [];
  let closed = false;
  socket.on('data', (c) => frames.push(...d.push(c)));
  socket.on('close', () => (closed = true));
  socket.on('error', () => {});
  await waitFor(() => frames.length > 0);
  const nonce = (JSON.parse((frames.shift() as Buffer).toString()) as { nonce: string }).nonce;
  return { socket, frames, nonce, isClosed: () => closed };
}

const hello = (from: string, role: string, secret: string | null, nonce: string) =>
  encodeFrame(Buffer.from(JSON.stringify({ from, role, mac: secret === null ? null : createHmac('sha256', secret).update(`${nonce}\n${from}`).digest('hex') })));

async function listener(extra: Partial<RealNetOptions> = {}) {
  const port = await freePort();
  const node = new RealNet({ self: 'n1', role: 'peer', listen: { host: '127.0.0.1', port }, peers: new Map(), secret: 's3cret', ...extra });
  const got: string[] = [];
  node.onReceive((from, f) => got.push(`${from}:${f.length}`));
  await node.listen();
  return { node, port, got };
}

N('nothing beyond a bounded hello is read before the hello is verified (issue 16, items 1 and 6)', async () => {
  const { node, port, got } = await listener();
  // A "hello" the size of a frame: dropped at its length, before its bytes arrive.
  const big = await raw(port);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(HELLO_BYTES_MAX + 1);
  big.socket.write(head);
  await waitFor(big.isClosed);
  // A peer without the secret: its frames never reach the node.
  const intruder = await raw(port);
  intruder.socket.write(Buffer.concat([hello('n2', 'peer', 'wrong', intruder.nonce), encodeFrame(Buffer.from('{"kind":"raft"}'))]));
  await waitFor(intruder.isClosed);
  // A peer with it may send a hello and a large frame in the same chunk (the old byte count of
  // the hello phase dropped such a connection).
  const peer = await raw(port);
  peer.socket.write(Buffer.concat([hello('n2', 'peer', 's3cret', peer.nonce), encodeFrame(Buffer.alloc(100_000))]));
  await waitFor(() => got.length === 1);
  assert.equal(got, ['n2:100000']);
  assert.not.ok(peer.isClosed());
  peer.socket.destroy();
  node.close();
});

N('a client is bounded as a sender that proved nothing: frame size, incomplete frames, its hello (issue 16, item 6)', async () => {
  const { node, port, got } = await listener({ acceptClients: true, limits: { clientFrameDeadlineMs: 100, helloDeadlineMs: 200, clientPendingBytesMax: 2 * 1024 * 1024 } });
  const c = await raw(port);
  c.socket.write(Buffer.concat([hello('c1', 'client', null, c.nonce), encodeFrame(Buffer.from('{"kind":"req"}'))]));
  await waitFor(() => got.length === 1);
  // A frame over the client limit: dropped at its length.
  const head = Buffer.alloc(4);
  head.writeUInt32BE(CLIENT_FRAME_BYTES_MAX + 1);
  c.socket.write(head);
  await waitFor(c.isClosed);
  // A frame that never completes: dropped at the deadline.
  const slow = await raw(port);
  slow.socket.write(hello('c2', 'client', null, slow.nonce));
  const partial = encodeFrame(Buffer.alloc(1000)).subarray(0, 500);
  slow.socket.write(partial);
  await waitFor(slow.isClosed);
  // A connection that says nothing: dropped at the hello deadline.
  const mute = await raw(port);
  await waitFor(mute.isClosed);
  // Clients together may not hold more than clientPendingBytesMax of incomplete frames.
  const a = await raw(port);
  const b = await raw(port);
  a.socket.write(hello('ca', 'client', null, a.nonce));
  b.socket.write(hello('cb', 'client', null, b.nonce));
  const half = encodeFrame(Buffer.alloc(2 * 1024 * 1024)).subarray(0, 1024 * 1024 + 512 * 1024);
  a.socket.write(half);
  await new Promise((r) => setTimeout(r, 30));
  b.socket.write(half);
  await waitFor(() => a.isClosed() || b.isClosed());
  assert.equal(node.connectionStats().clientPendingBytes <= 2 * 1024 * 1024, true);
  a.socket.destroy();
  b.socket.destroy();
  await waitFor(() => node.connectionStats().clients === 0);
  assert.equal(node.connectionStats(), { pendingHellos: 0, clients: 0, clientPendingBytes: 0, inbound: 0 });
  node.close();
});

N('a client that sends and never reads is cut off once its answers pile up (issue 16)', async () => {
  const port = await freePort();
  const node = new RealNet({ self: 'n1', role: 'peer', listen: { host: '127.0.0.1', port }, peers: new Map(), secret: 's3cret', acceptClients: true, limits: { inboundWriteBytesMax: 4 * 1024 * 1024 } });
  const big = new Uint8Array(1024 * 1024);
  let answered = 0;
  node.onReceive((from) => {
    answered++;
    node.send(from, big);
  });
  await node.listen();
  const c = await raw(port);
  c.socket.pause(); // reads nothing more
  c.socket.write(hello('c1', 'client', null, c.nonce));
  for (let i = 0; i < 100; i++) c.socket.write(encodeFrame(Buffer.from('{"kind":"req"}')));
  await waitFor(() => answered > 0 && node.connectionStats().clients === 0);
  assert.ok(answered < 100 || node.connectionStats().inbound === 0, 'the connection was closed');
  c.socket.destroy();
  node.close();
});

N('a client hello on the peer port is refused, and told why (issue 16, item 1)', async () => {
  assert.is(PEER_PORT_ACCEPTS_CLIENTS, false, 'clients use the TCP client port');
  const { node, port, got } = await listener();
  const c = await raw(port);
  c.socket.write(Buffer.concat([hello('c1', 'client', null, c.nonce), encodeFrame(Buffer.from('{"kind":"req"}'))]));
  await waitFor(c.isClosed);
  assert.equal(got, []);
  assert.equal(c.frames.map((f) => JSON.parse(f.toString()) as unknown), [{ refused: CLIENT_ON_PEER_PORT }]);
  assert.match(CLIENT_ON_PEER_PORT, /TCP client port/);
  node.close();
});

N('a peer dials only a member that proves the secret: an impostor at its address gets nothing and is not heard', async () => {
  const port = await freePort();
  const received: Buffer[] = [];
  const impostor = createServer((s) => {
    s.on('error', () => {});
    s.write(encodeFrame(Buffer.from(JSON.stringify({ nonce: 'abc' }))));
    s.write(encodeFrame(Buffer.from(JSON.stringify({ proof: '00'.repeat(32) }))));
    s.write(encodeFrame(Buffer.from('{"kind":"raft","forged":true}')));
    const d = new FrameDecoder();
    s.on('data', (c) => received.push(...d.push(c)));
  });
  await new Promise<void>((r) => impostor.listen(port, '127.0.0.1', () => r()));
  const a = new RealNet({ self: 'a', role: 'peer', peers: new Map([['b', { host: '127.0.0.1', port }]]), secret: 's3cret', reconnectDelayMsMin: 10 });
  const heard: string[] = [];
  a.onReceive((from, f) => heard.push(`${from}:${new TextDecoder().decode(f)}`));
  a.send('b', enc.encode('a secret log entry'));
  await waitFor(() => received.length >= 1);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(heard, [], 'frames from the impostor are not delivered');
  assert.ok(received.every((f) => !f.toString().includes('a secret log entry')), 'queued frames are not sent to it');
  a.close();
  impostor.close();
});

N.run();
