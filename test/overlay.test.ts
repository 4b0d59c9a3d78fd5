import test from 'ava';
import { blend, overlayLabels } from '../src/media/operators/overlay-labels.ts';
import { buildLegend, legendScale } from '../src/kernels/legend.ts';
import type { Frame, Labels } from '../src/core/packet.ts';
import { marbles } from './helpers/marbles.ts';

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

test('overlay › the legend lists every class, present or not, in class order at a fixed place', (t) => {
  const f = frame(960, 540);
  const k = legendScale(540);
  const lg = buildLegend(960, 540, ['a', 'b', 'c', 'd'], palette);
  t.deepEqual([lg.x, lg.y], [4 * k, 4 * k]);
  t.true(lg.width < 200 && lg.height < 100, `small: ${lg.width}x${lg.height}`);
  // Swatch centres: one row per class, in order, whatever the labels hold (only class 1 here).
  const row = (lg.height - 6 * k) / 4;
  const at = (out: Uint8Array, x: number, y: number) => [...out.subarray((y * 960 + x) * 3, (y * 960 + x) * 3 + 3)];
  const a = blend(f, labels(960, 540, () => 1), 128, [], true);
  const b = blend(frame(960, 540), labels(960, 540, (x) => (x < 480 ? 3 : 0)), 128, [], true);
  for (let c = 0; c < 4; c++) {
    const x = lg.x + 3 * k + Math.floor((9 * k) / 2), y = lg.y + 3 * k + c * row + k + Math.floor((9 * k) / 2);
    t.deepEqual(at(a, x, y), [...palette[c]!], `class ${c} swatch`);
    t.deepEqual(at(b, x, y), [...palette[c]!], `class ${c} swatch, other labels: same place`);
  }
  // The names are drawn: light text pixels right of the swatches (dark box elsewhere).
  const textLight = (out: Uint8Array) => {
    let n = 0;
    for (let y = lg.y; y < lg.y + lg.height; y++) for (let x = lg.x + 16 * k; x < lg.x + lg.width; x++) if (at(out, x, y).every((v) => v > 200)) n++;
    return n;
  };
  t.true(textLight(a) > 20, 'class names in light text');
  // Outside the legend the frame is the plain blend.
  t.deepEqual(at(a, 500, 300), at(blend(f, labels(960, 540, () => 1), 128, [], false), 500, 300));
});

test('overlay › legend text scales by whole pixels with the frame height; long names are cut', (t) => {
  t.is(legendScale(540), 1);
  t.is(legendScale(1080), 2);
  t.is(legendScale(2160), 4);
  const small = buildLegend(960, 540, ['Sky'], [[1, 2, 3]]);
  const big = buildLegend(1920, 1080, ['Sky'], [[1, 2, 3]]);
  t.is(big.width, 2 * small.width);
  t.is(big.height, 2 * small.height);
  const long = buildLegend(960, 540, ['a'.repeat(60)], [[1, 2, 3]]);
  t.true(long.width < 150, `cut to 14 characters: ${long.width} px`);
});

test('overlay › labels smaller or larger than the frame blend as the plain nearest-label formula', (t) => {
  const f = frame(96, 54);
  const cls = (x: number, y: number) => (x * 5 + y * 11) % 4;
  for (const l of [labels(48, 27, cls), labels(192, 108, cls), labels(24, 27, cls)]) {
    t.deepEqual(blend(f, l, 115), reference(f, l, 115, []), `labels ${l.width}x${l.height}`);
  }
});

// ---- the operator (src/media/operators/overlay-labels.ts), in virtual time ----------------------

/** A 2x1 frame of grey 100 and a 2x1 label map (classes 0 and 1), both at seq `seq`. */
function pair(seq: number, discontinuity?: string): { frame: Frame; labels: Labels } {
  const meta = { source: 's', seq, ptsMs: seq * 40, ...(discontinuity ? { discontinuity } : {}) };
  return {
    frame: { kind: 'frame', ...meta, width: 2, height: 1, data: new Uint8Array(6).fill(100) },
    labels: { kind: 'labels', ...meta, width: 2, height: 1, classes: Uint8Array.from([0, 1]), classNames: ['a', 'b'], palette: [[200, 0, 40], [0, 100, 255]], path: 'full' },
  };
}

test('overlayLabels › one frame per record, in order: the palette blended in by hand, marks passed through, then completion', (t) => {
  const a = pair(0, 'start'), b = pair(1);
  marbles(t).run(({ cold, expectObservable }) => {
    // alpha 0.5 → 128/256: (100·128 + c·128) >> 8 per channel.
    const x = { ...a.frame, data: Uint8Array.from([150, 50, 70, 50, 100, 177]) };
    const y = { ...b.frame, data: Uint8Array.from([150, 50, 70, 50, 100, 177]) };
    expectObservable(cold('-a--b-|', { a, b }).pipe(overlayLabels({ alpha: 0.5, legend: false, ignoreClasses: [] }))).toBe('-x--y-|', { x, y });
  });
  t.deepEqual([...a.frame.data], [100, 100, 100, 100, 100, 100], 'the input frame is not written');
});

test('overlayLabels › ignored classes stay unpainted; alpha 0 leaves the frame as it was; alpha 1 paints the colour', (t) => {
  const a = pair(0);
  marbles(t).run(({ cold, expectObservable }) => {
    expectObservable(cold('a|', { a }).pipe(overlayLabels({ alpha: 0.5, legend: false, ignoreClasses: [0] })))
      .toBe('x|', { x: { ...a.frame, data: Uint8Array.from([100, 100, 100, 50, 100, 177]) } });
    expectObservable(cold('a|', { a }).pipe(overlayLabels({ alpha: 0, legend: false, ignoreClasses: [] }))).toBe('x|', { x: a.frame });
    expectObservable(cold('a|', { a }).pipe(overlayLabels({ alpha: 1, legend: false, ignoreClasses: [] })))
      .toBe('x|', { x: { ...a.frame, data: Uint8Array.from([200, 0, 40, 0, 100, 255]) } });
  });
});

test('overlayLabels › an error upstream passes straight through after the frames before it', (t) => {
  const a = pair(3, 'reconnect');
  marbles(t).run(({ cold, expectObservable }) => {
    expectObservable(cold('a-#', { a }, new Error('decoder died')).pipe(overlayLabels({ alpha: 0.5, legend: false, ignoreClasses: [] })))
      .toBe('x-#', { x: { ...a.frame, data: Uint8Array.from([150, 50, 70, 50, 100, 177]) } }, new Error('decoder died'));
  });
});
