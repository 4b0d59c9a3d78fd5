/**
 * The model's input normalisation in WebAssembly: RGB24 (HWC bytes) → three
 * float32 planes (NCHW) through a per-channel lookup table (256 floats each),
 * four pixels a step. The same table lookups as Model.normalise's JS loop
 * (src/segmentation/engine/model.ts), so the floats are the same bits
 * (test/normalise-wasm.test.ts compares them on random and real frames);
 * ~4x faster than the JS loop, whose three typed-array stores a pixel run
 * with bounds checks. A table lookup is a gather, which 128-bit SIMD does not
 * have, so this is scalar WebAssembly, unrolled.
 *
 * Assembled from opcodes like src/kernels/simd.ts. Memory: the table (3 x 256
 * float32) at 0, the bytes from DATA_AT, the planes after them. `normaliseWasm`
 * is undefined where WebAssembly is unavailable (callers keep the JS loop).
 *
 * ```ts
 * (normaliseWasm?.run ?? normaliseJs)(rgb, n, lut, out);   // out: Float32Array(3n), lut: Float32Array(768)
 * ```
 */
import { at16, fn, get, instantiate, section, set, str, uleb } from './wasm-asm.ts';

const I32 = 0x7f;
const i32 = (v: number) => [0x41, ...uleb(v)]; // non-negative below 64 only (sleb = uleb there)
const ADD = [0x6a], SHL = [0x74], GE_U = [0x4f];
const BLOCK = [0x02, 0x40], LOOP = [0x03, 0x40], END = [0x0b];
const br = (d: number) => [0x0c, d];
const brIf = (d: number) => [0x0d, d];
const load8 = (offset: number) => [0x2d, 0, ...uleb(offset)]; // i32.load8_u
const loadF = (offset: number) => [0x2a, 2, ...uleb(offset)]; // f32.load
const storeF = (offset: number) => [0x38, 2, ...uleb(offset)]; // f32.store
const bump = (l: number, by: number) => [...get(l), ...i32(by), ...ADD, ...set(l)];

/** Pixels a step. */
const STEP = 4;
const DATA_AT = 4096; // after the table (3 KB)

// norm(src, srcEnd, r, g, b): for each pixel p of [src, srcEnd) (STEP at a time), plane c at
// address r/g/b + 4p gets lut[256c + byte c of p].
const normBody = (() => {
  // params 0 src, 1 srcEnd, 2 r, 3 g, 4 b
  const px = (k: number) => [0, 1, 2].flatMap((c) => [
    ...get(2 + c), ...get(0), ...load8(3 * k + c), ...i32(2), ...SHL, ...loadF(1024 * c), ...storeF(4 * k),
  ]);
  const body = Array.from({ length: STEP }, (_, k) => px(k)).flat();
  const step = [...bump(0, 3 * STEP), ...bump(2, 4 * STEP), ...bump(3, 4 * STEP), ...bump(4, 4 * STEP)];
  return [0, ...BLOCK, ...LOOP, ...get(0), ...get(1), ...GE_U, ...brIf(1), ...body, ...step, ...br(0), ...END, ...END, ...END];
})();

const bytes = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  ...section(1, [1, 0x60, 5, I32, I32, I32, I32, I32, 0]), // (i32 x5) -> ()
  ...section(3, [1, 0]),
  ...section(5, [1, 0, 1]),
  ...section(7, [2, ...str('norm'), 0, 0, ...str('mem'), 2, 0]),
  ...section(10, [1, ...fn(normBody)]),
]);

export interface NormaliseWasm {
  /**
   * `out[c·n + i] = lut[256c + rgb[3i + c]]` for the `n` pixels of `rgb` (RGB24) and c = 0..2:
   * `lut` is 768 floats (a table per channel), `out` at least 3n floats.
   */
  run(rgb: Uint8Array, n: number, lut: Float32Array, out: Float32Array): void;
}

/**
 * The same in plain JS (the reference, and the path where WebAssembly is unavailable), from pixel `from`.
 */
export function normaliseJs(rgb: Uint8Array, n: number, lut: Float32Array, out: Float32Array, from = 0): void {
  for (let i = from, j = 3 * from; i < n; i++, j += 3) {
    out[i] = lut[rgb[j]!]!;
    out[n + i] = lut[256 + rgb[j + 1]!]!;
    out[2 * n + i] = lut[512 + rgb[j + 2]!]!;
  }
}

function create(): NormaliseWasm | undefined {
  const inst = instantiate(bytes);
  if (!inst) return undefined;
  const memory = inst.exports.mem as WebAssembly.Memory;
  const norm = inst.exports.norm as (src: number, srcEnd: number, r: number, g: number, b: number) => void;
  let f32 = new Float32Array(memory.buffer);
  let u8 = new Uint8Array(memory.buffer);
  return {
    run(rgb, n, lut, out) {
      if (lut.length !== 768 || rgb.length < 3 * n || out.length < 3 * n) throw new RangeError(`normalise: ${rgb.length} bytes, ${lut.length} table entries, ${out.length} floats for ${n} pixels`);
      const whole = n - (n % STEP);
      const planes = at16(DATA_AT + 3 * n);
      const total = planes + 12 * n;
      if (memory.buffer.byteLength < total) {
        memory.grow(Math.ceil((total - memory.buffer.byteLength) / 65536));
        f32 = new Float32Array(memory.buffer);
        u8 = new Uint8Array(memory.buffer);
      }
      f32.set(lut, 0); // 3 KB: whichever model's table this is
      u8.set(rgb.subarray(0, 3 * whole), DATA_AT);
      norm(DATA_AT, DATA_AT + 3 * whole, planes, planes + 4 * n, planes + 8 * n);
      out.set(f32.subarray(planes >> 2, (planes >> 2) + 3 * n));
      normaliseJs(rgb, n, lut, out, whole); // the last n % STEP pixels
    },
  };
}

/** The normalisation kernel, or undefined where WebAssembly is unavailable. */
export const normaliseWasm: NormaliseWasm | undefined = create();
