/**
 * Pixel kernels in WebAssembly SIMD (128-bit): the overlay's blend, the
 * half-size RGB resize of the model's input and whole-number label upscales
 * (2x, 4x). Each computes exactly the bytes of its scalar reference (the
 * lookup-table blend of src/media/operators/overlay-labels.ts, halveRgbJs and resizeNearest of
 * src/image.ts; test/simd.test.ts compares them on random data and odd
 * sizes), 16 bytes at a time instead of one.
 *
 * The module (~1 KB) is assembled below from opcodes, so that it can be read
 * without a toolchain. Memory: the blend's four 16-byte class tables at 0
 * (alpha, red, green, blue), data from DATA_AT. `simdKernels` is undefined
 * where WebAssembly SIMD is unavailable: callers keep their scalar paths.
 */
import { at16, fn, get, i32, instantiate, load, memoryBytes, section, set, shuffle, simd, splat16, store, str, uleb, vconst, whileLt } from './wasm-asm.ts';


const I32 = 0x7f, V128 = 0x7b;
const tee = (l: number) => [0x22, ...uleb(l)];
const ADD = [0x6a], MUL = [0x6c], GT_U = [0x4b], EQ = [0x46], SELECT = [0x1b];
const BLOCK = [0x02, 0x40], LOOP = [0x03, 0x40], END = [0x0b];
const br = (d: number) => [0x0c, d];
const brIf = (d: number) => [0x0d, d];
const MEMCOPY = [0xfc, ...uleb(10), 0, 0]; // memory.copy (dst, src, n)
const store64 = (offset = 0) => simd(0x5b, 0, ...uleb(offset), 0); // v128.store64_lane, lane 0
const SWIZZLE = simd(0x0e), BITSELECT = simd(0x52), NARROW_U = simd(0x66);
const EXT_LO = simd(0x89), EXT_HI = simd(0x8a); // i16x8.extend_{low,high}_i8x16_u
const ADD16 = simd(0x8e), SUB16 = simd(0x91), MUL16 = simd(0x95), SHR16 = simd(0x8d);

// ---- blend ----------------------------------------------------------------------------------
// blend(src, cls, dst, clsEnd): 16 pixels a step. Per output vector k (bytes 16k..16k+15 of 48):
// each byte's class (swizzle of the 16 labels), its alpha and channel colour (swizzles of the
// 16-entry tables), then (v·(256 − α) + colour·α) >> 8 in 16-bit lanes: the lookup table's values.
const TABLE_ALPHA = 0, TABLE_R = 16, TABLE_G = 32, TABLE_B = 48;
const DATA_AT = 1024;
const blendBody = (() => {
  // params 0 src, 1 cls, 2 dst, 3 clsEnd; v128 locals 4 labels, 5 idx, 6 alpha, 7 colour, 8 v
  const half = (ext: number[]) => [
    ...get(8), ...ext, ...splat16(256), ...get(6), ...ext, ...SUB16, ...MUL16,
    ...get(7), ...ext, ...get(6), ...ext, ...MUL16, ...ADD16, ...i32(8), ...SHR16,
  ];
  const vec = (k: number) => {
    const pick = Array.from({ length: 16 }, (_, j) => Math.floor((16 * k + j) / 3));
    const mask = (ch: number) => Array.from({ length: 16 }, (_, j) => ((16 * k + j) % 3 === ch ? 0xff : 0));
    return [
      ...get(4), ...vconst(pick), ...SWIZZLE, ...set(5),
      ...i32(0), ...load(TABLE_ALPHA), ...get(5), ...SWIZZLE, ...set(6),
      ...i32(0), ...load(TABLE_R), ...get(5), ...SWIZZLE,
      ...i32(0), ...load(TABLE_G), ...get(5), ...SWIZZLE,
      ...i32(0), ...load(TABLE_B), ...get(5), ...SWIZZLE,
      ...vconst(mask(1)), ...BITSELECT, ...vconst(mask(0)), ...BITSELECT, ...set(7),
      ...get(0), ...load(16 * k), ...set(8),
      ...get(2), ...half(EXT_LO), ...half(EXT_HI), ...NARROW_U, ...store(16 * k),
    ];
  };
  const body = [...get(1), ...load(), ...set(4), ...vec(0), ...vec(1), ...vec(2)];
  const step = [...get(0), ...i32(48), ...ADD, ...set(0), ...get(2), ...i32(48), ...ADD, ...set(2), ...get(1), ...i32(16), ...ADD, ...set(1)];
  return [1, 5, V128, ...whileLt(1, 3, body, step), ...END];
})();

// ---- halve ----------------------------------------------------------------------------------
// halve(a, o, stride, groups, dh, outStride): RGB24 at half size, 8 output pixels (48 input bytes
// of two rows) a step: o[c] = (a[c] + a[c+3] + b[c] + b[c+3] + 2) >> 2, b = a + stride. Sums for
// all 48 byte positions (loads at +0 and +3), then the 24 that start a pixel pair are gathered.
// Reads 3 bytes past a row pair's last group (the caller leaves room).
const halveBody = (() => {
  // params 0 a, 1 o, 2 stride, 3 groups, 4 dh, 5 outStride; i32 locals 6 pa, 7 pb, 8 po, 9 g, 10 y; v128 11 n0, 12 n16, 13 n32
  const sums = (m: number, ext: number[]) => [
    ...get(6), ...load(m), ...ext, ...get(6), ...load(m + 3), ...ext, ...ADD16,
    ...get(7), ...load(m), ...ext, ...get(7), ...load(m + 3), ...ext, ...ADD16, ...ADD16,
    ...splat16(2), ...ADD16, ...i32(2), ...SHR16,
  ];
  const chunk = (m: number, local: number) => [...sums(m, EXT_LO), ...sums(m, EXT_HI), ...NARROW_U, ...set(local)];
  const group = [
    ...chunk(0, 11), ...chunk(16, 12), ...chunk(32, 13),
    ...get(8), ...get(11), ...get(12), ...shuffle([0, 1, 2, 6, 7, 8, 12, 13, 14, 18, 19, 20, 24, 25, 26, 30]), ...store(0),
    ...get(8), ...get(12), ...get(13), ...shuffle([15, 16, 20, 21, 22, 26, 27, 28, 0, 0, 0, 0, 0, 0, 0, 0]), ...store64(16),
  ];
  const groupStep = [
    ...get(6), ...i32(48), ...ADD, ...set(6), ...get(7), ...i32(48), ...ADD, ...set(7),
    ...get(8), ...i32(24), ...ADD, ...set(8), ...get(9), ...i32(1), ...ADD, ...set(9),
  ];
  const row = [
    ...get(0), ...set(6), ...get(0), ...get(2), ...ADD, ...set(7), ...get(1), ...set(8), ...i32(0), ...set(9),
    ...whileLt(9, 3, group, groupStep),
  ];
  const rowStep = [
    ...get(0), ...get(2), ...get(2), ...ADD, ...ADD, ...set(0), ...get(1), ...get(5), ...ADD, ...set(1),
    ...get(10), ...i32(1), ...ADD, ...set(10),
  ];
  return [2, 5, I32, 3, V128, ...whileLt(10, 4, row, rowStep), ...END];
})();

// ---- legend over the blend ------------------------------------------------------------------
// over(d, stride, rowBytes, rows, pre, inv): a prepared RGBA tile (src/kernels/legend.ts
// legendStrip) over rows of RGB bytes, 16 bytes a step: d[j] = floor((pre[j] + d[j]·inv[j]) / 255)
// with pre = colour·α + 127 (u16) and inv = 255 − α (u8), per byte: drawLegend's integers, with
// floor(x / 255) = (x + 1 + (x >> 8)) >> 8 (exact for x ≤ 65152, the largest sum). Padding bytes
// (pre 127, inv 255) leave d as it is. rowBytes a multiple of 16.
const overBody = (() => {
  // params 0 d, 1 stride, 2 rowBytes, 3 rows, 4 pre, 5 inv; i32 locals 6 y, 7 j, 8 p; v128 9 dv, 10 iv, 11 sum
  const div = [...get(11), ...splat16(1), ...ADD16, ...get(11), ...i32(8), ...SHR16, ...ADD16, ...i32(8), ...SHR16];
  const half = (ext: number[], off: number) => [
    ...get(9), ...ext, ...get(10), ...ext, ...MUL16, ...get(4), ...load(off), ...ADD16, ...set(11), ...div,
  ];
  const chunk = [
    ...get(8), ...load(), ...set(9), ...get(5), ...load(), ...set(10),
    ...get(8), ...half(EXT_LO, 0), ...half(EXT_HI, 16), ...NARROW_U, ...store(),
  ];
  const chunkStep = [...get(8), ...i32(16), ...ADD, ...set(8), ...get(4), ...i32(32), ...ADD, ...set(4),
    ...get(5), ...i32(16), ...ADD, ...set(5), ...get(7), ...i32(16), ...ADD, ...set(7)];
  const row = [...get(0), ...set(8), ...i32(0), ...set(7), ...whileLt(7, 2, chunk, chunkStep)];
  const rowStep = [...get(0), ...get(1), ...ADD, ...set(0), ...get(6), ...i32(1), ...ADD, ...set(6)];
  return [2, 3, I32, 3, V128, ...whileLt(6, 3, row, rowStep), ...END];
})();

// ---- label upscales -------------------------------------------------------------------------
// up(src, dst, sw, sh) for k = 2 or 4: each row's labels repeated k times across (shuffles, 16
// labels a step; the last step is placed at sw − 16, overlapping, so any sw ≥ 16 works), then the
// row copied k − 1 times below (memory.copy).
const upBody = (k: 2 | 4) => {
  // params 0 src, 1 dst, 2 sw, 3 sh; locals 4 y, 5 x, 6 s, 7 d, 8 last, 9 dw; v128 10 v
  const parts = Array.from({ length: k }, (_, p) => Array.from({ length: 16 }, (_, j) => Math.floor((16 * p + j) / k)));
  const stores = parts.flatMap((lanes, p) => [...get(7), ...get(5), ...i32(k), ...MUL, ...ADD, ...get(10), ...get(10), ...shuffle(lanes), ...store(16 * p)]);
  const xs = [
    ...i32(0), ...set(5),
    ...BLOCK, ...LOOP,
    ...get(6), ...get(5), ...ADD, ...load(), ...set(10), ...stores,
    ...get(5), ...get(8), ...EQ, ...brIf(1),
    // x = min(x + 16, last)
    ...get(8), ...get(5), ...i32(16), ...ADD, ...tee(5), ...get(5), ...get(8), ...GT_U, ...SELECT, ...set(5),
    ...br(0), ...END, ...END,
  ];
  const copies = k === 2
    ? [...get(7), ...get(9), ...ADD, ...get(7), ...get(9), ...MEMCOPY]
    : [...get(7), ...get(9), ...ADD, ...get(7), ...get(9), ...MEMCOPY,
      ...get(7), ...get(9), ...i32(2), ...MUL, ...ADD, ...get(7), ...get(9), ...i32(2), ...MUL, ...MEMCOPY];
  const row = [
    ...get(0), ...get(4), ...get(2), ...MUL, ...ADD, ...set(6),
    ...get(1), ...get(4), ...get(9), ...MUL, ...i32(k), ...MUL, ...ADD, ...set(7),
    ...xs, ...copies,
  ];
  const rowStep = [...get(4), ...i32(1), ...ADD, ...set(4)];
  const init = [...get(2), ...i32(16), ...[0x6b], ...set(8), ...get(2), ...i32(k), ...MUL, ...set(9)]; // last = sw - 16; dw = k·sw
  return [2, 6, I32, 1, V128, ...init, ...whileLt(4, 3, row, rowStep), ...END];
};

// ---- bilinear resize (f64, scalar) ------------------------------------------------------------
// The arithmetic of src/image.ts resizeRgb, operation for operation in IEEE doubles (WebAssembly
// and JS round alike, and neither fuses a multiply-add), so the bytes are the same.
// hrow(s, out, xa, xaEnd, xb, fx): one input row's horizontal blend, 3 doubles a pixel:
//   out[3x+c] = s[xa[x]+c] + (s[xb[x]+c] − s[xa[x]+c]) · fx[x]
// vrow(t, b, d, dEnd, wy): d[i] = trunc(t[i] + (b[i] − t[i]) · wy + 0.5) over rows of doubles;
// vrow8 the same over rows of bytes (the height-only resize).
const F64 = 0x7c;
const f64const = (v: number) => { const b = new Uint8Array(8); new DataView(b.buffer).setFloat64(0, v, true); return [0x44, ...b]; };
const LOAD8 = (o = 0) => [0x2d, 0, ...uleb(o)], LOADI32 = [0x28, 2, 0], LOADF64 = [0x2b, 3, 0];
const STORE8 = [0x3a, 0, 0], storeF64 = (o: number) => [0x39, 3, ...uleb(o)];
const FADD = [0xa0], FSUB = [0xa1], FMUL = [0xa2], F_I32_S = [0xb7], F_I32_U = [0xb8], SUB = [0x6b], TRUNC_SAT_U = [0xfc, 3];
const bump = (l: number, by: number) => [...get(l), ...i32(by), ...ADD, ...set(l)];
const hrowBody = (() => {
  // params 0 s, 1 out, 2 xa, 3 xaEnd, 4 xb, 5 fx; locals 6 pa, 7 pb (i32), 8 w (f64)
  const ch = (c: number) => [
    ...get(1),
    ...get(6), ...LOAD8(c), ...F_I32_U,
    ...get(7), ...LOAD8(c), ...get(6), ...LOAD8(c), ...SUB, ...F_I32_S, ...get(8), ...FMUL,
    ...FADD, ...storeF64(8 * c),
  ];
  const body = [
    ...get(0), ...get(2), ...LOADI32, ...ADD, ...set(6),
    ...get(0), ...get(4), ...LOADI32, ...ADD, ...set(7),
    ...get(5), ...LOADF64, ...set(8),
    ...ch(0), ...ch(1), ...ch(2),
  ];
  const step = [...bump(2, 4), ...bump(4, 4), ...bump(5, 8), ...bump(1, 24)];
  return [2, 2, I32, 1, F64, ...whileLt(2, 3, body, step), ...END];
})();
const vrowBody = (bytes: boolean) => {
  // params 0 t, 1 b, 2 d, 3 dEnd, 4 wy (f64); local 5 tv (f64)
  const top = bytes ? [...get(0), ...LOAD8(), ...F_I32_U] : [...get(0), ...LOADF64];
  const diff = bytes ? [...get(1), ...LOAD8(), ...get(0), ...LOAD8(), ...SUB, ...F_I32_S] : [...get(1), ...LOADF64, ...get(5), ...FSUB];
  const body = [
    ...top, ...set(5),
    ...get(2), ...get(5), ...diff, ...get(4), ...FMUL, ...FADD, ...f64const(0.5), ...FADD, ...TRUNC_SAT_U, ...STORE8,
  ];
  const step = [...bump(0, bytes ? 1 : 8), ...bump(1, bytes ? 1 : 8), ...bump(2, 1)];
  return [1, 1, F64, ...whileLt(2, 3, body, step), ...END];
};

// vrowx(t, b, d, dEnd, wy): vrow over doubles, 8 a step in f64x2 lanes (the same IEEE operations in
// the same order, so the same bytes); dEnd − d a multiple of 8 (the caller runs vrow on the rest).
const vrowxBody = (() => {
  // params 0 t, 1 b, 2 d, 3 dEnd, 4 wy (f64); v128 locals 5 wy, 6 tv
  const F64ADD = simd(0xf0), F64SUB = simd(0xf1), F64MUL = simd(0xf2), F64SPLAT = simd(0x14), TRUNC2 = simd(0xfd);
  const half = vconst([...f64const(0.5).slice(1), ...f64const(0.5).slice(1)]);
  const two = (j: number) => [
    ...get(0), ...load(16 * j), ...set(6),
    ...get(6), ...get(1), ...load(16 * j), ...get(6), ...F64SUB, ...get(5), ...F64MUL, ...F64ADD, ...half, ...F64ADD, ...TRUNC2,
  ];
  const four = (j: number) => [...two(j), ...two(j + 1), ...shuffle([0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23])];
  const body = [...get(2), ...four(0), ...four(2), ...simd(0x86), ...vconst(new Array<number>(16).fill(0)), ...NARROW_U, ...store64()];
  const step = [...bump(0, 64), ...bump(1, 64), ...bump(2, 8)];
  return [1, 2, V128, ...get(4), ...F64SPLAT, ...set(5), ...whileLt(2, 3, body, step), ...END];
})();

const bytes = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  // types: 0 (i32 x4) -> (), 1 (i32 x6) -> (), 2 (i32 x4, f64) -> ()
  ...section(1, [3, 0x60, 4, I32, I32, I32, I32, 0, 0x60, 6, I32, I32, I32, I32, I32, I32, 0, 0x60, 5, I32, I32, I32, I32, F64, 0]),
  ...section(3, [9, 0, 1, 0, 0, 1, 2, 2, 2, 1]), // blend, halve, up2, up4, hrow, vrow, vrow8, vrowx, over
  ...section(5, [1, 0, 1]), // memory, min 1 page, grown on demand
  ...section(7, [10, ...str('over'), 0, 8, ...str('blend'), 0, 0, ...str('halve'), 0, 1, ...str('up2'), 0, 2, ...str('up4'), 0, 3,
    ...str('hrow'), 0, 4, ...str('vrow'), 0, 5, ...str('vrow8'), 0, 6, ...str('vrowx'), 0, 7, ...str('mem'), 2, 0]),
  ...section(10, [9, ...fn(blendBody), ...fn(halveBody), ...fn(upBody(2)), ...fn(upBody(4)), ...fn(hrowBody), ...fn(vrowBody(false)), ...fn(vrowBody(true)), ...fn(vrowxBody), ...fn(overBody)]),
]);

// ---- JS side --------------------------------------------------------------------------------

/** The blend's per-class tables (class ids 0..15; other ids are left as they are). */
export interface BlendTables {
  /** Per class: alpha out of 256 (0 = unpainted), at most 255. */
  readonly alpha: Uint8Array;
  readonly r: Uint8Array;
  readonly g: Uint8Array;
  readonly b: Uint8Array;
}

/**
 * Tables for blendSimd, or undefined when the SIMD blend cannot give the lookup table's bytes
 * (alpha 256, or a painted class id above 15): the caller then uses its table.
 */
export function blendTables(palette: readonly (readonly number[])[], a: number, ignore: readonly number[]): BlendTables | undefined {
  if (a > 255) return undefined;
  const t = { alpha: new Uint8Array(16), r: new Uint8Array(16), g: new Uint8Array(16), b: new Uint8Array(16) };
  for (let c = 0; c < palette.length; c++) {
    const col = palette[c];
    if (!col || ignore.includes(c)) continue;
    if (c > 15) return undefined;
    t.alpha[c] = a;
    t.r[c] = col[0]!;
    t.g[c] = col[1]!;
    t.b[c] = col[2]!;
  }
  return t;
}

/**
 * An RGBA tile prepared for drawing over RGB24 rows (src/kernels/legend.ts legendStrip): per
 * byte, `pre` = colour·α + 127 and `inv` = 255 − α, rows of `rowBytes` (a multiple of 16; padding
 * bytes 127 and 255 leave the frame as it is) from byte `offset` of the frame, `stride` apart.
 */
export interface Strip {
  readonly offset: number;
  readonly stride: number;
  readonly rowBytes: number;
  readonly rows: number;
  readonly pre: Uint16Array;
  readonly inv: Uint8Array;
}

export interface SimdKernels {
  /**
   * dst = src blended with the class colours of `cls` (one label per RGB pixel); then `strip`
   * drawn over it when given and inside the 16-pixel part (returns whether it was drawn).
   */
  blend(dst: Uint8Array, src: Uint8Array, cls: Uint8Array, t: BlendTables, strip?: Strip): boolean;
  /** `strip` over the RGB24 frame `dst` (in place). */
  over(dst: Uint8Array, strip: Strip): void;
  /** RGB24 `sw` x `2·dh` (sw = 2·dw) → `dw` x `dh` into `dst`: 2x2 means, rounded (src/image.ts halveRgbJs). */
  halve(dst: Uint8Array, src: Uint8Array, sw: number, dw: number, dh: number): void;
  /** A label map `sw` x `sh` (sw ≥ 16) at `k` times the size (k = 2 or 4), nearest; into `out` when it has the size. */
  upscale(src: Uint8Array, sw: number, sh: number, k: 2 | 4, out?: Uint8Array): Uint8Array;
  /**
   * src/image.ts resizeRgb's bilinear resize (half-pixel centres), the same bytes: separable, each
   * input row's horizontal blend computed once in doubles, the vertical blend per output row.
   */
  bilinear(src: Uint8Array, sw: number, sh: number, dw: number, dh: number, dst: Uint8Array): void;
  /** bilinear when only the height changes (each output row a blend of two input rows). */
  bilinearRows(src: Uint8Array, w: number, sh: number, dh: number, dst: Uint8Array): void;
}

function create(): SimdKernels | undefined {
  const inst = instantiate(bytes);
  if (!inst) return undefined; // no WebAssembly SIMD: the scalar paths are used
  const memory = inst.exports.mem as WebAssembly.Memory;
  const blend = inst.exports.blend as (src: number, cls: number, dst: number, clsEnd: number) => void;
  const halve = inst.exports.halve as (a: number, o: number, stride: number, groups: number, dh: number, outStride: number) => void;
  const up2 = inst.exports.up2 as (src: number, dst: number, sw: number, sh: number) => void;
  const up4 = inst.exports.up4 as (src: number, dst: number, sw: number, sh: number) => void;
  const hrow = inst.exports.hrow as (s: number, out: number, xa: number, xaEnd: number, xb: number, fx: number) => void;
  const vrow = inst.exports.vrow as (t: number, b: number, d: number, dEnd: number, wy: number) => void;
  const vrow8 = inst.exports.vrow8 as (t: number, b: number, d: number, dEnd: number, wy: number) => void;
  const vrowx = inst.exports.vrowx as (t: number, b: number, d: number, dEnd: number, wy: number) => void;
  const over = inst.exports.over as (d: number, stride: number, rowBytes: number, rows: number, pre: number, inv: number) => void;
  /** The heap with room for `need` bytes from DATA_AT (and 64 bytes of slack for over-reads). */
  /** The heap with room for `need` bytes from DATA_AT (and 64 bytes of slack for over-reads). */
  const heap = (need: number): Uint8Array => memoryBytes(memory, DATA_AT + need + 64);
  return {
    blend(dst, src, cls, t, strip) {
      const n = cls.length;
      if (src.length !== 3 * n || dst.length !== 3 * n) throw new RangeError('simd blend: bad sizes');
      const whole = n - (n % 16);
      const s = DATA_AT, c = s + at16(3 * n), d = c + at16(n);
      const h = heap(d - DATA_AT + 3 * n);
      h.set(t.alpha, TABLE_ALPHA);
      h.set(t.r, TABLE_R);
      h.set(t.g, TABLE_G);
      h.set(t.b, TABLE_B);
      h.set(src, s);
      h.set(cls, c);
      blend(s, c, d, c + whole);
      // The strip over the blended bytes while they are in the heap (no extra pass over the frame).
      const drawn = !!strip && strip.offset + (strip.rows - 1) * strip.stride + strip.rowBytes <= 3 * whole;
      if (strip && drawn) {
        const p = d + at16(3 * n), v = p + 2 * strip.pre.length;
        const hh = heap(v + strip.inv.length - DATA_AT);
        hh.set(new Uint8Array(strip.pre.buffer, strip.pre.byteOffset, 2 * strip.pre.length), p);
        hh.set(strip.inv, v);
        over(d + strip.offset, strip.stride, strip.rowBytes, strip.rows, p, v);
      }
      dst.set(new Uint8Array(memory.buffer, d, 3 * whole));
      for (let i = whole, o = 3 * whole; i < n; i++) {
        const k = cls[i]! & 15, a = cls[i]! < 16 ? t.alpha[k]! : 0; // ids above 15: unpainted
        dst[o] = (src[o]! * (256 - a) + t.r[k]! * a) >> 8;
        dst[o + 1] = (src[o + 1]! * (256 - a) + t.g[k]! * a) >> 8;
        dst[o + 2] = (src[o + 2]! * (256 - a) + t.b[k]! * a) >> 8;
        o += 3;
      }
      return drawn;
    },
    over(dst, strip) {
      const bytes = strip.offset + (strip.rows - 1) * strip.stride + strip.rowBytes;
      if (dst.length < bytes) throw new RangeError('simd over: strip outside the frame');
      const p = DATA_AT + at16(bytes), v = p + 2 * strip.pre.length;
      const h = heap(v + strip.inv.length - DATA_AT);
      h.set(dst.subarray(0, bytes), DATA_AT);
      h.set(new Uint8Array(strip.pre.buffer, strip.pre.byteOffset, 2 * strip.pre.length), p);
      h.set(strip.inv, v);
      over(DATA_AT + strip.offset, strip.stride, strip.rowBytes, strip.rows, p, v);
      dst.set(h.subarray(DATA_AT + strip.offset, DATA_AT + bytes), strip.offset);
    },
    halve(dst, src, sw, dw, dh) {
      const inBytes = sw * 2 * dh * 3, outBytes = dw * dh * 3;
      if (sw !== 2 * dw || src.length < inBytes || dst.length !== outBytes) throw new RangeError('simd halve: bad sizes');
      const groups = Math.floor(dw / 8);
      const o = DATA_AT + at16(inBytes) + 64;
      const h = heap(o - DATA_AT + outBytes);
      h.set(src.subarray(0, inBytes), DATA_AT);
      halve(DATA_AT, o, sw * 3, groups, dh, dw * 3);
      dst.set(h.subarray(o, o + outBytes));
      if (groups * 8 === dw) return;
      // The last dw % 8 pixels of each row, as halveRgbJs computes them.
      const stride = sw * 3;
      for (let y = 0; y < dh; y++) {
        for (let x = groups * 8; x < dw; x++) {
          const a = 2 * y * stride + 6 * x, b = a + stride, q = (y * dw + x) * 3;
          for (let ch = 0; ch < 3; ch++) dst[q + ch] = (src[a + ch]! + src[a + ch + 3]! + src[b + ch]! + src[b + ch + 3]! + 2) >> 2;
        }
      }
    },
    upscale(src, sw, sh, k, out) {
      if (sw < 16 || src.length < sw * sh) throw new RangeError('simd upscale: bad sizes');
      const n = sw * sh, m = n * k * k;
      const dst = out && out.length === m ? out : new Uint8Array(Buffer.allocUnsafeSlow(m).buffer, 0, m); // every byte written below
      const d = DATA_AT + at16(n);
      const h = heap(d - DATA_AT + m);
      h.set(src.subarray(0, n), DATA_AT);
      (k === 2 ? up2 : up4)(DATA_AT, d, sw, sh);
      dst.set(h.subarray(d, d + m));
      return dst;
    },
    bilinear(src, sw, sh, dw, dh, dst) {
      const inBytes = sw * sh * 3, rowBytes = dw * 3;
      if (src.length < inBytes || dst.length !== rowBytes * dh) throw new RangeError('simd bilinear: bad sizes');
      // Layout: tables (xa, xb: i32; fx: f64), two rows of doubles, the source, the output.
      const xa = DATA_AT, xb = xa + at16(4 * dw), fx = xb + at16(4 * dw), rowA = fx + 8 * dw, rowB = rowA + 8 * rowBytes;
      const s = rowB + 8 * rowBytes, o = s + at16(inBytes);
      const h = heap(o - DATA_AT + rowBytes * dh);
      const ints = new Int32Array(h.buffer), dbl = new Float64Array(h.buffer);
      const sx = sw / dw, sy = sh / dh;
      const f32 = new Float32Array(1);
      for (let x = 0; x < dw; x++) {
        const fxv = Math.max(0, (x + 0.5) * sx - 0.5);
        const x0 = Math.min(sw - 1, Math.floor(fxv));
        ints[(xa >> 2) + x] = x0 * 3;
        ints[(xb >> 2) + x] = Math.min(sw - 1, x0 + 1) * 3;
        f32[0] = fxv - x0; // the JS path keeps the weight in a Float32Array
        dbl[(fx >> 3) + x] = f32[0]!;
      }
      h.set(src.subarray(0, inBytes), s);
      const held = [-1, -1], at = [rowA, rowB];
      const across = (r: number): number => {
        if (held[0] === r) return at[0]!;
        if (held[1] === r) return at[1]!;
        const k = held[0]! < held[1]! ? 0 : 1; // rows only move down: replace the upper one
        held[k] = r;
        hrow(s + r * sw * 3, at[k]!, xa, xa + 4 * dw, xb, fx);
        return at[k]!;
      };
      for (let y = 0; y < dh; y++) {
        const fy = Math.max(0, (y + 0.5) * sy - 0.5);
        const y0 = Math.min(sh - 1, Math.floor(fy));
        const y1 = Math.min(sh - 1, y0 + 1);
        const top = across(y0), bot = across(y1);
        const d = o + y * rowBytes, whole = rowBytes - (rowBytes % 8);
        vrowx(top, bot, d, d + whole, fy - y0); // 8 bytes a step in f64x2 lanes
        if (whole < rowBytes) vrow(top + 8 * whole, bot + 8 * whole, d + whole, d + rowBytes, fy - y0);
      }
      dst.set(h.subarray(o, o + rowBytes * dh));
    },
    bilinearRows(src, w, sh, dh, dst) {
      const rowBytes = w * 3;
      if (src.length < rowBytes * sh || dst.length !== rowBytes * dh) throw new RangeError('simd bilinearRows: bad sizes');
      const s = DATA_AT, o = s + at16(rowBytes * sh);
      const h = heap(o - DATA_AT + rowBytes * dh);
      h.set(src.subarray(0, rowBytes * sh), s);
      const sy = sh / dh;
      for (let y = 0; y < dh; y++) {
        const fy = Math.max(0, (y + 0.5) * sy - 0.5);
        const y0 = Math.min(sh - 1, Math.floor(fy));
        const y1 = Math.min(sh - 1, y0 + 1);
        const wy = fy - y0;
        const d = o + y * rowBytes;
        if (wy === 0 || y0 === y1) h.copyWithin(d, s + y0 * rowBytes, s + (y0 + 1) * rowBytes); // the row as it is
        else vrow8(s + y0 * rowBytes, s + y1 * rowBytes, d, d + rowBytes, wy);
      }
      dst.set(h.subarray(o, o + rowBytes * dh));
    },
  };
}

/** The SIMD kernels, or undefined where WebAssembly SIMD is unavailable. */
export const simdKernels: SimdKernels | undefined = create();
