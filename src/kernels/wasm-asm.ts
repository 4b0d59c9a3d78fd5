/**
 * The encoding primitives of the hand-assembled WebAssembly modules (blend-wasm.ts, simd.ts,
 * motion-simd.ts): LEB128 integers, a section, a name, a function body, and the common local and
 * SIMD instructions, v128 load/store/const/shuffle, a 16-bit splat, a counted loop and the memory
 * helpers. Each module keeps its own opcodes and code; only these are shared.
 */

/** Unsigned LEB128. */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

/** Signed LEB128. */
export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

export const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
export const str = (s: string): number[] => [...uleb(s.length), ...[...s].map((c) => c.charCodeAt(0))];
/** A function body with its size prefix. */
export const fn = (body: number[]): number[] => [...uleb(body.length), ...body];
export const get = (l: number): number[] => [0x20, ...uleb(l)];
export const set = (l: number): number[] => [0x21, ...uleb(l)];
/** A SIMD (0xfd-prefixed) instruction. */
export const simd = (op: number, ...imm: number[]): number[] => [0xfd, ...uleb(op), ...imm];
/** v128.load (unaligned). */
export const load = (offset = 0): number[] => simd(0x00, 0, ...uleb(offset));
/** v128.store (unaligned). */
export const store = (offset = 0): number[] => simd(0x0b, 0, ...uleb(offset));
/** i32.const. */
export const i32 = (v: number): number[] => [0x41, ...sleb(v)];
/** v128.const of 16 bytes. */
export const vconst = (bytes: readonly number[]): number[] => simd(0x0c, ...bytes);
/** i8x16.shuffle of the two v128 on the stack (lanes 0..31). */
export const shuffle = (lanes: readonly number[]): number[] => simd(0x0d, ...lanes);
/** A v128 of eight equal 16-bit lanes. */
export const splat16 = (v: number): number[] => vconst(Array.from({ length: 16 }, (_, i) => (i & 1 ? v >> 8 : v) & 0xff));
/** `while (i < end) { body; step }` with i, end i32 locals (unsigned compare). */
export const whileLt = (i: number, end: number, body: number[], step: number[]): number[] => [
  0x02, 0x40, 0x03, 0x40, ...get(i), ...get(end), 0x4f, 0x0d, 1, ...body, ...step, 0x0c, 0, 0x0b, 0x0b,
];

/** `n` rounded up to a multiple of 16 (a v128's bytes): where the next buffer in a module's memory starts. */
export const at16 = (n: number): number => (n + 15) & ~15;

/** A module's memory as bytes, first grown (whole 64 KiB pages) to hold at least `bytes`. */
export function memoryBytes(memory: WebAssembly.Memory, bytes: number): Uint8Array {
  if (memory.buffer.byteLength < bytes) memory.grow(Math.ceil((bytes - memory.buffer.byteLength) / 65536));
  return new Uint8Array(memory.buffer);
}

/**
 * The module compiled and instantiated, or undefined where this engine cannot (no WebAssembly, or
 * no SIMD): the caller then keeps to its JavaScript path.
 */
export function instantiate(bytes: BufferSource): WebAssembly.Instance | undefined {
  try {
    return new WebAssembly.Instance(new WebAssembly.Module(bytes));
  } catch {
    return undefined;
  }
}
