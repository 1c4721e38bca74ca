import fc from 'fast-check';
import * as net from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Gateway, type LocalNode } from '../../../src/frontdoor/gateway.js';
import { LineSession } from '../../../src/frontdoor/line/session.js';
import { TcpListener } from '../../../src/host/socket-stream.js';
import { RealClock } from '../../../src/env/real/clock.js';
import { silentLogger } from '../../../src/env/log.js';
import type { NodeStatus, Reply } from '../../../src/node/node.js';
import type { Request, Result } from '../../../src/node/protocol.js';
import { storageStatus } from '../../../src/storage/index.js';

// The line front end's framing: however a client's bytes are cut into chunks (pipelined commands,
// lines split across reads, CRLF, blank lines, bytes that are not UTF-8, ASCII and not), every
// line gets the reply it gets when sent alone, in order.

/** Answers a read with the key it was asked for, so a reply shows which line it belongs to. */
class EchoNode implements LocalNode {
  submit(req: Request, reply: Reply): void {
    const op = req.op as { f: string; key?: string };
    reply({ ok: true, value: op.f === 'read' ? `got:${op.key}` : null });
  }
  status(): NodeStatus {
    return { id: 'n1', replication: 'none', engine: 'memory', role: 'leader', term: 0, leader: 'n1', members: ['n1'], commitIndex: 0, appliedIndex: 0, inFlight: 0, counters: { requests: 0, writes: 0, reads: 0, errors: 0 }, storage: storageStatus([]) };
  }
}

/**
 * EchoNode's answers, but a read of a key of even length is answered at once (readNow) and
 * everything else a turn later: replies complete out of order, and must still leave in order.
 */
class MixedNode extends EchoNode {
  override submit(req: Request, reply: Reply): void {
    setImmediate(() => super.submit(req, reply));
  }
  readNow(req: Request): Result | null {
    const key = (req.op as { key?: string }).key;
    return req.op.f === 'read' && key !== undefined && key.length % 2 === 0 ? { ok: true, value: `got:${key}` } : null;
  }
}

async function start(node: LocalNode = new EchoNode()): Promise<{ port: number; close: () => void }> {
  const gateway = new Gateway({ node, clientId: 'n1.gw.test', forward: null, clock: new RealClock(), log: silentLogger, authEnabled: false, requestTimeoutMs: 5000, basicCacheTtlMs: 60_000 });
  const streams = new Set<{ destroy(): void }>();
  const listener = new TcpListener('127.0.0.1', 0, (stream) => {
    streams.add(stream);
    new LineSession(stream, { gateway, log: silentLogger, soon: queueMicrotask });
  });
  const port = await listener.listen();
  return {
    port,
    close: () => {
      for (const s of streams) s.destroy();
      listener.close();
      gateway.stop();
    },
  };
}

/** Sends the pieces one write at a time (with a pause, so each arrives as a chunk of its own) and collects `lines` reply lines. */
async function exchange(port: number, pieces: Buffer[], lines: number): Promise<string[]> {
  const s = await new Promise<net.Socket>((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1', () => resolve(c));
    c.once('error', reject);
  });
  s.setNoDelay(true);
  let text = '';
  const got = lines === 0 ? Promise.resolve([]) : new Promise<string[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out; got ${JSON.stringify(text)}`)), 5000);
    s.on('data', (d) => {
      text += d.toString('utf8');
      const all = text.split('\n');
      if (all.length - 1 >= lines) {
        clearTimeout(timer);
        resolve(all.slice(0, lines));
      }
    });
  });
  for (const p of pieces) {
    s.write(p);
    await new Promise((r) => setTimeout(r, 1));
  }
  try {
    return await got;
  } finally {
    s.destroy();
  }
}

const L = suite('line front end framing');

const commandLine = fc.oneof(
  fc.constantFrom('PING', 'ping', '', '   ', 'GET', 'BOGUS x', 'GET "unterminated', 'USE bad$name'),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 }).map((k) => `GET ${JSON.stringify(k)}`),
  fc.stringMatching(/^[a-z0-9:]{1,8}$/).map((k) => `GET ${k}`),
);
const line = fc.record({ text: commandLine, crlf: fc.boolean(), invalid: fc.boolean() }).map(({ text, crlf, invalid }) => {
  const body = invalid ? Buffer.concat([Buffer.from('GET '), Buffer.from([0xff, 0xc3])]) : Buffer.from(text, 'utf8');
  return Buffer.concat([body, Buffer.from(crlf ? '\r\n' : '\n')]);
});

for (const [name, node] of [['answered in submit', () => new EchoNode()], ['some answered at once, the rest a turn later', () => new MixedNode()]] as const) L(`replies are the same however the bytes are cut into chunks, ${name} (fast-check)`, async () => {
  const server = await start(node());
  try {
    await fc.assert(
      fc.asyncProperty(fc.array(line, { minLength: 1, maxLength: 12 }), fc.array(fc.nat(), { maxLength: 6 }), async (lines, cuts) => {
        // Reference: one line at a time.
        const expected: string[] = [];
        for (const l of lines) {
          const blank = l.toString('utf8').trim() === '';
          expected.push(...(await exchange(server.port, [l], blank ? 0 : 1)));
        }
        const all = Buffer.concat(lines);
        const at = [...new Set(cuts.map((c) => c % (all.length + 1)))].sort((a, b) => a - b);
        const pieces: Buffer[] = [];
        let from = 0;
        for (const c of [...at, all.length]) {
          if (c > from) pieces.push(all.subarray(from, c));
          from = Math.max(from, c);
        }
        assert.equal(await exchange(server.port, pieces, expected.length), expected);
      }),
      { numRuns: 60 },
    );
  } finally {
    server.close();
  }
});

L('a line longer than the limit is skipped with too_large, whether it arrives whole or in pieces', async () => {
  const server = await start();
  try {
    const long = Buffer.from('GET ' + 'k'.repeat(4 * 1024 * 1024 + 10) + '\nGET after\n');
    assert.equal(await exchange(server.port, [long], 2), ['ERR too_large line longer than 4194304 bytes; skipped', 'VALUE got:after']);
    const pieces = [long.subarray(0, 1000), long.subarray(1000, 3_000_000), long.subarray(3_000_000)];
    assert.equal(await exchange(server.port, pieces, 2), ['ERR too_large line longer than 4194304 bytes; skipped', 'VALUE got:after']);
    // Non-ASCII text takes the line-at-a-time path; the limit holds there too.
    const wide = Buffer.from('GET ' + 'é'.repeat(2 * 1024 * 1024 + 10) + '\nGET après\n');
    assert.equal(await exchange(server.port, [wide], 2), ['ERR too_large line longer than 4194304 bytes; skipped', 'VALUE got:après']);
  } finally {
    server.close();
  }
});

L.run();
