import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer } from 'node:net';
import { encodeFrame, FrameDecoder, RealNet } from '../../../src/env/real/net.js';

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

N('frames survive any chunking of the byte stream', () => {
  const frames = ['a', '', 'hello world', 'x'.repeat(70000)].map((s) => enc.encode(s));
  const stream = Buffer.concat(frames.map((f) => encodeFrame(f)));
  for (const chunk of [1, 3, 7, 1000, stream.length]) {
    const d = new FrameDecoder();
    const out: string[] = [];
    for (let i = 0; i < stream.length; i += chunk) out.push(...d.push(stream.subarray(i, i + chunk)).map((b) => dec.decode(b)));
    assert.equal(out, frames.map((f) => dec.decode(f)));
  }
  assert.throws(() => new FrameDecoder(10).push(encodeFrame(new Uint8Array(11))), /exceeds the limit/);
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
  const node = new RealNet({ self: 'n1', role: 'peer', listen: peers.get('n1'), peers: new Map(), secret: 'right' });
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

N.run();
