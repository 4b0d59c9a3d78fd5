/**
 * WebAssembly SIMD for the block matching of src/kernels/motion.ts: the sum
 * of absolute differences of a block (up to 16 x 16 pixels: a row of the
 * block per 128-bit vector, masked to the block's width) and of two whole
 * thumbnails (changeScore). Integer sums, so the results are exactly those
 * of the scalar loops (test/motion.test.ts compares them on random data and
 * odd sizes). Assembled from opcodes like src/kernels/simd.ts; undefined
 * where WebAssembly SIMD is unavailable (the scalar loops are used).
 *
 * Memory: 17 row masks (16 bytes each: the first k bytes 0xff) at 0, data
 * from DATA_AT.
 */
import { at16, fn, get, instantiate, load, section, set, simd, str, uleb, whileLt } from './wasm-asm.ts';

const I32 = 0x7f, V128 = 0x7b;
const i32 = (v: number) => [0x41, ...uleb(v)]; // non-negative below 64 only (sleb = uleb there)
const ADD = [0x6a];
const END = [0x0b];
const ZERO = simd(0x0c, ...new Array<number>(16).fill(0));
const AND = simd(0x4e), MIN_U = simd(0x77), MAX_U = simd(0x79), SUB8 = simd(0x71);
const EXTADD8 = simd(0x7d), EXTADD16 = simd(0x7f), ADD16 = simd(0x8e), ADD32 = simd(0xae);
const lane32 = (l: number) => simd(0x1b, l);
const bump = (l: number, by: number[]) => [...get(l), ...by, ...ADD, ...set(l)];
/** |a − b| per byte of the two v128 on the stack's locals. */
const absDiff = (a: number, b: number) => [...get(a), ...get(b), ...MAX_U, ...get(a), ...get(b), ...MIN_U, ...SUB8];
const hsum32 = (v: number) => [...get(v), ...lane32(0), ...get(v), ...lane32(1), ...ADD, ...get(v), ...lane32(2), ...ADD, ...get(v), ...lane32(3), ...ADD];

// sad(c, p, stride, rowsEnd, mask) -> i32: Σ over rows r (c < rowsEnd, c and p advancing by stride)
// of Σ_k mask[k] & |c[k] − p[k]|. 16-bit lanes: at most 2·255 a row, 16 rows (block ≤ 16).
const sadBody = (() => {
  // params 0 c, 1 p, 2 stride, 3 cEnd, 4 mask; v128 locals 5 m, 6 acc, 7 a, 8 b
  const body = [
    ...get(0), ...load(), ...set(7), ...get(1), ...load(), ...set(8),
    ...get(6), ...absDiff(7, 8), ...get(5), ...AND, ...EXTADD8, ...ADD16, ...set(6),
  ];
  const step = [...bump(0, get(2)), ...bump(1, get(2))];
  return [1, 4, V128, ...get(4), ...load(), ...set(5), ...ZERO, ...set(6), ...whileLt(0, 3, body, step),
    ...get(6), ...EXTADD16, ...set(6), ...hsum32(6), ...END];
})();

// absdiff(a, b, aEnd) -> i32: Σ |a[k] − b[k]| over whole 16-byte steps (the caller adds the tail).
const absdiffBody = (() => {
  // params 0 a, 1 b, 2 aEnd; v128 locals 3 acc, 4 x, 5 y
  const body = [
    ...get(0), ...load(), ...set(4), ...get(1), ...load(), ...set(5),
    ...get(3), ...absDiff(4, 5), ...EXTADD8, ...EXTADD16, ...ADD32, ...set(3),
  ];
  const step = [...bump(0, i32(16)), ...bump(1, i32(16))];
  return [1, 3, V128, ...ZERO, ...set(3), ...whileLt(0, 2, body, step), ...hsum32(3), ...END];
})();

// thumb2(a, o, stride, groups, th, outStride): thumbnail()'s 2x2 gray box (f = 2), 8 thumbnail
// pixels (48 bytes of each of two RGB rows) a step: the 12 bytes of each pixel summed in 32-bit
// lanes, then ⌊s/12⌋ as (s · 2731) >> 15 — equal to JS's s · (1/12) truncated for every s ≤ 3060
// (checked exhaustively in the test).
const EXTLO = simd(0x89), EXTHI = simd(0x8a), MUL32 = simd(0xb5), SHRU32 = simd(0xad);
const NARROW32 = simd(0x86), NARROW16 = simd(0x66);
const store64 = (offset = 0) => simd(0x5b, 0, ...uleb(offset), 0);
const shuffle32 = (lanes: readonly number[]) => simd(0x0d, ...lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]));
const splat32 = (v: number) => simd(0x0c, ...Array.from({ length: 16 }, (_, i) => (v >> (8 * (i & 3))) & 0xff));
const thumb2Body = (() => {
  // params 0 a, 1 o, 2 stride, 3 groups, 4 th, 5 outStride; i32 locals 6 pa, 7 pb, 8 po, 9 g, 10 y;
  // v128 locals 11..16 pair sums P0..P5 (32-bit lanes: bytes 2m, 2m+1 of both rows)
  const P = (i: number) => 11 + i;
  const pairs = (j: number) => [
    ...get(6), ...load(16 * j), ...EXTLO, ...get(7), ...load(16 * j), ...EXTLO, ...ADD16, ...EXTADD16, ...set(P(2 * j)),
    ...get(6), ...load(16 * j), ...EXTHI, ...get(7), ...load(16 * j), ...EXTHI, ...ADD16, ...EXTADD16, ...set(P(2 * j + 1)),
  ];
  // pixel k of four = pairs 3k, 3k+1, 3k+2 of P[b..b+2]
  const four = (b: number) => [
    ...get(P(b)), ...get(P(b + 1)), ...shuffle32([0, 3, 6, 7]), ...get(P(b + 2)), ...shuffle32([0, 1, 2, 5]),
    ...get(P(b)), ...get(P(b + 1)), ...shuffle32([1, 4, 7, 0]), ...get(P(b + 2)), ...shuffle32([0, 1, 2, 6]), ...ADD32,
    ...get(P(b)), ...get(P(b + 1)), ...shuffle32([2, 5, 0, 0]), ...get(P(b + 2)), ...shuffle32([0, 1, 4, 7]), ...ADD32,
    ...splat32(2731), ...MUL32, ...i32(15), ...SHRU32,
  ];
  const group = [
    ...pairs(0), ...pairs(1), ...pairs(2),
    ...get(8), ...four(0), ...four(3), ...NARROW32, ...ZERO, ...NARROW16, ...store64(),
  ];
  const groupStep = [...bump(6, i32(48)), ...bump(7, i32(48)), ...bump(8, i32(8)), ...bump(9, i32(1))];
  const row = [
    ...get(0), ...set(6), ...get(0), ...get(2), ...ADD, ...set(7), ...get(1), ...set(8), ...i32(0), ...set(9),
    ...whileLt(9, 3, group, groupStep),
  ];
  const rowStep = [...get(0), ...get(2), ...get(2), ...ADD, ...ADD, ...set(0), ...bump(1, get(5)), ...bump(10, i32(1))];
  return [2, 5, I32, 6, V128, ...whileLt(10, 4, row, rowStep), ...END];
})();

const bytes = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  // types: 0 (i32 x5) -> i32, 1 (i32 x3) -> i32, 2 (i32 x6) -> ()
  ...section(1, [3, 0x60, 5, I32, I32, I32, I32, I32, 1, I32, 0x60, 3, I32, I32, I32, 1, I32, 0x60, 6, I32, I32, I32, I32, I32, I32, 0]),
  ...section(3, [3, 0, 1, 2]),
  ...section(5, [1, 0, 1]),
  ...section(7, [4, ...str('sad'), 0, 0, ...str('absdiff'), 0, 1, ...str('thumb2'), 0, 2, ...str('mem'), 2, 0]),
  ...section(10, [3, ...fn(sadBody), ...fn(absdiffBody), ...fn(thumb2Body)]),
]);

const DATA_AT = 1024;

export interface MotionSimd {
  /**
   * Loads two same-size thumbnails into WebAssembly memory for `sad` (replacing the last pair).
   * Returns their addresses.
   */
  load(prev: Uint8Array, cur: Uint8Array): { readonly prev: number; readonly cur: number };
  /**
   * Σ |cur − prev| over a block `width` (≤ 16) x `rows` (≤ 16): `c` and `p` are the addresses
   * (load()'s plus offsets) of the block's first pixel in each, `stride` the thumbnail's width.
   */
  sad(c: number, p: number, stride: number, width: number, rows: number): number;
  /** Σ |a[i] − b[i]| over two equal-length arrays. */
  absDiffSum(a: Uint8Array, b: Uint8Array): number;
  /**
   * thumbnail()'s 2x2 gray box of an RGB24 image `w` wide into `out` (`tw` x `th`, tw = ⌊w/2⌋):
   * the first 8·⌊tw/8⌋ pixels of each row (the caller computes the rest).
   */
  thumb2(rgb: Uint8Array, w: number, tw: number, th: number, out: Uint8Array): number;
}

function create(): MotionSimd | undefined {
  const inst = instantiate(bytes);
  if (!inst) return undefined;
  const memory = inst.exports.mem as WebAssembly.Memory;
  const sad = inst.exports.sad as (c: number, p: number, stride: number, cEnd: number, mask: number) => number;
  const absdiff = inst.exports.absdiff as (a: number, b: number, aEnd: number) => number;
  const thumb2 = inst.exports.thumb2 as (a: number, o: number, stride: number, groups: number, th: number, outStride: number) => void;
  let heap = new Uint8Array(memory.buffer);
  for (let k = 0; k <= 16; k++) heap.fill(0xff, 16 * k, 16 * k + k);
  /** Room for `need` bytes from DATA_AT, and 64 bytes of slack for the 16-byte loads past a row. */
  const room = (need: number): Uint8Array => {
    const total = DATA_AT + need + 64;
    if (memory.buffer.byteLength < total) memory.grow(Math.ceil((total - memory.buffer.byteLength) / 65536));
    if (heap.buffer !== memory.buffer) heap = new Uint8Array(memory.buffer);
    return heap;
  };
  return {
    load(prev, cur) {
      const n = at16(prev.length) + 64;
      const h = room(n + cur.length);
      h.set(prev, DATA_AT);
      h.set(cur, DATA_AT + n);
      return { prev: DATA_AT, cur: DATA_AT + n };
    },
    sad(c, p, stride, width, rows) {
      return sad(c, p, stride, c + rows * stride, 16 * width);
    },
    absDiffSum(a, b) {
      const n = a.length;
      const whole = n - (n % 16);
      const at = at16(n);
      const h = room(2 * at);
      h.set(a.subarray(0, whole), DATA_AT);
      h.set(b.subarray(0, whole), DATA_AT + at);
      let s = absdiff(DATA_AT, DATA_AT + at, DATA_AT + whole);
      for (let i = whole; i < n; i++) s += Math.abs(a[i]! - b[i]!);
      return s;
    },
    thumb2(rgb, w, tw, th, out) {
      const groups = tw >> 3;
      const inBytes = 2 * th * w * 3;
      if (rgb.length < inBytes || out.length < tw * th) throw new RangeError('simd thumb2: bad sizes');
      if (groups === 0) return 0;
      const o = DATA_AT + at16(inBytes);
      const h = room(o - DATA_AT + tw * th);
      h.set(rgb.subarray(0, inBytes), DATA_AT);
      thumb2(DATA_AT, o, w * 3, groups, th, tw);
      out.set(h.subarray(o, o + tw * th));
      return groups * 8;
    },
  };
}

/** The motion kernels in WebAssembly SIMD, or undefined where it is unavailable. */
export const motionSimd: MotionSimd | undefined = create();
