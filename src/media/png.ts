/**
 * Lossless 8-bit grayscale PNG for class-id maps, encoded in-process: a
 * standard PNG (IHDR, one IDAT, IEND; any reader opens it) built for maps
 * that are mostly runs of one value and rows repeated from an upscale.
 *
 * Each row is filtered `Up` (type 2: all zeros) when it equals the row above
 * and `None` (type 0) otherwise; the rows are deflated with zlib's run-length
 * strategy (Z_RLE: only distance-1 matches, which is all a class map has).
 * For the real 1920x1080 dashcam maps this is ~2.3 ms of CPU and ~5 KB a map,
 * against ~6 ms and ~20 KB for ffmpeg's PNG encoder at zlib level 3, and the
 * deflate (the larger part) runs on libuv's thread pool, not the JS thread.
 * Maps up to 1 MP (960x540, 1280x720) are deflated on the calling thread: an
 * asynchronous deflate's stream and thread-pool round trip cost this thread
 * about what the deflate itself does there (~0.3-0.4 ms a 960x540 map), and
 * twice the CPU in all (0.8 ms against 0.35-0.5).
 */
import zlib from 'node:zlib';
import { labelOrigin } from '../kernels/image.ts';
import { deflateUpscaledRows } from './png-deflate.ts';

const SIGNATURE = Uint8Array.from([137, 80, 78, 71, 13, 10, 26, 10]);

let table: Uint32Array | undefined;
/** CRC-32 (PNG's, zlib's): zlib.crc32 where Node has it (≥ 20.15), a table otherwise. */
function crc32(data: Uint8Array, crc = 0): number {
  const native = (zlib as { crc32?: (d: Uint8Array, v?: number) => number }).crc32;
  if (native) return native(data, crc);
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let c = ~crc >>> 0;
  for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** One PNG chunk: length, type, data, CRC of type and data. */
function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/**
 * The map's PNG scanlines: each row after its filter byte, `Up` with zeros
 * where the row repeats the one above, `None` with the row's bytes otherwise.
 */
export function filterRows(map: Uint8Array, w: number, h: number, into?: Buffer): Buffer {
  if (!Number.isInteger(w) || !Number.isInteger(h) || w < 1 || h < 1) throw new RangeError(`png: bad size ${w}x${h}`);
  if (map.length < w * h) throw new RangeError(`png: ${map.length} bytes for a ${w}x${h} map`);
  const src = Buffer.from(map.buffer, map.byteOffset, w * h);
  const out = into?.length === h * (w + 1) ? into : Buffer.allocUnsafeSlow(h * (w + 1));
  rowTypes.delete(out); // filterRowsFrom's record of its zero rows no longer holds
  for (let y = 0, s = 0, o = 0; y < h; y++, s += w, o += w + 1) {
    if (y > 0 && src.compare(src, s - w, s, s, s + w) === 0) {
      out.fill(0, o + 1, o + 1 + w);
      out[o] = 2;
    } else {
      src.copy(out, o + 1, s, s + w);
      out[o] = 0;
    }
  }
  return out;
}

/** Per row buffer built by filterRowsFrom: each row's filter byte then (2: the row's bytes are zeros). */
const rowTypes = new WeakMap<Uint8Array, Uint8Array>();
/** filterRowsFrom's scratch row (32-bit aligned, for whole-word stores). */
let scratch = new Uint32Array(0);

/**
 * filterRows of the nearest-neighbour upscale (pixel centres aligned, src/kernels/image.ts
 * resizeNearest) of `src` (sw x sh) to w x h (w ≥ sw, h ≥ sh), the same bytes, without making
 * the upscale: a row is `Up` where it repeats the source row above or a source row equal to it
 * (every source column shows in an upscaled row, so equal rows are exactly those), and each
 * other row is its source row widened. Zero rows already zero in `into` (its last use, the same
 * pattern) are not written again.
 */
export function filterRowsFrom(src: Uint8Array, sw: number, sh: number, w: number, h: number, into?: Buffer): Buffer {
  if (w < sw || h < sh || sw < 1 || sh < 1 || src.length < sw * sh) throw new RangeError(`png: ${w}x${h} is not an upscale of ${sw}x${sh}`);
  const out = into?.length === h * (w + 1) ? into : Buffer.allocUnsafeSlow(h * (w + 1));
  const was = rowTypes.get(out);
  const types = was?.length === h ? was : new Uint8Array(h);
  rowTypes.delete(out); // being rewritten: not valid until done
  const s = Buffer.from(src.buffer, src.byteOffset, sw * sh);
  const k = w / sw;
  const words = k === 4 || k === 2 ? Math.ceil(w / 4) : 0;
  if (scratch.length < words) scratch = new Uint32Array(words);
  const bytes = words ? new Uint8Array(scratch.buffer, 0, w) : undefined;
  const half = k === 2 ? new Uint16Array(scratch.buffer, 0, sw) : undefined;
  let xs: Int32Array | undefined;
  if (!words) {
    xs = new Int32Array(w);
    for (let x = 0; x < w; x++) xs[x] = Math.min(sw - 1, Math.floor(((x + 0.5) * sw) / w));
  }
  let prev = -1;
  for (let y = 0, o = 0; y < h; y++, o += w + 1) {
    const sy = Math.min(sh - 1, Math.floor(((y + 0.5) * sh) / h));
    const row = sy * sw;
    if (prev >= 0 && (sy === prev || s.compare(s, row, row + sw, prev * sw, prev * sw + sw) === 0)) {
      if (types[y] !== 2 || !was) out.fill(0, o + 1, o + 1 + w);
      out[o] = 2;
      types[y] = 2;
    } else {
      if (k === 4) for (let x = 0; x < sw; x++) scratch[x] = s[row + x]! * 0x01010101;
      else if (half) for (let x = 0; x < sw; x++) half[x] = s[row + x]! * 0x0101;
      if (bytes) out.set(bytes, o + 1);
      else for (let x = 0; x < w; x++) out[o + 1 + x] = s[row + xs![x]!]!;
      out[o] = 0;
      types[y] = 0;
    }
    prev = sy;
  }
  rowTypes.set(out, types);
  return out;
}

/**
 * An 8-bit grayscale PNG of a label packet's map (grayPng): from its original where it is an
 * upscale of one (src/kernels/image.ts labelOrigin; a label-resizer's video-size maps), so the
 * video-size map is never made; the same bytes either way.
 */
export function labelPng(l: { readonly classes: Uint8Array; readonly width: number; readonly height: number }, level = 1): Promise<Buffer> {
  const o = labelOrigin(l);
  if (!o || l.width < o.w || l.height < o.h) return grayPng(l.classes, l.width, l.height, level);
  // A whole widening (the label-resizer's 2x at 960x540, 4x at 1080p): the zlib stream straight from
  // the runs (src/media/png-deflate.ts), no rows built or deflated; zlib where it declines.
  if (level > 0 && level <= 9 && Number.isInteger(level) && l.width % o.w === 0) {
    const idat = deflateUpscaledRows(o.src, o.w, o.h, l.width / o.w, l.height);
    if (idat) return Promise.resolve(assemble(l.width, l.height, idat));
  }
  return deflateRows(filterRowsFrom(o.src, o.w, o.h, l.width, l.height, spare.pop()), l.width, l.height, level);
}

function assemble(w: number, h: number, idat: Uint8Array): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // colour type: grayscale
  // compression, filter method, interlace: 0
  return Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', new Uint8Array(0))]);
}

function deflateOptions(level: number): zlib.ZlibOptions {
  if (!Number.isInteger(level) || level < 0 || level > 9) throw new RangeError(`png: zlib level must be 0..9, got ${level}`);
  return { level, strategy: zlib.constants.Z_RLE };
}

/**
 * An 8-bit grayscale PNG of `map` (w x h, one byte a pixel), zlib `level`
 * 0..9 (0 = stored; with the run-length strategy 1..9 give the same bytes
 * for class maps, so 1). The rows are read before this returns (the caller
 * may reuse `map` at once); the deflate runs on the thread pool above 1 MP.
 */
export function grayPng(map: Uint8Array, w: number, h: number, level = 1): Promise<Buffer> {
  return deflateRows(filterRows(map, w, h, spare.pop()), w, h, level);
}

/** The PNG of filtered rows; `rows` goes back to the spare buffers once deflated. */
function deflateRows(rows: Buffer, w: number, h: number, level: number): Promise<Buffer> {
  let opts: zlib.ZlibOptions;
  try {
    opts = deflateOptions(level);
  } catch (err) {
    return Promise.reject(err);
  }
  if (w * h <= SYNC_MAX_PIXELS) {
    try {
      return Promise.resolve(assemble(w, h, zlib.deflateSync(rows, opts)));
    } catch (err) {
      return Promise.reject(err);
    } finally {
      if (spare.length < 4) spare.push(rows);
    }
  }
  return new Promise((resolve, reject) => {
    zlib.deflate(rows, opts, (err, idat) => {
      // The deflate is done with the rows: kept for the next map (a 1080p map's are 2 MB).
      if (spare.length < 4) spare.push(rows);
      if (err) reject(err);
      else resolve(assemble(w, h, idat));
    });
  });
}
/** Maps up to this size are deflated on the calling thread (less CPU in all; the file header says why). */
const SYNC_MAX_PIXELS = 1 << 20;
/** Row buffers whose deflate has finished, for the next maps (fewer large allocations, fewer GCs). */
const spare: Buffer[] = [];

/** grayPng on the calling thread. */
export function grayPngSync(map: Uint8Array, w: number, h: number, level = 1): Buffer {
  return assemble(w, h, zlib.deflateSync(filterRows(map, w, h), deflateOptions(level)));
}
