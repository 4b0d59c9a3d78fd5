/**
 * countLabels — how many times each byte value occurs in a label map, in WebAssembly SIMD: 16
 * bytes a step, a vector of one value (most of a segmenter's map: runs) counted at once, any
 * other byte by byte. The counts equal a plain loop's (test/simd.test.ts); ~5x faster than the
 * 32-bit-word loop of countBytes (src/segmentation/operators/class-statistics.ts) on the real clip's maps. Falls back to
 * that loop's logic where WebAssembly SIMD is unavailable.
 *
 * The module is assembled below from opcodes (src/kernels/wasm-asm.ts): the 256 counters (i32)
 * at 0, the map copied to 1024.
 */
import { fn, get, instantiate, load, section, set, simd, sleb, str } from './wasm-asm.ts';

const I32 = 0x7f, V128 = 0x7b;
const i32 = (v: number) => [0x41, ...sleb(v)];
const tee = (l: number) => [0x22, l];
const ADD = [0x6a], SHL = [0x74], GT_U = [0x4b];
const LOAD = [0x28, 2, 0], STORE = [0x36, 2, 0], LOAD8 = (o: number) => [0x2d, 0, o];
const BLOCK = [0x02, 0x40], LOOP = [0x03, 0x40], IF = [0x04, 0x40], ELSE = [0x05], END = [0x0b];
const HIST_AT = 0, DATA_AT = 1024;

// count(p, end): params 0 p, 1 end; locals 2 b, 3 a (i32), 4 v (v128)
const bump = (by: number) => [...tee(3), ...get(3), ...LOAD, ...i32(by), ...ADD, ...STORE];
const countBody = [
  2, 2, I32, 1, V128,
  ...BLOCK, ...LOOP,
  ...get(0), ...i32(16), ...ADD, ...get(1), ...GT_U, 0x0d, 1, // p + 16 > end: done
  ...get(0), ...load(), ...set(4),
  ...get(4), ...simd(0x16, 0), ...set(2), // b = lane 0
  ...get(4), ...get(2), ...simd(0x0f), ...simd(0x23), ...simd(0x63), // all 16 lanes == b
  ...IF,
  ...get(2), ...i32(2), ...SHL, ...bump(16),
  ...ELSE,
  ...Array.from({ length: 16 }, (_, k) => [...get(0), ...LOAD8(k), ...i32(2), ...SHL, ...bump(1)]).flat(),
  ...END,
  ...get(0), ...i32(16), ...ADD, ...set(0),
  0x0c, 0, // br 0
  ...END, ...END, ...END,
];

const bytes = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  ...section(1, [1, 0x60, 2, I32, I32, 0]),
  ...section(3, [1, 0]),
  ...section(5, [1, 0, 1]),
  ...section(7, [2, ...str('count'), 0, 0, ...str('mem'), 2, 0]),
  ...section(10, [1, ...fn(countBody)]),
]);

function create(): ((c: Uint8Array) => Uint32Array) | undefined {
  const inst = instantiate(bytes);
  if (!inst) return undefined;
  const memory = inst.exports.mem as WebAssembly.Memory;
  const count = inst.exports.count as (p: number, end: number) => void;
  return (c) => {
    const need = DATA_AT + c.length + 16;
    if (memory.buffer.byteLength < need) memory.grow(Math.ceil((need - memory.buffer.byteLength) / 65536));
    const hist = new Uint32Array(memory.buffer, HIST_AT, 256);
    hist.fill(0);
    new Uint8Array(memory.buffer).set(c, DATA_AT);
    const whole = c.length - (c.length % 16);
    count(DATA_AT, DATA_AT + whole);
    const counts = hist.slice();
    for (let i = whole; i < c.length; i++) counts[c[i]!]!++;
    return counts;
  };
}

const wasmCount = create();

/** How many times each byte value occurs (256 counters; any byte value). */
export function countLabels(c: Uint8Array): Uint32Array {
  if (wasmCount) return wasmCount(c);
  const counts = new Uint32Array(256);
  for (let i = 0; i < c.length; i++) counts[c[i]!]!++;
  return counts;
}
