/**
 * The segflow WebSocket wire format, version 1 (docs/websocket-protocol.md).
 *
 * Text messages are JSON objects with a `type` (hello, classes, dropped,
 * end, error; subscribe from clients). Binary messages carry one frame's labels or
 * its JPEG image behind a fixed 48-byte little-endian header:
 *
 * | offset | size | field                                                    |
 * |-------:|-----:|----------------------------------------------------------|
 * |      0 |    4 | magic `SGFL`                                             |
 * |      4 |    1 | protocol version (1)                                     |
 * |      5 |    1 | message type: 1 labels, 2 JPEG frame                     |
 * |      6 |    1 | flags: bit 0 discontinuity, bit 1 key frame (full path)  |
 * |      7 |    1 | encoding: 0 raw u8 class ids, 1 RLE class ids, 2 JPEG    |
 * |      8 |    8 | frame seq (u64)                                          |
 * |     16 |    8 | media timestamp ptsMs (f64)                              |
 * |     24 |    8 | capture time, ms since the epoch (f64; NaN = unknown)    |
 * |     32 |    8 | server send time, ms since the epoch (f64)               |
 * |     40 |    2 | width (u16)                                              |
 * |     42 |    2 | height (u16)                                             |
 * |     44 |    4 | payload length in bytes (u32)                            |
 * |     48 |    n | payload                                                  |
 *
 * RLE payload: repeated (class id u8, run length as unsigned LEB128 ≥ 1), runs
 * in row-major order, crossing row ends; the runs sum to width × height.
 */

export const PROTOCOL_VERSION = 1;
export const MAGIC = 0x4c464753; // 'SGFL' read as little-endian u32
export const HEADER_BYTES = 48;

export const MsgType = { labels: 1, jpeg: 2 } as const;
export type MsgType = (typeof MsgType)[keyof typeof MsgType];
export const Encoding = { raw: 0, rle: 1, jpeg: 2 } as const;
export type Encoding = (typeof Encoding)[keyof typeof Encoding];
export const Flags = { discontinuity: 1, keyframe: 2 } as const;

export interface FrameHeader {
  readonly type: MsgType;
  readonly flags: number;
  readonly encoding: Encoding;
  readonly seq: number;
  readonly ptsMs: number;
  /** Wall-clock ms the frame was received by a live source; NaN when unknown. */
  readonly captureTimeMs: number;
  readonly sendTimeMs: number;
  readonly width: number;
  readonly height: number;
}

export interface DecodedMessage extends FrameHeader {
  readonly version: number;
  /** The payload as sent (class ids, RLE runs or JPEG bytes); a view, not a copy. */
  readonly payload: Uint8Array;
}

/** Header + payload in one buffer. */
export function encodeMessage(h: FrameHeader, payload: Uint8Array): Buffer {
  if (h.width > 0xffff || h.height > 0xffff) throw new RangeError(`frame size: expected at most 65535x65535, got ${h.width}x${h.height}`);
  const buf = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  v.setUint32(0, MAGIC, true);
  v.setUint8(4, PROTOCOL_VERSION);
  v.setUint8(5, h.type);
  v.setUint8(6, h.flags);
  v.setUint8(7, h.encoding);
  v.setBigUint64(8, BigInt(h.seq), true);
  v.setFloat64(16, h.ptsMs, true);
  v.setFloat64(24, h.captureTimeMs, true);
  v.setFloat64(32, h.sendTimeMs, true);
  v.setUint16(40, h.width, true);
  v.setUint16(42, h.height, true);
  v.setUint32(44, payload.length, true);
  buf.set(payload, HEADER_BYTES);
  return buf;
}

/** Overwrite the send time of an encoded message (one encoding shared by every client). */
export function stampSendTime(msg: Uint8Array, sendTimeMs: number): void {
  new DataView(msg.buffer, msg.byteOffset, msg.byteLength).setFloat64(32, sendTimeMs, true);
}

/** Parse a binary message; throws TypeError saying what was expected and what arrived. */
export function decodeMessage(data: Uint8Array): DecodedMessage {
  if (data.length < HEADER_BYTES) throw new TypeError(`segflow message: expected at least ${HEADER_BYTES} bytes, got ${data.length}`);
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const magic = v.getUint32(0, true);
  if (magic !== MAGIC) throw new TypeError(`segflow message: expected magic 'SGFL', got 0x${magic.toString(16)}`);
  const version = v.getUint8(4);
  if (version !== PROTOCOL_VERSION) throw new TypeError(`segflow message: expected protocol version ${PROTOCOL_VERSION}, got ${version}`);
  const type = v.getUint8(5);
  if (type !== MsgType.labels && type !== MsgType.jpeg) throw new TypeError(`segflow message: expected type 1 (labels) or 2 (jpeg), got ${type}`);
  const encoding = v.getUint8(7);
  if (encoding > 2) throw new TypeError(`segflow message: expected encoding 0, 1 or 2, got ${encoding}`);
  const len = v.getUint32(44, true);
  if (HEADER_BYTES + len !== data.length) throw new TypeError(`segflow message: header says ${len} payload bytes, got ${data.length - HEADER_BYTES}`);
  return {
    version,
    type: type as MsgType,
    flags: v.getUint8(6),
    encoding: encoding as Encoding,
    seq: Number(v.getBigUint64(8, true)),
    ptsMs: v.getFloat64(16, true),
    captureTimeMs: v.getFloat64(24, true),
    sendTimeMs: v.getFloat64(32, true),
    width: v.getUint16(40, true),
    height: v.getUint16(42, true),
    payload: new Uint8Array(data.buffer, data.byteOffset + HEADER_BYTES, len),
  };
}

/** Run-length encode class ids: (id u8, run LEB128) pairs. */
export function rleEncode(ids: Uint8Array): Uint8Array {
  // Worst case (no runs) is 2 bytes per pixel.
  const out = new Uint8Array(Math.max(16, ids.length * 2));
  let o = 0;
  let i = 0;
  while (i < ids.length) {
    const c = ids[i]!;
    let j = i + 1;
    while (j < ids.length && ids[j] === c) j++;
    let run = j - i;
    out[o++] = c;
    while (run >= 0x80) {
      out[o++] = (run & 0x7f) | 0x80;
      run >>>= 7;
    }
    out[o++] = run;
    i = j;
  }
  return out.slice(0, o);
}

/** Inverse of rleEncode; throws TypeError when the runs do not add up to `pixels`. */
export function rleDecode(rle: Uint8Array, pixels: number): Uint8Array {
  const out = new Uint8Array(pixels);
  let o = 0;
  let i = 0;
  while (i < rle.length) {
    const c = rle[i++]!;
    let run = 0;
    let shift = 0;
    for (;;) {
      if (i >= rle.length) throw new TypeError(`RLE: run length cut off at byte ${i}`);
      const b = rle[i++]!;
      run += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (!(b & 0x80)) break;
      if (shift > 35) throw new TypeError(`RLE: run length longer than 5 bytes at byte ${i}`);
    }
    if (run === 0 || o + run > pixels) throw new TypeError(`RLE: expected runs adding up to ${pixels} pixels, got a run of ${run} at pixel ${o}`);
    out.fill(c, o, o + run);
    o += run;
  }
  if (o !== pixels) throw new TypeError(`RLE: expected runs adding up to ${pixels} pixels, got ${o}`);
  return out;
}

/** Class ids as (encoding, payload): RLE when it is smaller, raw otherwise. */
export function encodeClassIds(ids: Uint8Array): { encoding: Encoding; payload: Uint8Array } {
  const rle = rleEncode(ids);
  return rle.length < ids.length ? { encoding: Encoding.rle, payload: rle } : { encoding: Encoding.raw, payload: ids };
}

/** Class ids from a labels message, whatever its encoding. */
export function decodeClassIds(m: DecodedMessage): Uint8Array {
  const pixels = m.width * m.height;
  if (m.type !== MsgType.labels) throw new TypeError(`expected a labels message (type 1), got type ${m.type}`);
  if (m.encoding === Encoding.rle) return rleDecode(m.payload, pixels);
  if (m.encoding === Encoding.raw) {
    if (m.payload.length !== pixels) throw new TypeError(`raw labels: expected ${pixels} bytes for ${m.width}x${m.height}, got ${m.payload.length}`);
    return m.payload;
  }
  throw new TypeError(`labels: expected encoding 0 (raw) or 1 (rle), got ${m.encoding}`);
}

/** JSON text messages, server → client. */
export interface HelloMessage {
  readonly type: 'hello';
  readonly version: number;
  readonly stream: string;
  readonly classes: readonly string[];
  readonly palette: readonly (readonly [number, number, number])[];
  /** Whether JPEG frames (type 2) are sent before each labels message. */
  readonly video: boolean;
  readonly server: string;
}
export interface ClassesMessage {
  readonly type: 'classes';
  readonly classes: readonly string[];
  readonly palette: readonly (readonly [number, number, number])[];
}
export interface DroppedMessage {
  readonly type: 'dropped';
  /** Frames dropped for this client since the last notice. */
  readonly count: number;
  /** Frames dropped for this client since it connected. */
  readonly total: number;
}
/**
 * The stream ended (sent once, right before the close with 1001): what this client never got.
 * Added after version 1 shipped; clients that do not know it may ignore it.
 */
export interface EndMessage {
  readonly type: 'end';
  readonly stream: string;
  /** Frames this client did not get since the last `dropped` notice: dropped, or still queued for it when the stream ended. */
  readonly count: number;
  /** Frames this client did not get since it connected (every `dropped` count and this `count`). */
  readonly total: number;
}
export interface ErrorMessage {
  readonly type: 'error';
  readonly message: string;
}
export type ServerText = HelloMessage | ClassesMessage | DroppedMessage | EndMessage | ErrorMessage;

/** Client → server. */
export interface SubscribeMessage {
  readonly type: 'subscribe';
  readonly stream: string;
}
