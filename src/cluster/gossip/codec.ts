import { assert } from '../../util/assert.js';
import type { GossipMessage, MemberMeta, MemberSnapshot, MemberState, Update } from './types.js';

/**
 * The wire format of gossip frames: compact, bounded, and checked field by field on the way in.
 * A frame that is malformed, oversized or of an unknown version is refused with a reason (the
 * node drops and counts it); decoding never throws at its caller.
 *
 *   frame    := MAGIC(0x47 'G') VERSION(1) type:u8 body
 *   ping     := seq:u32 source:id target:id updates
 *   ack      := seq:u32 source:id updates
 *   ping-req := seq:u32 source:id target:id flags:u8 (bit 0: wantNack) updates
 *   nack     := seq:u32 source:id updates
 *   gossip   := source:id updates
 *   push-pull:= source:id flags:u8 (bit 0: join, bit 1: reply) count:u32 member{count}
 *   updates  := count:u8 update{count}
 *   update   := kind:u8 (1 alive, 2 suspect, 3 dead) id:id incarnation:u32
 *               alive: meta | suspect: from:id | dead: from:id left:u8
 *   member   := id:id incarnation:u32 state:u8 (0 alive, 1 suspect, 2 dead, 3 left) meta
 *   meta     := zone:str version:str weight:u16 count:u8 (name:str address:str){count}
 *   id, str  := length:u8 then that many printable ASCII bytes
 *
 * Integers are big-endian. The first byte tells gossip frames apart from the node's other frames
 * on a shared Net (Raft's binary frames start with 0x00, JSON ones with '{').
 */

export const GOSSIP_MAGIC = 0x47;
export const GOSSIP_VERSION = 1;

export const MEMBER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,63}$/;
const ADDRESS_NAME = /^[a-z][a-z0-9_-]{0,15}$/;
export const META_TEXT_BYTES_MAX = 64;
export const ADDRESS_BYTES_MAX = 128;
export const ADDRESSES_MAX = 8;
export const WEIGHT_MAX = 10_000;
export const UPDATES_PER_FRAME_MAX = 255;
const U32_MAX = 0xffffffff;

const TYPE_CODES = { ping: 1, ack: 2, 'ping-req': 3, nack: 4, gossip: 5, 'push-pull': 6 } as const;
const STATES: readonly MemberState[] = ['alive', 'suspect', 'dead', 'left'];
const UPDATE_KINDS = { alive: 1, suspect: 2, dead: 3 } as const;

/** The largest a member entry can be: bounds a full state by membersMax × this. */
export const MEMBER_BYTES_MAX = 1 + 64 + 4 + 1 + (1 + META_TEXT_BYTES_MAX) * 2 + 2 + 1 + ADDRESSES_MAX * (1 + 16 + 1 + ADDRESS_BYTES_MAX);

// ---------------------------------------------------------------- validation of values

function printable(s: string, max: number): boolean {
  if (s.length > max) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

export function validMemberId(id: unknown): id is string {
  return typeof id === 'string' && MEMBER_ID_PATTERN.test(id);
}

/** What is wrong with `meta`, or null. */
export function validateMeta(meta: MemberMeta): string | null {
  if (typeof meta.zone !== 'string' || !printable(meta.zone, META_TEXT_BYTES_MAX)) return `zone must be at most ${META_TEXT_BYTES_MAX} printable ASCII characters`;
  if (typeof meta.version !== 'string' || !printable(meta.version, META_TEXT_BYTES_MAX)) return `version must be at most ${META_TEXT_BYTES_MAX} printable ASCII characters`;
  if (!Number.isInteger(meta.weight) || meta.weight < 1 || meta.weight > WEIGHT_MAX) return `weight must be an integer in [1, ${WEIGHT_MAX}] (hundredths), got ${String(meta.weight)}`;
  if (!Array.isArray(meta.addresses) || meta.addresses.length > ADDRESSES_MAX) return `at most ${ADDRESSES_MAX} addresses`;
  let previous = '';
  for (const pair of meta.addresses) {
    const [name, address] = pair;
    if (typeof name !== 'string' || !ADDRESS_NAME.test(name)) return `address name ${JSON.stringify(name)} must be 1-16 of a-z, 0-9, _ and -, starting with a letter`;
    if (name <= previous) return 'address names must be unique and sorted';
    if (typeof address !== 'string' || address.length === 0 || !printable(address, ADDRESS_BYTES_MAX)) return `address ${name} must be 1-${ADDRESS_BYTES_MAX} printable ASCII characters`;
    previous = name;
  }
  return null;
}

// ---------------------------------------------------------------- sizes

const idSize = (s: string): number => 1 + s.length;

export function metaSize(m: MemberMeta): number {
  let n = idSize(m.zone) + idSize(m.version) + 2 + 1;
  for (const [name, address] of m.addresses) n += idSize(name) + idSize(address);
  return n;
}

export function updateSize(u: Update): number {
  const head = 1 + idSize(u.id) + 4;
  if (u.kind === 'alive') return head + metaSize(u.meta);
  if (u.kind === 'suspect') return head + idSize(u.from);
  return head + idSize(u.from) + 1;
}

export function snapshotSize(s: MemberSnapshot): number {
  return idSize(s.id) + 4 + 1 + metaSize(s.meta);
}

/** The bytes of a frame of `type` before its updates (or members), updates' count byte included. */
export function headerSize(m: GossipMessage): number {
  const base = 3 + idSize(m.source);
  switch (m.type) {
    case 'ping':
      return base + 4 + idSize(m.target) + 1;
    case 'ping-req':
      return base + 4 + idSize(m.target) + 1 + 1;
    case 'ack':
    case 'nack':
      return base + 4 + 1;
    case 'gossip':
      return base + 1;
    case 'push-pull':
      return base + 1 + 4;
  }
}

export function messageSize(m: GossipMessage): number {
  let n = headerSize(m);
  if (m.type === 'push-pull') for (const s of m.members) n += snapshotSize(s);
  else for (const u of m.updates) n += updateSize(u);
  return n;
}

// ---------------------------------------------------------------- encoding

class Writer {
  readonly buf: Uint8Array;
  private pos = 0;
  constructor(size: number) {
    this.buf = new Uint8Array(size);
  }
  u8(v: number): void {
    this.buf[this.pos++] = v;
  }
  u16(v: number): void {
    this.buf[this.pos++] = v >>> 8;
    this.buf[this.pos++] = v & 0xff;
  }
  u32(v: number): void {
    assert(Number.isInteger(v) && v >= 0 && v <= U32_MAX, () => `encode: ${v} is not a uint32`);
    this.u16(v >>> 16);
    this.u16(v & 0xffff);
  }
  str(s: string): void {
    assert(s.length <= 255, () => `encode: string of ${s.length} characters`);
    this.u8(s.length);
    for (let i = 0; i < s.length; i++) this.buf[this.pos++] = s.charCodeAt(i);
  }
  done(): Uint8Array {
    assert(this.pos === this.buf.length, () => `encode: wrote ${this.pos} of ${this.buf.length} bytes`);
    return this.buf;
  }
}

function writeMeta(w: Writer, m: MemberMeta): void {
  w.str(m.zone);
  w.str(m.version);
  w.u16(m.weight);
  w.u8(m.addresses.length);
  for (const [name, address] of m.addresses) {
    w.str(name);
    w.str(address);
  }
}

function writeUpdate(w: Writer, u: Update): void {
  w.u8(UPDATE_KINDS[u.kind]);
  w.str(u.id);
  w.u32(u.incarnation);
  if (u.kind === 'alive') writeMeta(w, u.meta);
  else if (u.kind === 'suspect') w.str(u.from);
  else {
    w.str(u.from);
    w.u8(u.left ? 1 : 0);
  }
}

/** The frame of `m`. REQUIRES: a well-formed message (the node builds only those). */
export function encodeMessage(m: GossipMessage): Uint8Array {
  const w = new Writer(messageSize(m));
  w.u8(GOSSIP_MAGIC);
  w.u8(GOSSIP_VERSION);
  w.u8(TYPE_CODES[m.type]);
  if (m.type !== 'gossip' && m.type !== 'push-pull') w.u32(m.seq);
  w.str(m.source);
  if (m.type === 'ping' || m.type === 'ping-req') w.str(m.target);
  if (m.type === 'ping-req') w.u8(m.wantNack ? 1 : 0);
  if (m.type === 'push-pull') {
    w.u8((m.join ? 1 : 0) | (m.reply ? 2 : 0));
    w.u32(m.members.length);
    for (const s of m.members) {
      w.str(s.id);
      w.u32(s.incarnation);
      w.u8(STATES.indexOf(s.state));
      writeMeta(w, s.meta);
    }
  } else {
    assert(m.updates.length <= UPDATES_PER_FRAME_MAX, () => `encode: ${m.updates.length} updates in one frame`);
    w.u8(m.updates.length);
    for (const u of m.updates) writeUpdate(w, u);
  }
  return w.done();
}

// ---------------------------------------------------------------- decoding

class DecodeError extends Error {}

class Reader {
  private pos = 0;
  constructor(private readonly buf: Uint8Array) {}
  fail(why: string): never {
    throw new DecodeError(`${why} at byte ${this.pos}`);
  }
  need(n: number): void {
    if (this.pos + n > this.buf.length) this.fail(`truncated: ${n} more bytes expected`);
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++] as number;
  }
  u16(): number {
    return (this.u8() << 8) | this.u8();
  }
  u32(): number {
    return this.u16() * 0x10000 + this.u16();
  }
  str(max: number, what: string): string {
    const n = this.u8();
    if (n > max) this.fail(`${what} of ${n} bytes (at most ${max})`);
    this.need(n);
    let s = '';
    for (let i = 0; i < n; i++) {
      const c = this.buf[this.pos++] as number;
      if (c < 0x20 || c > 0x7e) this.fail(`${what} holds a byte that is not printable ASCII`);
      // Measured faster than String.fromCharCode.apply or a TextDecoder for strings this short.
      s += String.fromCharCode(c);
    }
    return s;
  }
  id(what: string): string {
    const s = this.str(64, what);
    if (!MEMBER_ID_PATTERN.test(s)) this.fail(`${what} ${JSON.stringify(s)} is not a member id`);
    return s;
  }
  end(): void {
    if (this.pos !== this.buf.length) this.fail(`${this.buf.length - this.pos} bytes after the end of the message`);
  }
}

function readMeta(r: Reader): MemberMeta {
  const zone = r.str(META_TEXT_BYTES_MAX, 'zone');
  const version = r.str(META_TEXT_BYTES_MAX, 'version');
  const weight = r.u16();
  const count = r.u8();
  if (count > ADDRESSES_MAX) r.fail(`${count} addresses (at most ${ADDRESSES_MAX})`);
  const addresses: (readonly [string, string])[] = [];
  for (let i = 0; i < count; i++) addresses.push([r.str(16, 'address name'), r.str(ADDRESS_BYTES_MAX, 'address')]);
  const meta: MemberMeta = { zone, version, weight, addresses };
  const problem = validateMeta(meta);
  if (problem !== null) r.fail(`bad metadata: ${problem}`);
  return meta;
}

function readUpdate(r: Reader): Update {
  const kind = r.u8();
  const id = r.id('member id');
  const incarnation = r.u32();
  if (kind === UPDATE_KINDS.alive) return { kind: 'alive', id, incarnation, meta: readMeta(r) };
  if (kind === UPDATE_KINDS.suspect) return { kind: 'suspect', id, incarnation, from: r.id('accuser') };
  if (kind === UPDATE_KINDS.dead) {
    const from = r.id('accuser');
    const left = r.u8();
    if (left > 1) r.fail(`left flag ${left}`);
    return { kind: 'dead', id, incarnation, from, left: left === 1 };
  }
  return r.fail(`unknown update kind ${kind}`);
}

function readUpdates(r: Reader): Update[] {
  const n = r.u8();
  const out: Update[] = [];
  for (let i = 0; i < n; i++) out.push(readUpdate(r));
  return out;
}

export interface DecodeLimits {
  readonly packetBytesMax: number;
  readonly stateBytesMax: number;
  readonly membersMax: number;
}

export type DecodeResult = { readonly ok: true; readonly message: GossipMessage } | { readonly ok: false; readonly reason: string; readonly oversized: boolean };

/** Decodes one frame, refusing (never throwing) anything malformed or over the limits. */
export function decodeMessage(frame: Uint8Array, limits: DecodeLimits): DecodeResult {
  if (frame.length > limits.stateBytesMax) return { ok: false, reason: `frame of ${frame.length} bytes exceeds ${limits.stateBytesMax}`, oversized: true };
  if (frame.length < 3) return { ok: false, reason: `frame of ${frame.length} bytes is too short`, oversized: false };
  if (frame[0] !== GOSSIP_MAGIC) return { ok: false, reason: `not a gossip frame (first byte ${frame[0]})`, oversized: false };
  if (frame[1] !== GOSSIP_VERSION) return { ok: false, reason: `gossip version ${frame[1]} (this node speaks ${GOSSIP_VERSION})`, oversized: false };
  if (frame[2] !== TYPE_CODES['push-pull'] && frame.length > limits.packetBytesMax) {
    return { ok: false, reason: `frame of ${frame.length} bytes exceeds the packet limit ${limits.packetBytesMax}`, oversized: true };
  }
  try {
    const r = new Reader(frame);
    r.u8();
    r.u8();
    const message = readBody(r, r.u8(), limits);
    r.end();
    return { ok: true, message };
  } catch (err) {
    if (err instanceof DecodeError) return { ok: false, reason: err.message, oversized: false };
    throw err;
  }
}

function readBody(r: Reader, type: number, limits: DecodeLimits): GossipMessage {
  switch (type) {
    case TYPE_CODES.ping: {
      const seq = r.u32();
      const source = r.id('source');
      return { type: 'ping', seq, source, target: r.id('target'), updates: readUpdates(r) };
    }
    case TYPE_CODES.ack: {
      const seq = r.u32();
      return { type: 'ack', seq, source: r.id('source'), updates: readUpdates(r) };
    }
    case TYPE_CODES['ping-req']: {
      const seq = r.u32();
      const source = r.id('source');
      const target = r.id('target');
      const flags = r.u8();
      if (flags > 1) r.fail(`ping-req flags ${flags}`);
      return { type: 'ping-req', seq, source, target, wantNack: flags === 1, updates: readUpdates(r) };
    }
    case TYPE_CODES.nack: {
      const seq = r.u32();
      return { type: 'nack', seq, source: r.id('source'), updates: readUpdates(r) };
    }
    case TYPE_CODES.gossip:
      return { type: 'gossip', source: r.id('source'), updates: readUpdates(r) };
    case TYPE_CODES['push-pull']:
      return readPushPull(r, limits);
    default:
      return r.fail(`unknown message type ${type}`);
  }
}

function readPushPull(r: Reader, limits: DecodeLimits): GossipMessage {
  const source = r.id('source');
  const flags = r.u8();
  if (flags > 3) r.fail(`push-pull flags ${flags}`);
  const count = r.u32();
  if (count > limits.membersMax) r.fail(`${count} members (at most ${limits.membersMax})`);
  const members: MemberSnapshot[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) {
    const id = r.id('member id');
    if (seen.has(id)) r.fail(`member ${id} listed twice`);
    seen.add(id);
    const incarnation = r.u32();
    const s = r.u8();
    const state = STATES[s];
    if (state === undefined) r.fail(`member state ${s}`);
    members.push({ id, incarnation, state, meta: readMeta(r) });
  }
  return { type: 'push-pull', source, join: (flags & 1) === 1, reply: (flags & 2) === 2, members };
}
