/** Deterministic pseudo-random bytes below `m` (a linear congruential generator from `seed`). */
export function bytes(n: number, m = 256, seed = 1): Uint8Array {
  const a = new Uint8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s >>> 24) % m;
  }
  return a;
}
