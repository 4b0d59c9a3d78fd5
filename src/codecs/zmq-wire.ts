/**
 * The segflow ZeroMQ wire format, version 1 (docs/zmq-protocol.md).
 *
 * A packet (frame or labels) is a two-part ZeroMQ message: a small header part
 * and a payload part (RGB24 pixels, or class ids — RLE when smaller, with the
 * RLE of the WebSocket protocol). Control messages (end of stream, and the
 * dispatcher/worker messages READY, HEARTBEAT, JOB, RESULT, DISCONNECT,
 * STATUS) are one header part whose JSON `meta` says the rest; JOB and RESULT
 * are followed by the chunk's packets, two parts each (a live frame's JOB and
 * RESULT name its `stream` in the meta and carry one packet).
 *
 * Header, little-endian:
 *
 * | offset | size | field                                                     |
 * |-------:|-----:|-----------------------------------------------------------|
 * |      0 |    4 | magic `SGZM`                                              |
 * |      4 |    1 | protocol version (1)                                      |
 * |      5 |    1 | message type (ZmqType)                                    |
 * |      6 |    1 | flags: bit 0 discontinuity, bit 1 key frame (full path)   |
 * |      7 |    1 | encoding: 0 raw, 1 RLE class ids                          |
 * |      8 |    8 | seq (u64)                                                 |
 * |     16 |    8 | ptsMs (f64)                                               |
 * |     24 |    2 | width (u16)                                               |
 * |     26 |    2 | height (u16)                                              |
 * |     28 |    4 | payload length in bytes (u32; the next part's size)       |
 * |     32 |    2 | source name length s (u16)                                |
 * |     34 |    2 | discontinuity reason length r (u16)                       |
 * |     36 |    4 | meta length m (u32)                                       |
 * |     40 |    s | source name, UTF-8                                        |
 * |   40+s |    r | discontinuity reason, UTF-8                               |
 * | 40+s+r |    m | meta, UTF-8 JSON (labels: path, classNames, palette)      |
 *
 * A zmq-sink also puts its `epoch` in every packet's meta (frames too): an id
 * drawn when it opens, so a receiver knows a restarted sender even when the
 * new life's first packets were lost (older receivers ignore the field).
 */
import type { Frame, LabelPath, Labels, Packet } from '../core/packet.ts';
import { Encoding, encodeClassIds, rleDecode } from './ws-protocol.ts';
import { z } from 'zod';
import { UNSAFE_TEXT } from '../core/text.ts';

export const ZMQ_PROTOCOL_VERSION = 1;
export const ZMQ_MAGIC = 0x4d5a4753; // 'SGZM' read as a little-endian u32
export const ZMQ_HEADER_BYTES = 40;
/** Largest header (names and meta) accepted; payloads are separate parts. */
export const ZMQ_MAX_HEADER_BYTES = 1 << 20;
/**
 * Largest frame, in pixels, a message may carry unless configured otherwise:
 * the decoder's default `maxPixels` (36 M, a little over 8K UHD).
 */
export const ZMQ_MAX_FRAME_PIXELS = 36_000_000;

/**
 * ZeroMQ `maxMessageSize` for sockets carrying frames of at most
 * `maxFramePixels` pixels. ZeroMQ applies it to each message part: the
 * largest legitimate part is an RGB24 frame payload (3 bytes a pixel; label
 * payloads are at most 1 byte a pixel) or a header (1 MiB). A peer sending a
 * larger part is disconnected by ZeroMQ before the part is allocated.
 */
export function maxPartBytes(maxFramePixels = ZMQ_MAX_FRAME_PIXELS): number {
  return Math.max(ZMQ_MAX_HEADER_BYTES, maxFramePixels * 3);
}

/** Options every segflow ZeroMQ socket gets: a bounded part size (docs/security-zmq.md). */
export function socketLimits(maxFramePixels = ZMQ_MAX_FRAME_PIXELS): { maxMessageSize: number } {
  return { maxMessageSize: maxPartBytes(maxFramePixels) };
}

/**
 * Text that came from a peer, made safe to log or show: control characters
 * (newlines, ESC of ANSI sequences, C1, bidi overrides) become '?', ANSI CSI
 * sequences are removed, and the result is at most `max` characters.
 */
export function sanitize(text: unknown, max = 64): string {
  const s = String(text)
    // eslint-disable-next-line no-control-regex
    .replace(/\u001b\[[0-?]*[ -/]*[@-~]/g, '')
    .replace(UNSAFE_TEXT, '?');
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

export const ZmqType = {
  frame: 1,
  labels: 2,
  /** The sender's stream ended (no payload part). */
  end: 3,
  ready: 16,
  heartbeat: 17,
  job: 18,
  result: 19,
  disconnect: 20,
  status: 21,
  statusReply: 22,
} as const;
export type ZmqType = (typeof ZmqType)[keyof typeof ZmqType];
const TYPES = new Set<number>(Object.values(ZmqType));
export const ZmqFlags = { discontinuity: 1, keyframe: 2 } as const;

export interface ZmqHeader {
  readonly type: ZmqType;
  readonly flags: number;
  readonly encoding: number;
  readonly seq: number;
  readonly ptsMs: number;
  readonly width: number;
  readonly height: number;
  readonly payloadBytes: number;
  readonly source: string;
  /** The reason, when flags has the discontinuity bit. */
  readonly discontinuity?: string | undefined;
  readonly meta?: unknown;
}

/** Metadata a labels packet carries besides its class ids. */
interface LabelsMeta {
  readonly path: LabelPath;
  readonly classNames: readonly string[];
  readonly palette: readonly (readonly [number, number, number])[];
}

export function encodeHeader(h: ZmqHeader): Buffer {
  if (h.width > 0xffff || h.height > 0xffff) throw new RangeError(`zmq header: expected a size of at most 65535x65535, got ${h.width}x${h.height}`);
  const source = Buffer.from(h.source, 'utf8');
  const reason = Buffer.from(h.discontinuity ?? '', 'utf8');
  const meta = h.meta === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(h.meta), 'utf8');
  if (source.length > 0xffff || reason.length > 0xffff) throw new RangeError('zmq header: expected a source name and reason of at most 65535 bytes');
  const buf = Buffer.allocUnsafe(ZMQ_HEADER_BYTES + source.length + reason.length + meta.length);
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  v.setUint32(0, ZMQ_MAGIC, true);
  v.setUint8(4, ZMQ_PROTOCOL_VERSION);
  v.setUint8(5, h.type);
  v.setUint8(6, (h.flags & ~ZmqFlags.discontinuity) | (h.discontinuity ? ZmqFlags.discontinuity : 0));
  v.setUint8(7, h.encoding);
  v.setBigUint64(8, BigInt(h.seq), true);
  v.setFloat64(16, h.ptsMs, true);
  v.setUint16(24, h.width, true);
  v.setUint16(26, h.height, true);
  v.setUint32(28, h.payloadBytes, true);
  v.setUint16(32, source.length, true);
  v.setUint16(34, reason.length, true);
  v.setUint32(36, meta.length, true);
  source.copy(buf, ZMQ_HEADER_BYTES);
  reason.copy(buf, ZMQ_HEADER_BYTES + source.length);
  meta.copy(buf, ZMQ_HEADER_BYTES + source.length + reason.length);
  return buf;
}

/** Parse a header part; throws TypeError saying what was expected and what arrived. */
export function decodeHeader(data: Uint8Array): ZmqHeader {
  if (data.length < ZMQ_HEADER_BYTES) throw new TypeError(`zmq header: expected at least ${ZMQ_HEADER_BYTES} bytes, got ${data.length}`);
  if (data.length > ZMQ_MAX_HEADER_BYTES) throw new TypeError(`zmq header: expected at most ${ZMQ_MAX_HEADER_BYTES} bytes, got ${data.length}`);
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const magic = v.getUint32(0, true);
  if (magic !== ZMQ_MAGIC) throw new TypeError(`zmq header: expected magic 'SGZM', got 0x${magic.toString(16)}`);
  const version = v.getUint8(4);
  if (version !== ZMQ_PROTOCOL_VERSION) throw new TypeError(`zmq header: expected protocol version ${ZMQ_PROTOCOL_VERSION}, got ${version}`);
  const type = v.getUint8(5);
  if (!TYPES.has(type)) throw new TypeError(`zmq header: expected a message type in ${[...TYPES].join(', ')}, got ${type}`);
  const s = v.getUint16(32, true);
  const r = v.getUint16(34, true);
  const m = v.getUint32(36, true);
  if (ZMQ_HEADER_BYTES + s + r + m !== data.length) throw new TypeError(`zmq header: lengths say ${ZMQ_HEADER_BYTES + s + r + m} bytes, got ${data.length}`);
  const text = (off: number, n: number) => Buffer.from(data.buffer, data.byteOffset + off, n).toString('utf8');
  let meta: unknown;
  if (m > 0) {
    try {
      meta = JSON.parse(text(ZMQ_HEADER_BYTES + s + r, m));
    } catch (e) {
      throw new TypeError(`zmq header: expected JSON meta, got ${(e as Error).message}`);
    }
  }
  const flags = v.getUint8(6);
  return {
    type: type as ZmqType,
    flags,
    encoding: v.getUint8(7),
    seq: Number(v.getBigUint64(8, true)),
    ptsMs: v.getFloat64(16, true),
    width: v.getUint16(24, true),
    height: v.getUint16(26, true),
    payloadBytes: v.getUint32(28, true),
    source: text(ZMQ_HEADER_BYTES, s),
    discontinuity: flags & ZmqFlags.discontinuity ? text(ZMQ_HEADER_BYTES + s, r) || 'unknown' : undefined,
    meta,
  };
}

const view = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

/** Longest sender epoch accepted (characters); a longer or non-string one is ignored. */
export const ZMQ_MAX_EPOCH_CHARS = 64;

/**
 * A packet as its two message parts (the payload part is a view of the packet's pixels, not a copy).
 * `epoch`: the sender's life (zmq-sink draws one when it opens), carried in the meta.
 */
export function encodePacket(p: Packet, epoch?: string): [Buffer, Buffer] {
  const base = { seq: p.seq, ptsMs: p.ptsMs, width: p.width, height: p.height, source: p.source, discontinuity: p.discontinuity };
  if (p.kind === 'frame') {
    if (p.data.length !== p.width * p.height * 3) throw new RangeError(`frame ${p.source}#${p.seq}: expected ${p.width * p.height * 3} bytes of RGB24, got ${p.data.length}`);
    return [encodeHeader({ ...base, type: ZmqType.frame, flags: 0, encoding: Encoding.raw, payloadBytes: p.data.length, meta: epoch === undefined ? undefined : { epoch } }), view(p.data)];
  }
  if (p.kind === 'features') throw new TypeError(`features ${p.source}#${p.seq}: features never leave their executor (thread), so they cannot be sent`);
  const { encoding, payload } = encodeClassIds(p.classes);
  const meta: LabelsMeta & { epoch?: string } = { path: p.path, classNames: p.classNames, palette: p.palette, ...(epoch === undefined ? {} : { epoch }) };
  const flags = p.path === 'full' ? ZmqFlags.keyframe : 0;
  return [encodeHeader({ ...base, type: ZmqType.labels, flags, encoding, payloadBytes: payload.length, meta }), view(payload)];
}

/** The sender's epoch from a header's meta (sanitised), or undefined when it sent none (an older sender, a raw one). */
export function headerEpoch(h: ZmqHeader): string | undefined {
  const e = (h.meta as { epoch?: unknown } | null | undefined)?.epoch;
  return typeof e === 'string' && e.length > 0 && e.length <= ZMQ_MAX_EPOCH_CHARS ? sanitize(e, ZMQ_MAX_EPOCH_CHARS) : undefined;
}

const LABEL_PATHS = new Set(['full', 'shallow', 'fused', 'propagated']);
const isRgb = (c: unknown): boolean => Array.isArray(c) && c.length === 3 && c.every((x) => Number.isInteger(x) && x >= 0 && x <= 255);

/**
 * Inverse of encodePacket; throws TypeError on a malformed message. A packet
 * of more than `maxPixels` pixels is refused before anything is allocated
 * for it (an RLE payload of a few bytes may claim 65535x65535).
 */
export function decodePacket(header: Uint8Array | ZmqHeader, payload: Uint8Array | undefined, maxPixels = ZMQ_MAX_FRAME_PIXELS): Packet {
  const h = header instanceof Uint8Array ? decodeHeader(header) : header;
  if (!payload) throw new TypeError(`zmq packet: expected a payload part after the header, got none`);
  if (h.width * h.height > maxPixels) throw new TypeError(`zmq packet: expected at most ${maxPixels} pixels, got ${h.width}x${h.height}`);
  if (payload.length !== h.payloadBytes) throw new TypeError(`zmq packet: header says ${h.payloadBytes} payload bytes, got ${payload.length}`);
  const base = { source: h.source, seq: h.seq, ptsMs: h.ptsMs, discontinuity: h.discontinuity, width: h.width, height: h.height };
  if (h.type === ZmqType.frame) {
    if (payload.length !== h.width * h.height * 3) throw new TypeError(`zmq frame: expected ${h.width * h.height * 3} bytes for ${h.width}x${h.height} RGB24, got ${payload.length}`);
    const f: Frame = { kind: 'frame', ...base, data: new Uint8Array(payload.buffer, payload.byteOffset, payload.length) };
    return Object.freeze(f);
  }
  if (h.type !== ZmqType.labels) throw new TypeError(`zmq packet: expected type 1 (frame) or 2 (labels), got ${h.type}`);
  const pixels = h.width * h.height;
  let classes: Uint8Array;
  if (h.encoding === Encoding.rle) classes = rleDecode(payload, pixels);
  else if (h.encoding === Encoding.raw) {
    if (payload.length !== pixels) throw new TypeError(`zmq labels: expected ${pixels} raw class ids for ${h.width}x${h.height}, got ${payload.length}`);
    classes = new Uint8Array(payload.buffer, payload.byteOffset, payload.length);
  } else throw new TypeError(`zmq labels: expected encoding 0 (raw) or 1 (rle), got ${h.encoding}`);
  const m = h.meta as Partial<LabelsMeta> | undefined;
  if (!m || !Array.isArray(m.classNames) || !Array.isArray(m.palette) || typeof m.path !== 'string' || !LABEL_PATHS.has(m.path)
    || m.classNames.length > 256 || !m.classNames.every((c) => typeof c === 'string') || m.palette.length > 256 || !m.palette.every(isRgb)) {
    throw new TypeError('zmq labels: expected meta { path: full|shallow|fused|propagated, classNames: [≤256 strings], palette: [≤256 [r,g,b]] }');
  }
  const l: Labels = { kind: 'labels', ...base, classes, classNames: m.classNames, palette: m.palette, path: m.path };
  return Object.freeze(l);
}

/** A one-part control message (end, ready, heartbeat, disconnect, status) or the first part of a job/result. */
export function encodeControl(type: ZmqType, meta?: unknown, source = ''): Buffer {
  return encodeHeader({ type, flags: 0, encoding: 0, seq: 0, ptsMs: 0, width: 0, height: 0, payloadBytes: 0, source, meta });
}

/** Packets that follow a job/result control part: header and payload, two parts each. */
export function encodePackets(ps: readonly Packet[]): Buffer[] {
  return ps.flatMap((p) => encodePacket(p));
}

export function decodePackets(parts: readonly Uint8Array[], maxPixels = ZMQ_MAX_FRAME_PIXELS): Packet[] {
  if (parts.length % 2 !== 0) throw new TypeError(`zmq packets: expected header/payload pairs, got ${parts.length} parts`);
  const out: Packet[] = [];
  for (let i = 0; i < parts.length; i += 2) out.push(decodePacket(parts[i]!, parts[i + 1], maxPixels));
  return out;
}

/**
 * Sends on one socket, one message at a time: zeromq.js allows one pending
 * send per socket, and heartbeats share the socket with results.
 */
export class SendQueue {
  private tail: Promise<unknown> = Promise.resolve();
  constructor(private readonly sock: { send(parts: Buffer[]): Promise<void> }) {}

  send(parts: Buffer[]): Promise<void> {
    const p = this.tail.then(() => this.sock.send(parts));
    this.tail = p.catch(() => {});
    return p;
  }
}

/** `tcp://host:0` means any free port, which ZeroMQ spells `*`. */
export function bindEndpoint(endpoint: string): string {
  return endpoint.replace(/:0$/, ':*');
}

/** Throws TypeError unless `endpoint` is a ZeroMQ endpoint segflow supports. */
export function checkEndpoint(endpoint: string, what = 'endpoint'): string {
  if (!/^(tcp:\/\/[^\s/]+:(\d+|\*)|ipc:\/\/\S+|inproc:\/\/\S+)$/.test(endpoint)) {
    throw new TypeError(`${what}: expected tcp://HOST:PORT, ipc://PATH or inproc://NAME, got '${endpoint}'`);
  }
  return endpoint;
}

/** Zod schema for an endpoint option: tcp://HOST:PORT, ipc://PATH or inproc://NAME. */
export const endpointOption = z.string().refine((e) => {
  try {
    return Boolean(checkEndpoint(e));
  } catch {
    return false;
  }
}, 'expected tcp://HOST:PORT, ipc://PATH or inproc://NAME');
