/**
 * The encoding primitives of the hand-assembled WebAssembly modules (blend-wasm.ts, simd.ts,
 * motion-simd.ts): LEB128 integers, a section, a name, a function body, and the common local and
 * SIMD instructions. Each module keeps its own opcodes and code; only these are shared.
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
