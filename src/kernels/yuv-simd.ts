/**
 * The yuv420p kernels of src/kernels/yuv.ts in WebAssembly SIMD (128-bit),
 * each computing exactly the bytes of its scalar reference there
 * (test/yuv.test.ts compares them on random data and odd sizes):
 *
 * - `plane`: one plane blended with per-sample class colours, 16 samples a
 *   step: (v·(256 − α) + colour·α) >> 8 with α and colour picked per label
 *   from 16-entry tables (labels above 15: α = 0, left as they are).
 * - `half`: a w x h frame's planes → RGB24 at w/2 x h/2, 16 pixels a step:
 *   each pixel's luma the rounded mean of its 2x2, its chroma sample, then
 *   13-bit fixed-point coefficients (pairs of terms by `i32x4.dot_i16x8_s`),
 *   saturated to 0..255 by the narrowing, and the three channels interleaved.
 * - `full`: the same conversion at the frame's own size, 16 pixels a step:
 *   each pixel's own luma, each chroma sample doubled by a shuffle (it
 *   covers 2x2 pixels; two rows read the same chroma row).
 * - `scaled`: RGB24 at another size (a model's input between half and full
 *   size): the three planes resized to it (`scale16`: bilinear, 8-bit
 *   weights; per output row two input rows blended 16 bytes a step, then 16
 *   output samples a step, each from two neighbours of that row picked by
 *   swizzles; `scale` one a step where 16 outputs span more than 31 inputs),
 *   then `rgb444`: the conversion with one chroma sample a pixel.
 *
 * Assembled from opcodes like src/kernels/simd.ts. `yuvSimd` is undefined
 * where WebAssembly SIMD is unavailable: callers keep the scalar paths.
 */
import { at16, fn, get, i32, instantiate, load, memoryBytes, section, set, shuffle, simd, splat16, store, str, vconst, whileLt } from './wasm-asm.ts';

const I32 = 0x7f, V128 = 0x7b;
const ADD = [0x6a], MUL = [0x6c], SHL = [0x74], SHR_U = [0x76];
const END = [0x0b];
const SWIZZLE = simd(0x0e), NARROW8_U = simd(0x66), NARROW16_S = simd(0x85);
const EXT_LO = simd(0x89), EXT_HI = simd(0x8a); // i16x8.extend_{low,high}_i8x16_u
const PAIRS_U = simd(0x7d); // i16x8.extadd_pairwise_i8x16_u
const ADD16 = simd(0x8e), SUB16 = simd(0x91), MUL16 = simd(0x95), SHR16_U = simd(0x8d);
const ADD32 = simd(0xae), SHR32_S = simd(0xac), DOT = simd(0xba), EXTMUL_LO = simd(0xbc), EXTMUL_HI = simd(0xbd);
const splat32 = (v: number) => vconst(Array.from({ length: 16 }, (_, i) => (v >> (8 * (i & 3))) & 0xff));
/** Two 16-bit values repeated four times (a dot product's coefficient pairs). */
const pair16 = (a: number, b: number) => vconst(Array.from({ length: 16 }, (_, i) => ((i & 2 ? b : a) >> (8 * (i & 1))) & 0xff));
const bump = (l: number, by: number | number[]) => [...get(l), ...(typeof by === 'number' ? i32(by) : by), ...ADD, ...set(l)];

/** Memory: the plane blend's tables (α at 0, colour at 16), data from DATA_AT. */
const TABLE_ALPHA = 0, TABLE_COLOUR = 16;
const DATA_AT = 1024;

// ---- plane(src, cls, dst, clsEnd) -------------------------------------------------------------
const planeBody = (() => {
  // params 0 src, 1 cls, 2 dst, 3 clsEnd; v128 locals 4 labels, 5 alpha, 6 colour, 7 v
  const half = (ext: number[]) => [
    ...get(7), ...ext, ...splat16(256), ...get(5), ...ext, ...SUB16, ...MUL16,
    ...get(6), ...ext, ...get(5), ...ext, ...MUL16, ...ADD16, ...i32(8), ...SHR16_U,
  ];
  const body = [
    ...get(1), ...load(), ...set(4),
    ...i32(0), ...load(TABLE_ALPHA), ...get(4), ...SWIZZLE, ...set(5),
    ...i32(0), ...load(TABLE_COLOUR), ...get(4), ...SWIZZLE, ...set(6),
    ...get(0), ...load(), ...set(7),
    ...get(2), ...half(EXT_LO), ...half(EXT_HI), ...NARROW8_U, ...store(),
  ];
  const step = [...bump(0, 16), ...bump(1, 16), ...bump(2, 16)];
  return [1, 4, V128, ...whileLt(1, 3, body, step), ...END];
})();

/** 13-bit fixed-point coefficients of limited-range YUV → RGB: luma, R from V, G from U and V, B from U. */
export interface Coefficients { readonly y: number; readonly rv: number; readonly gu: number; readonly gv: number; readonly bu: number }

// ---- 16 pixels' RGB24 from their luma and chroma (both kernels) --------------------------------------
// v128 locals: y0, y1 (luma − 16 of pixels 0..7, 8..15, i16x8), u0, u1, v0, v1 (their chroma − 128), and
// r, g, b (scratch); 48 bytes stored at the i32 local `po`.
interface Lanes { readonly Y0: number; readonly Y1: number; readonly U0: number; readonly U1: number; readonly V0: number; readonly V1: number; readonly R: number; readonly G: number; readonly B: number; readonly po: number }
const rgb16 = (k: Coefficients, l: Lanes): number[] => {
  const { Y0, Y1, U0, U1, V0, V1, R, G, B } = l;
  // i16 lanes 4h..4h+3 of a and b interleaved (a0 b0 a1 b1 ...), for a dot product.
  const zip = (a: number, b: number, h: number) => [...get(a), ...get(b), ...shuffle(Array.from({ length: 16 }, (_, j) => {
    const lane = 4 * h + (j >> 2), fromB = (j >> 1) & 1;
    return (fromB ? 16 : 0) + 2 * lane + (j & 1);
  }))];
  const round = [...splat32(1 << 12), ...ADD32, ...i32(13), ...SHR32_S];
  // One channel of 4 pixels (quarter q: pixels 4q..4q+3) as i32x4.
  const quarter = (ch: 'r' | 'g' | 'b', q: number) => {
    const ys = q < 2 ? Y0 : Y1, us = q < 2 ? U0 : U1, vs = q < 2 ? V0 : V1, h = q & 1;
    if (ch === 'r') return [...zip(ys, vs, h), ...pair16(k.y, k.rv), ...DOT, ...round];
    if (ch === 'b') return [...zip(ys, us, h), ...pair16(k.y, k.bu), ...DOT, ...round];
    return [...zip(ys, us, h), ...pair16(k.y, -k.gu), ...DOT, ...get(vs), ...splat16(-k.gv), ...(h ? EXTMUL_HI : EXTMUL_LO), ...ADD32, ...round];
  };
  const channel = (ch: 'r' | 'g' | 'b', local: number) => [
    ...quarter(ch, 0), ...quarter(ch, 1), ...NARROW16_S, ...quarter(ch, 2), ...quarter(ch, 3), ...NARROW16_S, ...NARROW8_U, ...set(local),
  ];
  // Interleave: output vector o, byte j is pixel p = (16o + j) / 3, channel (16o + j) % 3.
  const interleave = (o: number) => {
    const at = (j: number) => ({ p: Math.floor((16 * o + j) / 3), c: (16 * o + j) % 3 });
    const rg = Array.from({ length: 16 }, (_, j) => { const { p, c } = at(j); return c === 0 ? p : c === 1 ? 16 + p : 0; });
    const withB = Array.from({ length: 16 }, (_, j) => { const { p, c } = at(j); return c === 2 ? 16 + p : j; });
    return [...get(l.po), ...get(R), ...get(G), ...shuffle(rg), ...get(B), ...shuffle(withB), ...store(16 * o)];
  };
  return [
    ...channel('r', R), ...channel('g', G), ...channel('b', B),
    ...interleave(0), ...interleave(1), ...interleave(2),
  ];
};
const chroma = (p: number, ext: number[]) => [...get(p), ...load(), ...ext, ...splat16(128), ...SUB16];

// ---- half(y, u, v, out, w, groups, rows) -----------------------------------------------------------
// The coefficients are baked into the code per matrix (two functions), so the call has 7 params.
const halfBody = (k: Coefficients) => {
  // params 0 y, 1 u, 2 v, 3 out, 4 w, 5 groups, 6 rows; i32 locals 7 pa, 8 pu, 9 pv, 10 po, 11 g, 12 row, 13 cw3
  // v128 locals 14 y0, 15 y1, 16 u0, 17 u1, 18 v0, 19 v1, 20 r, 21 gr, 22 b
  const Y0 = 14, Y1 = 15, U0 = 16, U1 = 17, V0 = 18, V1 = 19, R = 20, G = 21, B = 22;
  // Luma of 8 output pixels: ((pairs of row a) + (pairs of row b) + 2) >> 2, minus 16.
  const luma = (off: number) => [
    ...get(7), ...load(off), ...PAIRS_U, ...get(7), ...get(4), ...ADD, ...load(off), ...PAIRS_U, ...ADD16,
    ...splat16(2), ...ADD16, ...i32(2), ...SHR16_U, ...splat16(16), ...SUB16,
  ];
  const group = [
    ...luma(0), ...set(Y0), ...luma(16), ...set(Y1),
    ...chroma(8, EXT_LO), ...set(U0), ...chroma(8, EXT_HI), ...set(U1),
    ...chroma(9, EXT_LO), ...set(V0), ...chroma(9, EXT_HI), ...set(V1),
    ...rgb16(k, { Y0, Y1, U0, U1, V0, V1, R, G, B, po: 10 }),
  ];
  const groupStep = [...bump(7, 32), ...bump(8, 16), ...bump(9, 16), ...bump(10, 48), ...bump(11, 1)];
  // Per row: pa = y + 2·row·w, pu = u + row·w/2, pv likewise, po = out + row·3w/2.
  const row = [
    ...get(0), ...get(12), ...get(4), ...MUL, ...i32(1), ...SHL, ...ADD, ...set(7), // y + (row·w << 1)
    ...get(1), ...get(12), ...get(4), ...MUL, ...i32(1), ...SHR_U, ...ADD, ...set(8), // u + (row·w >> 1)
    ...get(2), ...get(12), ...get(4), ...MUL, ...i32(1), ...SHR_U, ...ADD, ...set(9),
    ...get(3), ...get(12), ...get(13), ...MUL, ...ADD, ...set(10),
    ...i32(0), ...set(11),
    ...whileLt(11, 5, group, groupStep),
  ];
  const init = [...get(4), ...i32(1), ...SHR_U, ...i32(3), ...MUL, ...set(13)]; // cw3 = (w >> 1) · 3
  return [2, 7, I32, 9, V128, ...init, ...whileLt(12, 6, row, bump(12, 1)), ...END];
};

// ---- full(y, u, v, out, w, groups, rows), and rgb444 the same from planes of equal size ---------------
// full: each pixel's own luma; each chroma sample serves 2x2 pixels: 8 samples a step, each byte
// doubled by a shuffle (c0 c0 c1 c1 ... c7 c7), rows 2r and 2r + 1 read the same chroma row.
// rgb444: one chroma sample per pixel (the planes `scale` makes), 16 a step.
const fullBody = (k: Coefficients, sub: boolean) => {
  // params 0 y, 1 u, 2 v, 3 out, 4 w, 5 groups, 6 rows; i32 locals 7 pa, 8 pu, 9 pv, 10 po, 11 g, 12 row, 13 w3
  // v128 locals 14 y0, 15 y1, 16 u0, 17 u1, 18 v0, 19 v1, 20 r, 21 g, 22 b, 23 (doubled) chroma
  const Y0 = 14, Y1 = 15, U0 = 16, U1 = 17, V0 = 18, V1 = 19, R = 20, G = 21, B = 22, D = 23;
  const luma = (ext: number[]) => [...get(7), ...load(), ...ext, ...splat16(16), ...SUB16];
  const twice = Array.from({ length: 16 }, (_, j) => j >> 1);
  const doubled = (p: number) => [...get(p), ...load(), ...set(D), ...(sub ? [...get(D), ...get(D), ...shuffle(twice), ...set(D)] : [])];
  const centred = (ext: number[]) => [...get(D), ...ext, ...splat16(128), ...SUB16];
  const group = [
    ...luma(EXT_LO), ...set(Y0), ...luma(EXT_HI), ...set(Y1),
    ...doubled(8), ...centred(EXT_LO), ...set(U0), ...centred(EXT_HI), ...set(U1),
    ...doubled(9), ...centred(EXT_LO), ...set(V0), ...centred(EXT_HI), ...set(V1),
    ...rgb16(k, { Y0, Y1, U0, U1, V0, V1, R, G, B, po: 10 }),
  ];
  const groupStep = [...bump(7, 16), ...bump(8, sub ? 8 : 16), ...bump(9, sub ? 8 : 16), ...bump(10, 48), ...bump(11, 1)];
  // Per row: pa = y + row·w, pu = u + (row >> 1)·(w >> 1) (rgb444: row·w), pv likewise, po = out + row·3w.
  const chromaRow = sub ? [...get(12), ...i32(1), ...SHR_U, ...get(4), ...i32(1), ...SHR_U, ...MUL] : [...get(12), ...get(4), ...MUL];
  const row = [
    ...get(0), ...get(12), ...get(4), ...MUL, ...ADD, ...set(7),
    ...get(1), ...chromaRow, ...ADD, ...set(8),
    ...get(2), ...chromaRow, ...ADD, ...set(9),
    ...get(3), ...get(12), ...get(13), ...MUL, ...ADD, ...set(10),
    ...i32(0), ...set(11),
    ...whileLt(11, 5, group, groupStep),
  ];
  const init = [...get(4), ...i32(3), ...MUL, ...set(13)]; // w3 = w · 3
  return [2, 7, I32, 10, V128, ...init, ...whileLt(12, 6, row, bump(12, 1)), ...END];
};

// ---- scale(src, sw, dst, rowTab, rowEnd, colTab, colEnd, tmp, dw), and scale16 -------------------------
// One plane resized (bilinear, 8-bit weights): per output row (an i32 of rowTab: y0 << 9 | wy) the
// rows y0 and y0 + 1 blended, 16 bytes a step, into tmp: (a·(256 − wy) + b·wy + 128) >> 8 in u16 lanes;
// then the dw samples of the output row, each a + (((b − a)·wx + 128) >> 8) (= (a·(256 − wx) + b·wx +
// 128) >> 8) from its two neighbours a, b in tmp. scale: one a step (colTab: x0 << 9 | wx per column).
// scale16: 16 a step (colTab: 48-byte blocks: i32 base, 12 unused, then per lane its offset from base,
// at most 30, and its weight; the neighbours picked from the 32 bytes at base by swizzles); it writes
// up to 15 bytes past a row's end (the next row's, written after).
const LOADI32 = [0x28, 2, 0], LOAD8 = (o = 0) => [0x2d, 0, o], STORE8 = [0x3a, 0, 0];
const AND = [0x71], SUB = [0x6b], SHR_S = [0x75], SPLAT16 = simd(0x10);
const ADD8 = simd(0x6e), SUB8 = simd(0x71), OR = simd(0x50);
const splat8 = (v: number) => vconst(new Array<number>(16).fill(v));
const scaleBody = (blocks: boolean) => {
  // params 0 src, 1 sw, 2 dst, 3 rowTab, 4 rowEnd, 5 colTab, 6 colEnd, 7 tmp, 8 dw
  // i32 locals 9 v, 10 s, 11 p, 12 pEnd, 13 q, 14 w, 15 a, 16 d
  // v128 locals 17 wy, 18 256 − wy, 19 lo bytes, 20 hi bytes, 21 offsets, 22 a's, 23 b's, 24 weights
  const blend = (ext: number[]) => [
    ...get(10), ...load(), ...ext, ...get(18), ...MUL16, ...get(10), ...get(1), ...ADD, ...load(), ...ext, ...get(17), ...MUL16, ...ADD16,
    ...splat16(128), ...ADD16, ...i32(8), ...SHR16_U,
  ];
  const down = [...get(11), ...blend(EXT_LO), ...blend(EXT_HI), ...NARROW8_U, ...store()];
  const one = [
    ...get(13), ...LOADI32, ...set(9),
    ...get(7), ...get(9), ...i32(9), ...SHR_U, ...ADD, ...set(15),
    ...get(9), ...i32(511), ...AND, ...set(14),
    ...get(16),
    ...get(15), ...LOAD8(0),
    ...get(15), ...LOAD8(1), ...get(15), ...LOAD8(0), ...SUB, ...get(14), ...MUL, ...i32(128), ...ADD, ...i32(8), ...SHR_S, ...ADD,
    ...STORE8,
  ];
  // The bytes at offsets (on the stack) of the 32 from base: lo's lanes, or hi's (offset − 16 wraps past 15: 0).
  const pick = [...set(21), ...get(19), ...get(21), ...SWIZZLE, ...get(20), ...get(21), ...splat8(16), ...SUB8, ...SWIZZLE, ...OR];
  const mix = (ext: number[]) => [
    ...get(22), ...ext, ...splat16(256), ...get(24), ...ext, ...SUB16, ...MUL16,
    ...get(23), ...ext, ...get(24), ...ext, ...MUL16, ...ADD16, ...splat16(128), ...ADD16, ...i32(8), ...SHR16_U,
  ];
  const sixteen = [
    ...get(7), ...get(13), ...LOADI32, ...ADD, ...set(15),
    ...get(15), ...load(0), ...set(19), ...get(15), ...load(16), ...set(20),
    ...get(13), ...load(16), ...pick, ...set(22),
    ...get(13), ...load(16), ...splat8(1), ...ADD8, ...pick, ...set(23),
    ...get(13), ...load(32), ...set(24),
    ...get(16), ...mix(EXT_LO), ...mix(EXT_HI), ...NARROW8_U, ...store(),
  ];
  const row = [
    ...get(3), ...LOADI32, ...set(9),
    ...get(0), ...get(9), ...i32(9), ...SHR_U, ...get(1), ...MUL, ...ADD, ...set(10),
    ...get(9), ...i32(511), ...AND, ...set(14),
    ...get(14), ...SPLAT16, ...set(17),
    ...i32(256), ...get(14), ...SUB, ...SPLAT16, ...set(18),
    ...get(7), ...set(11), ...get(7), ...get(1), ...ADD, ...set(12),
    ...whileLt(11, 12, down, [...bump(10, 16), ...bump(11, 16)]),
    ...get(2), ...set(16), ...get(2), ...get(8), ...ADD, ...set(2),
    ...get(5), ...set(13),
    ...(blocks ? whileLt(13, 6, sixteen, [...bump(13, 48), ...bump(16, 16)]) : whileLt(13, 6, one, [...bump(13, 4), ...bump(16, 1)])),
  ];
  return [2, 8, I32, 8, V128, ...whileLt(3, 4, row, bump(3, 4)), ...END];
};

/** scale16's column blocks for the taps `t` (see there), or undefined where 16 outputs span more than 31 inputs. */
export function blocks16(t: Int32Array): Uint8Array | undefined {
  const n = Math.ceil(t.length / 16), out = new Uint8Array(48 * n), view = new DataView(out.buffer);
  for (let b = 0; b < n; b++) {
    const base = t[16 * b]! >> 9;
    view.setInt32(48 * b, base, true);
    for (let j = 0; j < 16 && 16 * b + j < t.length; j++) {
      const v = t[16 * b + j]!, off = (v >> 9) - base;
      if (off > 30) return undefined;
      out[48 * b + 16 + j] = off;
      out[48 * b + 32 + j] = v & 511;
    }
  }
  return out;
}

/**
 * A chroma plane's taps for the luma taps `t`: what the luma resize would blend had each chroma sample
 * been repeated over its two luma samples (as yuvToRgb and ffmpeg's own conversion take it), so that
 * the resized frame's colours are the full-size conversion's, resized: luma sample i0 (chroma i0 >> 1)
 * and i0 + 1 (the same chroma sample when i0 is even, else the next).
 */
export function chromaTaps(t: Int32Array): Int32Array {
  return t.map((v) => ((v >> 10) << 9) | ((v >> 9) & 1 ? v & 511 : 0));
}

/**
 * The bilinear taps of a resize from s to d samples (half-pixel centres, as resizeRgb): per output
 * sample i0 << 9 | w, the sample i0 and i0 + 1 weighted 256 − w and w (w in 0..255; w = 0 at the
 * last input sample, whose neighbour is never read for its value).
 */
export function taps(s: number, d: number): Int32Array {
  const t = new Int32Array(d);
  for (let i = 0; i < d; i++) {
    const f = Math.max(0, ((i + 0.5) * s) / d - 0.5);
    let i0 = Math.min(s - 1, Math.floor(f)), w = Math.round((f - i0) * 256);
    if (w === 256) { i0++; w = 0; }
    if (i0 >= s - 1) { i0 = s - 1; w = 0; }
    t[i] = (i0 << 9) | w;
  }
  return t;
}

/** The coefficients of each matrix, 13-bit fixed point (limited range: luma × 255/219, chroma × 255/224). */
export function coefficients(kr: number, kb: number): Coefficients {
  const kg = 1 - kr - kb, F = 1 << 13, cs = 255 / 224;
  return {
    y: Math.round((255 / 219) * F),
    rv: Math.round(2 * (1 - kr) * cs * F),
    bu: Math.round(2 * (1 - kb) * cs * F),
    gu: Math.round(((2 * (1 - kb) * kb) / kg) * cs * F),
    gv: Math.round(((2 * (1 - kr) * kr) / kg) * cs * F),
  };
}
export const BT601 = coefficients(0.299, 0.114);
export const BT709 = coefficients(0.2126, 0.0722);

const bytes = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  // types: 0 (i32 x4) -> (), 1 (i32 x7) -> (), 2 (i32 x9) -> ()
  ...section(1, [3, 0x60, 4, I32, I32, I32, I32, 0, 0x60, 7, I32, I32, I32, I32, I32, I32, I32, 0, 0x60, 9, ...new Array<number>(9).fill(I32), 0]),
  ...section(3, [9, 0, 1, 1, 1, 1, 2, 1, 1, 2]), // plane, half601, half709, full601, full709, scale, rgb444_601, rgb444_709, scale16
  ...section(5, [1, 0, 1]), // memory, min 1 page, grown on demand
  ...section(7, [10, ...str('plane'), 0, 0, ...str('half601'), 0, 1, ...str('half709'), 0, 2, ...str('full601'), 0, 3, ...str('full709'), 0, 4, ...str('scale'), 0, 5,
    ...str('rgb444_601'), 0, 6, ...str('rgb444_709'), 0, 7, ...str('scale16'), 0, 8, ...str('mem'), 2, 0]),
  ...section(10, [9, ...fn(planeBody), ...fn(halfBody(BT601)), ...fn(halfBody(BT709)), ...fn(fullBody(BT601, true)), ...fn(fullBody(BT709, true)), ...fn(scaleBody(false)),
    ...fn(fullBody(BT601, false)), ...fn(fullBody(BT709, false)), ...fn(scaleBody(true))]),
]);

export interface YuvSimd {
  /** dst[i] = (src[i]·(256 − α) + colour·α) >> 8, α and colour from the tables by cls[i] (ids above 15: α 0); n = cls.length. */
  plane(dst: Uint8Array, src: Uint8Array, cls: Uint8Array, alpha: Uint8Array, colour: Uint8Array): void;
  /** The w x h yuv420p frame `src` as RGB24 at w/2 x h/2 into `dst` (w, h even; see yuvHalfToRgbJs). */
  half(dst: Uint8Array, src: Uint8Array, w: number, h: number, bt709: boolean, rest: (x0: number) => void): void;
  /** The w x h yuv420p frame `src` as RGB24 at w x h into `dst` (w, h even; see yuvToRgbJs); `rest(x0)` does columns x0.. */
  full(dst: Uint8Array, src: Uint8Array, w: number, h: number, bt709: boolean, rest: (x0: number) => void): void;
  /**
   * The w x h yuv420p frame `src` as RGB24 at tw x th into `dst`: its three planes resized to tw x th by
   * the taps of `taps`, then converted per pixel (see yuvScaleToRgbJs); `rest(x0, planes)` does columns
   * x0.. from the resized planes (Y, U, V, tw x th each).
   */
  scaled(dst: Uint8Array, src: Uint8Array, w: number, h: number, tw: number, th: number, bt709: boolean, rest: (x0: number, planes: Uint8Array) => void): void;
}

function create(): YuvSimd | undefined {
  const inst = instantiate(bytes);
  if (!inst) return undefined;
  const memory = inst.exports.mem as WebAssembly.Memory;
  const plane = inst.exports.plane as (src: number, cls: number, dst: number, clsEnd: number) => void;
  const half601 = inst.exports.half601 as (...a: number[]) => void;
  const half709 = inst.exports.half709 as (...a: number[]) => void;
  const full601 = inst.exports.full601 as (...a: number[]) => void;
  const full709 = inst.exports.full709 as (...a: number[]) => void;
  const scale = inst.exports.scale as (...a: number[]) => void;
  const rgb444_601 = inst.exports.rgb444_601 as (...a: number[]) => void;
  const rgb444_709 = inst.exports.rgb444_709 as (...a: number[]) => void;
  const scale16 = inst.exports.scale16 as (...a: number[]) => void;
  /** One plane's tables: its row taps, and its column blocks for scale16 (else the column taps, for scale). */
  interface Tables { readonly rows: Int32Array; readonly cols: Uint8Array; readonly wide: boolean }
  const tables = (rows: Int32Array, cols: Int32Array): Tables => {
    const b = blocks16(cols);
    return { rows, cols: b ?? new Uint8Array(cols.buffer), wide: !b };
  };
  let tapsFor: { key: string; y?: Tables; c?: Tables } = { key: '' };
  /** The heap with room for `need` bytes from DATA_AT (and 64 bytes of slack for over-reads). */
  const heap = (need: number): Uint8Array => memoryBytes(memory, DATA_AT + need + 64);
  /**
   * A w x h yuv420p frame as RGB24 at ow x oh (the half or the full size) by `kernel`, 16 output
   * pixels a step on each of its oh rows; `rest(x0)` does the columns past the last whole step.
   */
  const planesToRgb = (what: string, dst: Uint8Array, src: Uint8Array, w: number, h: number, ow: number, oh: number, kernel: (...a: number[]) => void, rest: (x0: number) => void): void => {
    const cw = w >> 1, ch = h >> 1, n = w * h + 2 * cw * ch, out = ow * oh * 3;
    if (w % 2 || h % 2 || src.length < n || dst.length !== out) throw new RangeError(`yuv simd ${what}: bad sizes`);
    const groups = Math.floor(ow / 16);
    const o = DATA_AT + at16(n);
    const heapNow = heap(o - DATA_AT + out);
    heapNow.set(src.subarray(0, n), DATA_AT);
    kernel(DATA_AT, DATA_AT + w * h, DATA_AT + w * h + cw * ch, o, w, groups, oh);
    dst.set(heapNow.subarray(o, o + out));
    if (groups * 16 < ow) rest(groups * 16);
  };
  return {
    plane(dst, src, cls, alpha, colour) {
      const n = cls.length;
      if (src.length < n || dst.length < n || alpha.length !== 16 || colour.length !== 16) throw new RangeError('yuv simd plane: bad sizes');
      const whole = n - (n % 16);
      const s = DATA_AT, c = s + at16(n), d = c + at16(n);
      const h = heap(d - DATA_AT + n);
      h.set(alpha, TABLE_ALPHA);
      h.set(colour, TABLE_COLOUR);
      h.set(src.subarray(0, n), s);
      h.set(cls, c);
      plane(s, c, d, c + whole);
      dst.set(h.subarray(d, d + whole));
      for (let i = whole; i < n; i++) {
        const k = cls[i]!, a = k < 16 ? alpha[k]! : 0;
        dst[i] = (src[i]! * (256 - a) + (k < 16 ? colour[k]! : 0) * a) >> 8;
      }
    },
    half(dst, src, w, h, bt709, rest) {
      planesToRgb('half', dst, src, w, h, w >> 1, h >> 1, bt709 ? half709 : half601, rest);
    },
    full(dst, src, w, h, bt709, rest) {
      planesToRgb('full', dst, src, w, h, w, h, bt709 ? full709 : full601, rest);
    },
    scaled(dst, src, w, h, tw, th, bt709, rest) {
      const cw = w >> 1, ch = h >> 1, n = w * h + 2 * cw * ch, tn = tw * th;
      if (w % 2 || h % 2 || tw < 1 || th < 1 || src.length < n || dst.length !== 3 * tn) throw new RangeError('yuv simd scaled: bad sizes');
      const key = `${w}x${h}>${tw}x${th}`;
      if (tapsFor.key !== key) {
        const yr = taps(h, th), yc = taps(w, tw);
        tapsFor = { key, y: tables(yr, yc), c: tables(chromaTaps(yr), chromaTaps(yc)) };
      }
      const ty = tapsFor.y!, tc = tapsFor.c!;
      // Layout: the frame (and a row of slack: row y0 + 1 is read at weight 0 below the last), the
      // tables, one blended row, the resized planes (and slack for scale16's last row), the RGB.
      const yr = DATA_AT + at16(n) + at16(w) + 64, yc = yr + at16(4 * th), cr = yc + at16(ty.cols.length), cc = cr + at16(4 * th);
      const tmp = cc + at16(tc.cols.length), p = tmp + at16(w) + 64, o = at16(p + 3 * tn + 64);
      const hp = heap(o - DATA_AT + 3 * tn);
      hp.set(src.subarray(0, n), DATA_AT);
      const ints = new Int32Array(hp.buffer);
      ints.set(ty.rows, yr >> 2);
      hp.set(ty.cols, yc);
      ints.set(tc.rows, cr >> 2);
      hp.set(tc.cols, cc);
      const u = DATA_AT + w * h;
      (ty.wide ? scale : scale16)(DATA_AT, w, p, yr, yr + 4 * th, yc, yc + ty.cols.length, tmp, tw);
      for (const [plane, out] of [[u, p + tn], [u + cw * ch, p + 2 * tn]] as const) {
        (tc.wide ? scale : scale16)(plane, cw, out, cr, cr + 4 * th, cc, cc + tc.cols.length, tmp, tw);
      }
      const groups = Math.floor(tw / 16);
      (bt709 ? rgb444_709 : rgb444_601)(p, p + tn, p + 2 * tn, o, tw, groups, th);
      dst.set(hp.subarray(o, o + 3 * tn));
      if (groups * 16 < tw) rest(groups * 16, hp.slice(p, p + 3 * tn));
    },
  };
}

/** The kernels, or undefined where WebAssembly SIMD is unavailable. */
export const yuvSimd: YuvSimd | undefined = create();
