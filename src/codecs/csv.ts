/** CSV text (RFC 4180 quoting), for the statistics sink's files and the queue's stitched statistics. */

/** A CSV field: quoted when it holds a comma, quote or line break. */
export function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
