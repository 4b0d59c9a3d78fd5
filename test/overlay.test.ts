import test from 'ava';
import { blend } from '../nodes/overlay.ts';
import type { Frame, Labels } from '../src/packet.ts';

const palette = [[128, 128, 128], [128, 0, 0], [192, 192, 128], [60, 40, 222]] as const;
function frame(w: number, h: number): Frame {
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.imul(i, 2654435761) >>> 24;
  return { kind: 'frame', source: 's', seq: 0, ptsMs: 0, width: w, height: h, data };
}
function labels(w: number, h: number, classOf: (x: number, y: number) => number): Labels {
  const classes = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) classes[y * w + x] = classOf(x, y);
  return { kind: 'labels', source: 's', seq: 0, ptsMs: 0, width: w, height: h, classes, classNames: ['a', 'b', 'c', 'd'], palette, path: 'full' };
}
/** The blend written plainly: nearest label, (v·(256−a) + colour·a) >> 8, unpainted when ignored or without a colour. */
function reference(f: Frame, l: Labels, a: number, ignore: number[]): Uint8Array {
  const out = new Uint8Array(f.data.length);
  for (let y = 0; y < f.height; y++) {
    for (let x = 0; x < f.width; x++) {
      const lx = Math.min(l.width - 1, Math.floor(((x + 0.5) * l.width) / f.width));
      const ly = Math.min(l.height - 1, Math.floor(((y + 0.5) * l.height) / f.height));
      const c = l.classes[ly * l.width + lx]!;
      for (let ch = 0; ch < 3; ch++) {
        const o = (y * f.width + x) * 3 + ch;
        const v = f.data[o]!;
        out[o] = c < l.palette.length && !ignore.includes(c) ? (v * (256 - a) + l.palette[c]![ch]! * a) >> 8 : v;
      }
    }
  }
  return out;
}

test('overlay › blend equals the plain formula: same size, other size, ignored classes, ids without a colour', (t) => {
  const f = frame(64, 36);
  const cls = (x: number, y: number) => (x * 7 + y * 3) % 6; // 4 and 5 have no colour
  for (const [l, a, ignore] of [
    [labels(64, 36, cls), 115, []],
    [labels(64, 36, cls), 115, [2]],
    [labels(20, 9, cls), 200, []],
    [labels(64, 36, cls), 0, []],
    [labels(64, 36, cls), 256, [0, 1]],
  ] as const) {
    t.deepEqual(blend(f, l, a, [...ignore]), reference(f, l, a, [...ignore]), `labels ${l.width}x${l.height} a=${a} ignore=${ignore.join(',')}`);
  }
});

test('overlay › a palette of 40 classes blends by the plain formula too', (t) => {
  const f = frame(50, 20);
  const big = Array.from({ length: 40 }, (_, i) => [i * 6, 255 - i * 6, (i * 37) & 255] as [number, number, number]);
  const l = { ...labels(50, 20, (x, y) => (x + y * 50) % 45), palette: big, classNames: big.map((_, i) => `c${i}`) };
  t.deepEqual(blend(f, l, 100), reference(f, l, 100, []));
});

test('overlay › the legend draws a swatch only for classes present', (t) => {
  const f = frame(200, 120);
  const l = labels(200, 120, (x) => (x < 100 ? 1 : 3));
  const out = blend(f, l, 128, [], true);
  const s = Math.max(8, Math.round(120 / 40));
  t.deepEqual([...out.subarray((6 * 200 + 6) * 3, (6 * 200 + 6) * 3 + 3)], [...palette[1]]);
  t.deepEqual([...out.subarray(((6 + s + 2) * 200 + 6) * 3, ((6 + s + 2) * 200 + 6) * 3 + 3)], [...palette[3]]);
  t.notDeepEqual([...out.subarray(((6 + 2 * (s + 2)) * 200 + 6) * 3, ((6 + 2 * (s + 2)) * 200 + 6) * 3 + 3)], [...palette[2]]);
});
