/**
 * The boundary pixels of upsampleArgmax (src/kernels/upsample.ts) in
 * WebAssembly SIMD: every class's bilinear score at a pixel whose four score
 * cells disagree, two classes a step in f64x2 lanes, and the first maximum.
 * The same doubles as the JS loop (each float32 score widened to a double,
 * ((a·s00 + b·s01) + c·s10) + d·s11 with the same weights, no fused
 * multiply-add in WebAssembly), compared in class order with the same `>`:
 * the same labels (test/upsample.test.ts compares them on random, tied and
 * real scores). That loop is ~90 % of upsampleArgmax, and on key frames only
 * (a few dozen calls a clip) it never gets hot enough for V8 to optimise.
 *
 * Assembled from opcodes like src/kernels/simd.ts. Memory (the caller lays it
 * out, see `layout`): the scores channels-last with the class count padded to
 * even (the pad NaN: never a maximum), a table per output column, the list of
 * a row's boundary pixels, the labels. `upsampleWasm` is undefined where
 * WebAssembly SIMD is unavailable (the JS loop is used).
 */
import { at16, fn, get, instantiate, section, set, simd, str, uleb } from './wasm-asm.ts';

const I32 = 0x7f, F64 = 0x7c, V128 = 0x7b;
const i32 = (v: number) => [0x41, ...uleb(v)]; // non-negative below 64 only (sleb = uleb there)
const tee = (l: number) => [0x22, ...uleb(l)];
const ADD = [0x6a], MUL = [0x6c], GE_U = [0x4f], LT_U = [0x49];
const F64_ADD = [0xa0], F64_MUL = [0xa2], F64_GT = [0x64], PROMOTE = [0xbb];
const BLOCK = [0x02, 0x40], LOOP = [0x03, 0x40], IF = [0x04, 0x40], END = [0x0b];
const br = (d: number) => [0x0c, d];
const brIf = (d: number) => [0x0d, d];
const loadI = (offset = 0) => [0x28, 2, ...uleb(offset)]; // i32.load
const loadF = (offset = 0) => [0x2a, 2, ...uleb(offset)]; // f32.load
const storeF = (offset = 0) => [0x38, 2, ...uleb(offset)]; // f32.store
const store8 = [0x3a, 0, 0]; // i32.store8
const NAN32 = [0x43, 0x00, 0x00, 0xc0, 0x7f]; // f32.const nan
const NEG_INF64 = [0x44, 0, 0, 0, 0, 0, 0, 0xf0, 0xff]; // f64.const -inf
const LOAD64Z = simd(0x5d, 3, 0); // v128.load64_zero: two floats
const PROMOTE2 = simd(0x5f); // f64x2.promote_low_f32x4
const SPLAT2 = simd(0x14), MUL2 = simd(0xf2), ADD2 = simd(0xf0);
const lane = (l: number) => simd(0x21, l); // f64x2.extract_lane
const whileLt = (i: number, end: number, body: number[]) => [
  ...BLOCK, ...LOOP, ...get(i), ...get(end), ...GE_U, ...brIf(1), ...body, ...br(0), ...END, ...END,
];
const bump = (l: number, by: number[]) => [...get(l), ...by, ...ADD, ...set(l)];

// hwc(src, dst, plane, c, cpad): dst[p·cpad + k] = src[k·plane + p] (float32), the pad class NaN.
const hwcBody = (() => {
  // params 0 src, 1 dst, 2 plane, 3 c, 4 cpad; i32 locals 5 p, 6 k, 7 s, 8 d, 9 stride (plane·4)
  const cls = [...get(8), ...get(7), ...loadF(), ...storeF(), ...bump(7, get(9)), ...bump(8, i32(4)), ...bump(6, i32(1))];
  const px = [
    ...get(0), ...get(5), ...i32(4), ...MUL, ...ADD, ...set(7),
    ...get(1), ...get(5), ...get(4), ...MUL, ...i32(4), ...MUL, ...ADD, ...set(8),
    ...i32(0), ...set(6), ...whileLt(6, 3, cls),
    ...get(3), ...get(4), ...LT_U, ...IF, ...get(8), ...NAN32, ...storeF(), ...END,
    ...bump(5, i32(1)),
  ];
  return [1, 5, I32, ...get(2), ...i32(4), ...MUL, ...set(9), ...i32(0), ...set(5), ...whileLt(5, 2, px), ...END];
})();

// mix(list, listEnd, out, r0, r1, wy0, wy1, tabs, cpad): for each x in the i32 list, out[x] = the
// first class of the maximum of a·s00 + b·s01 + c·s10 + d·s11, where tabs + 16x holds x0·cpad·4,
// x1·cpad·4 (i32) and wx0, wx1 (f32), s00 = scores at r0 + x0·cpad·4 (r0, r1: the two source rows'
// addresses), a = wx0·wy0, b = wx1·wy0, c = wx0·wy1, d = wx1·wy1.
const mixBody = (() => {
  // params 0 list, 1 listEnd, 2 out, 3 r0, 4 r1, 5 wy0 (f64), 6 wy1 (f64), 7 tabs, 8 cpad;
  // i32 locals 9 x, 10 t, 11 p00, 12 p01, 13 p10, 14 p11, 15 k, 16 bc;
  // f64 locals 17 wx0, 18 wx1, 19 best, 20 e; v128 locals 21 va, 22 vb, 23 vc, 24 vd, 25 v
  const w2 = (p: number, v: number) => [...get(v), ...get(p), ...LOAD64Z, ...PROMOTE2, ...MUL2];
  const pick = (l: number, k: number[]) => [
    ...get(25), ...lane(l), ...tee(20), ...get(19), ...F64_GT,
    ...IF, ...get(20), ...set(19), ...k, ...set(16), ...END,
  ];
  const cls = [
    ...w2(11, 21), ...w2(12, 22), ...ADD2, ...w2(13, 23), ...ADD2, ...w2(14, 24), ...ADD2, ...set(25),
    ...pick(0, get(15)), ...pick(1, [...get(15), ...i32(1), ...ADD]),
    ...bump(11, i32(8)), ...bump(12, i32(8)), ...bump(13, i32(8)), ...bump(14, i32(8)), ...bump(15, i32(2)),
  ];
  const weight = (wx: number, wy: number) => [...get(wx), ...get(wy), ...F64_MUL, ...SPLAT2];
  const px = [
    ...get(0), ...loadI(), ...set(9),
    ...get(7), ...get(9), ...i32(16), ...MUL, ...ADD, ...set(10),
    ...get(3), ...get(10), ...loadI(0), ...ADD, ...set(11),
    ...get(3), ...get(10), ...loadI(4), ...ADD, ...set(12),
    ...get(4), ...get(10), ...loadI(0), ...ADD, ...set(13),
    ...get(4), ...get(10), ...loadI(4), ...ADD, ...set(14),
    ...get(10), ...loadF(8), ...PROMOTE, ...set(17),
    ...get(10), ...loadF(12), ...PROMOTE, ...set(18),
    ...weight(17, 5), ...set(21), ...weight(18, 5), ...set(22), ...weight(17, 6), ...set(23), ...weight(18, 6), ...set(24),
    ...NEG_INF64, ...set(19), ...i32(0), ...set(16), ...i32(0), ...set(15),
    ...whileLt(15, 8, cls),
    ...get(2), ...get(9), ...ADD, ...get(16), ...store8,
    ...bump(0, i32(4)),
  ];
  return [3, 8, I32, 4, F64, 5, V128, ...whileLt(0, 1, px), ...END];
})();

const bytes = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  // types: 0 (i32 x5) -> (), 1 (i32 x5, f64 x2, i32 x2) -> ()
  ...section(1, [2, 0x60, 5, I32, I32, I32, I32, I32, 0, 0x60, 9, I32, I32, I32, I32, I32, F64, F64, I32, I32, 0]),
  ...section(3, [2, 0, 1]),
  ...section(5, [1, 0, 1]),
  ...section(7, [3, ...str('hwc'), 0, 0, ...str('mix'), 0, 1, ...str('mem'), 2, 0]),
  ...section(10, [2, ...fn(hwcBody), ...fn(mixBody)]),
]);

/** Where a call's data lies in memory (byte addresses), and views on it. */
export interface UpsampleLayout {
  /** Class count padded to even. */
  readonly cpad: number;
  /** The scores, channels-last (cpad floats a cell). */
  readonly scores: number;
  /** Per output column: x0·cpad·4, x1·cpad·4 (i32), wx0, wx1 (f32). */
  readonly tabs: number;
  /** A row's boundary columns (i32). */
  readonly list: number;
  /** The labels, outH x outW bytes. */
  readonly labels: number;
  readonly u8: Uint8Array;
  readonly i32: Int32Array;
  readonly f32: Float32Array;
}

export interface UpsampleWasm {
  /** Memory for one call (grown as needed; earlier layouts' views are stale after this). */
  layout(c: number, h: number, w: number, outH: number, outW: number): UpsampleLayout;
  /** The scores ([c, h, w]) into the layout, channels-last. */
  load(l: UpsampleLayout, scores: Float32Array, c: number, plane: number): void;
  /**
   * The labels of `n` boundary columns (listed at l.list) of the output row starting at label
   * `rowAt` (y · outW), from source rows y0 and y1 (`w` cells wide) with weights wy0, wy1.
   */
  mix(l: UpsampleLayout, n: number, rowAt: number, w: number, y0: number, y1: number, wy0: number, wy1: number): void;
}

function create(): UpsampleWasm | undefined {
  const inst = instantiate(bytes);
  if (!inst) return undefined;
  const memory = inst.exports.mem as WebAssembly.Memory;
  const hwc = inst.exports.hwc as (src: number, dst: number, plane: number, c: number, cpad: number) => void;
  const mix = inst.exports.mix as (list: number, listEnd: number, out: number, r0: number, r1: number, wy0: number, wy1: number, tabs: number, cpad: number) => void;
  let views: { u8: Uint8Array; i32: Int32Array; f32: Float32Array } | undefined;
  return {
    layout(c, h, w, outH, outW) {
      const cpad = c + (c & 1);
      const raw = 0; // the scores as given (channels first), then channels-last after them
      const scores = at16(raw + 4 * c * h * w);
      const tabs = at16(scores + 4 * cpad * h * w);
      const list = tabs + 16 * outW;
      const labels = at16(list + 4 * outW);
      const total = labels + outH * outW + 64;
      if (memory.buffer.byteLength < total) memory.grow(Math.ceil((total - memory.buffer.byteLength) / 65536));
      if (!views || views.u8.buffer !== memory.buffer) {
        views = { u8: new Uint8Array(memory.buffer), i32: new Int32Array(memory.buffer), f32: new Float32Array(memory.buffer) };
      }
      return { cpad, scores, tabs, list, labels, ...views };
    },
    load(l, scores, c, plane) {
      l.f32.set(scores.subarray(0, c * plane), 0);
      hwc(0, l.scores, plane, c, l.cpad);
    },
    mix(l, n, rowAt, w, y0, y1, wy0, wy1) {
      const rowBytes = 4 * l.cpad * w;
      mix(l.list, l.list + 4 * n, l.labels + rowAt, l.scores + y0 * rowBytes, l.scores + y1 * rowBytes, wy0, wy1, l.tabs, l.cpad);
    },
  };
}

/** The boundary-pixel kernel, or undefined where WebAssembly SIMD is unavailable. */
export const upsampleWasm: UpsampleWasm | undefined = create();
