/**
 * The overlay's hot loop in WebAssembly: for every pixel i,
 *   k = base[cls[i]]; dst[3i+c] = lut[k + 256c + src[3i+c]]   (c = 0, 1, 2)
 * JS typed-array code runs this at ~8 ns a pixel (bounds checks on six
 * arrays); the same loop in wasm runs several times faster, copies in and
 * out included. The module is ~150 bytes, assembled below so that it can be
 * read: memory holds the lookup table at 0 (up to 256·768 bytes), the class
 * bases (256 × i32) after it, then src, cls and dst. A second function,
 * `halve`, is the exact half-size RGB resize (2x2 means) of src/image.ts, for
 * the model's input (960x540 → 480x270), with its data at the same place.
 */
import { section, str, uleb } from './wasm-asm.ts';
const LUT_BYTES = 256 * 768; // room for any palette (class ids are bytes)
const BASE_AT = LUT_BYTES;
const DATA_AT = BASE_AT + 1024;


// Opcodes
const GET = 0x20, SET = 0x21, CONST = 0x41, ADD = 0x6a, SHL = 0x74, GE_U = 0x4f;
const LOAD = 0x28, LOAD8U = 0x2d, STORE8 = 0x3a, BLOCK = 0x02, LOOP = 0x03, BR = 0x0c, BR_IF = 0x0d, END = 0x0b, VOID = 0x40;
const mem = (align: number, offset: number) => [align, ...uleb(offset)];
// params: 0 src, 1 cls, 2 dst, 3 n; locals: 4 end, 5 k
const channel = (c: number) => [GET, 2, GET, 5, GET, 0, LOAD8U, ...mem(0, c), ADD, LOAD8U, ...mem(0, 256 * c), STORE8, ...mem(0, c)];
const bump = (local: number, by: number) => [GET, local, CONST, by, ADD, SET, local];
const body = [
  1, 2, 0x7f, // two i32 locals
  GET, 1, GET, 3, ADD, SET, 4,
  BLOCK, VOID, LOOP, VOID,
  GET, 1, GET, 4, GE_U, BR_IF, 1,
  GET, 1, LOAD8U, ...mem(0, 0), CONST, 2, SHL, LOAD, ...mem(2, BASE_AT), SET, 5,
  ...channel(0), ...channel(1), ...channel(2),
  ...bump(0, 3), ...bump(2, 3), ...bump(1, 1),
  BR, 0, END, END, END,
];
// halve(a, o, stride, dw, dh): RGB24 at half size, each output byte the rounded mean of a 2x2
// block: o[c] = (a[c] + a[c+3] + b[c] + b[c+3] + 2) >> 2 with b = a + stride (the next row).
// params: 0 a (source row pair), 1 o (output), 2 stride, 3 dw, 4 dh; locals: 5 b, 6 row end, 7 y
const MUL = 0x6c, SHR_U = 0x76;
const mean = (c: number) => [GET, 1,
  GET, 0, LOAD8U, ...mem(0, c), GET, 0, LOAD8U, ...mem(0, c + 3), ADD,
  GET, 5, LOAD8U, ...mem(0, c), ADD, GET, 5, LOAD8U, ...mem(0, c + 3), ADD,
  CONST, 2, ADD, CONST, 2, SHR_U, STORE8, ...mem(0, c)];
const halveBody = [
  1, 3, 0x7f, // three i32 locals
  BLOCK, VOID, LOOP, VOID,
  GET, 7, GET, 4, GE_U, BR_IF, 1,
  GET, 0, GET, 2, ADD, SET, 5,
  GET, 1, GET, 3, CONST, 3, MUL, ADD, SET, 6,
  BLOCK, VOID, LOOP, VOID,
  GET, 1, GET, 6, GE_U, BR_IF, 1,
  ...mean(0), ...mean(1), ...mean(2),
  ...bump(0, 6), ...bump(5, 6), ...bump(1, 3),
  BR, 0, END, END,
  GET, 0, GET, 2, ADD, SET, 0, // a ends the row at b's start: skip b's row
  ...bump(7, 1),
  BR, 0, END, END, END,
];
const bytes = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  ...section(1, [2, 0x60, 4, 0x7f, 0x7f, 0x7f, 0x7f, 0, 0x60, 5, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0]), // types: (i32 x4) -> (), (i32 x5) -> ()
  ...section(3, [2, 0, 1]), // blend: type 0, halve: type 1
  ...section(5, [1, 0, 1]), // memory, min 1 page, grown on demand
  ...section(7, [3, ...str('blend'), 0, 0, ...str('halve'), 0, 1, ...str('mem'), 2, 0]),
  ...section(10, [2, ...uleb(body.length), ...body, ...uleb(halveBody.length), ...halveBody]),
]);

interface Blender {
  blend(dst: Uint8Array, src: Uint8Array, cls: Uint8Array, lut: Uint8Array, base: Int32Array): void;
  /** RGB24 `sw` x `2·dh` (sw = 2·dw) → `dw` x `dh` into `dst`: 2x2 means, rounded (src/image.ts halveRgb). */
  halve(dst: Uint8Array, src: Uint8Array, sw: number, dw: number, dh: number): void;
}

function create(): Blender | undefined {
  try {
    const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes));
    const memory = inst.exports.mem as WebAssembly.Memory;
    const run = inst.exports.blend as (src: number, cls: number, dst: number, n: number) => void;
    const halve = inst.exports.halve as (a: number, o: number, stride: number, dw: number, dh: number) => void;
    const room = (need: number) => {
      if (memory.buffer.byteLength < need) memory.grow(Math.ceil((need - memory.buffer.byteLength) / 65536));
    };
    let lastLut: Uint8Array | undefined;
    return {
      blend(dst, src, cls, lut, base) {
        const n = cls.length;
        if (lut.length > LUT_BYTES || base.length !== 256 || src.length !== 3 * n || dst.length !== 3 * n) throw new RangeError('blend-wasm: bad sizes');
        const need = DATA_AT + 7 * n;
        if (memory.buffer.byteLength < need) memory.grow(Math.ceil((need - memory.buffer.byteLength) / 65536));
        const heap = new Uint8Array(memory.buffer);
        if (lut !== lastLut) {
          heap.set(lut, 0);
          new Int32Array(memory.buffer, BASE_AT, 256).set(base);
          lastLut = lut;
        }
        const s = DATA_AT, c = s + 3 * n, d = c + n;
        heap.set(src, s);
        heap.set(cls, c);
        run(s, c, d, n);
        dst.set(heap.subarray(d, d + 3 * n));
      },
      halve(dst, src, sw, dw, dh) {
        const inBytes = sw * 2 * dh * 3, outBytes = dw * dh * 3;
        if (sw !== 2 * dw || src.length < inBytes || dst.length !== outBytes) throw new RangeError('blend-wasm: bad sizes for halve');
        room(DATA_AT + inBytes + outBytes); // after the blend's tables, which stay
        const heap = new Uint8Array(memory.buffer);
        heap.set(src.subarray(0, inBytes), DATA_AT);
        halve(DATA_AT, DATA_AT + inBytes, sw * 3, dw, dh);
        dst.set(heap.subarray(DATA_AT + inBytes, DATA_AT + inBytes + outBytes));
      },
    };
  } catch {
    return undefined; // no WebAssembly: the JS loop is used
  }
}

/** The wasm blender, or undefined where WebAssembly is unavailable. */
export const wasmBlender: Blender | undefined = create();
