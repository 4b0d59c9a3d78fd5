/**
 * "Did you mean …" for a mistyped name: the valid names closest to what was
 * typed (edit distance with swaps, case-insensitive; a prefix or a contained name counts
 * as close), for error messages that also list every valid name.
 */

/** Edits (insert, delete, replace, swap two neighbours) that turn `a` into `b`. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i]!;
      row[j] = Math.min(d[i - 1]![j]! + 1, row[j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The valid names close to `got`, best first (at most three). */
export function closest(got: string, valid: Iterable<string>): string[] {
  if (got.length > 64) return []; // not a typo of a name; and the distance costs length x length
  const g = got.toLowerCase();
  const scored: Array<[string, number]> = [];
  for (const v of valid) {
    const l = v.toLowerCase();
    const d = l.includes(g) || g.includes(l) ? Math.min(1, distance(g, l)) : distance(g, l);
    if (d <= Math.max(1, Math.floor(Math.max(g.length, l.length) / 3))) scored.push([v, d]);
  }
  return scored.sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0])).slice(0, 3).map(([v]) => v);
}

/** ` (did you mean 'x'?)` (empty when nothing is close). */
export function didYouMean(got: string, valid: Iterable<string>): string {
  const c = closest(got, valid);
  return c.length ? ` (did you mean ${c.map((x) => `'${x}'`).join(' or ')}?)` : '';
}
