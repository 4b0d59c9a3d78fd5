/**
 * label-resizer: labels computed at the model's size map back onto the frame's pixels exactly
 * (4:3 and 16:9), and its palette option (class names, "#rrggbb", [r, g, b]) is checked at load.
 * (Moved from offline-outputs.test.ts.)
 */
import test from 'ava';
import { registry } from '../nodes/index.ts';
import { applyPalette, resizeLabelMaps } from '../src/segmentation/operators/resize-label-maps.ts';
import type { Frame, Labels } from '../src/core/packet.ts';
import { marbles } from './helpers/marbles.ts';
import { parseGraph } from '../src/core/graph/loader.ts';
import { fitLongSide, resizeNearest, resizeRgb } from '../src/kernels/image.ts';

test('label mapping › a rectangle found at the model\'s size lands on the same pixels of a 4:3 and a 16:9 frame (±1 px at its edges)', (t) => {
  for (const [w, h, box] of [[640, 480, [101, 77, 333, 290]], [960, 540, [250, 120, 611, 401]], [1920, 1080, [401, 333, 1500, 900]]] as const) {
    const [x0, y0, x1, y1] = box;
    const inside = (x: number, y: number) => x >= x0 && x < x1 && y >= y0 && y < y1;
    const rgb = new Uint8Array(w * h * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (inside(x, y)) rgb.fill(255, (y * w + x) * 3, (y * w + x) * 3 + 3);
    const s = fitLongSide(w, h, 480);
    const small = resizeRgb(rgb, w, h, s.width, s.height);
    const cls = new Uint8Array(s.width * s.height);
    for (let i = 0; i < cls.length; i++) cls[i] = small[3 * i]! > 127 ? 1 : 0; // a "model" that thresholds
    const back = resizeNearest(cls, s.width, s.height, w, h);
    const k = w / s.width;
    let far = 0;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const nearEdge = Math.min(Math.abs(x - x0), Math.abs(x - x1), Math.abs(y - y0), Math.abs(y - y1)) <= k;
        if (!nearEdge && back[y * w + x] !== (inside(x, y) ? 1 : 0)) far++;
      }
    }
    t.is(far, 0, `${w}x${h}: every pixel further than one model pixel from the edge has its own label`);
  }
});

test('label-resizer › palette: by class name, "#rrggbb" or [r, g, b]; a bad colour fails at load, an unknown class names the classes', (t) => {
  const base = [[1, 1, 1], [2, 2, 2], [3, 3, 3]] as const;
  const p = applyPalette(['Sky', 'Road', 'Car'], base, { Road: [9, 8, 7] }, 'labels');
  t.deepEqual(p.map((c) => [...c]), [[1, 1, 1], [9, 8, 7], [3, 3, 3]]);
  t.throws(() => applyPalette(['Sky', 'Road'], base, { Raod: [0, 0, 0] }, 'labels'), { message: /labels\.options\.palette: unknown class 'Raod'; expected one of Sky, Road/ });
  const graph = (palette: string) => `version: 1
nodes:
  decode: { type: decoder, options: { path: in.mp4 } }
  small:  { type: downsampler, options: { longSidePx: 480 }, in: { frame: decode.frame } }
  segment: { type: two-branch-segmenter, in: { frame: small.frame } }
  labels: { type: label-resizer, options: { palette: ${palette} }, in: { labels: segment.labels, frame: decode.frame } }
  masks:  { type: label-map-sink, options: { dir: out }, in: { labels: labels.labels } }
`;
  const ok = parseGraph(graph('{ Road: "#ff0080", Car: [1, 2, 3] }'), 'g.yaml', registry);
  t.deepEqual(ok.nodes.find((n) => n.name === 'labels')!.options.palette, { Road: [255, 0, 128], Car: [1, 2, 3] });
  t.throws(() => parseGraph(graph('{ Road: "#ff00" }'), 'g.yaml', registry), { message: /labels\.options\.palette\.Road: expected a colour: \[r, g, b\] .* or "#rrggbb"/ });
  t.throws(() => parseGraph(graph('{ Road: [300, 0, 0] }'), 'g.yaml', registry), { message: /labels\.options\.palette\.Road/ });
});

// ---- the operator (src/segmentation/operators/resize-label-maps.ts), in virtual time ------------

const PALETTE = [[1, 1, 1], [2, 2, 2]] as const;
/** A 2x1 label map (classes 0, 1) of frame `seq`. */
const map2x1 = (seq: number, discontinuity?: string): Labels => ({
  kind: 'labels', source: 'cam', seq, ptsMs: seq * 40, width: 2, height: 1, classes: Uint8Array.from([0, 1]),
  classNames: ['Sky', 'Road'], palette: PALETTE, path: 'full', ...(discontinuity ? { discontinuity } : {}),
});
const frameOf = (seq: number, width: number, height: number, video?: { videoWidth: number; videoHeight: number }): Frame => ({
  kind: 'frame', source: 'cam', seq, ptsMs: seq * 40, width, height, data: new Uint8Array(width * height * 3), ...video,
});

test('resizeLabelMaps › size video: 2x1 → the frame\'s 4x2 (each label doubled), or the video\'s own size under a preview; order and marks kept', (t) => {
  const a = { labels: map2x1(0, 'start'), frame: frameOf(0, 4, 2) };
  const b = { labels: map2x1(1), frame: frameOf(1, 2, 1, { videoWidth: 6, videoHeight: 1 }) };
  const c = { labels: map2x1(2, 'reconnect'), frame: frameOf(2, 4, 2) };
  marbles(t).run(({ cold, expectObservable }) => {
    expectObservable(cold('a-b--c|', { a, b, c }).pipe(resizeLabelMaps({ size: 'video', palette: {}, where: 'labels' }))).toBe('x-y--z|', {
      x: { ...a.labels, width: 4, height: 2, classes: Uint8Array.from([0, 0, 1, 1, 0, 0, 1, 1]) },
      y: { ...b.labels, width: 6, height: 1, classes: Uint8Array.from([0, 0, 0, 1, 1, 1]) },
      z: { ...c.labels, width: 4, height: 2, classes: Uint8Array.from([0, 0, 1, 1, 0, 0, 1, 1]) },
    });
  });
});

test('resizeLabelMaps › no frame, or size model: the map passes as the same object; a palette recolours by name at the map\'s size', (t) => {
  const alone = { labels: map2x1(0) };
  const withFrame = { labels: map2x1(1), frame: frameOf(1, 4, 2) };
  const seen: Labels[] = [];
  marbles(t).run(({ cold, expectObservable }) => {
    const model = cold('ab|', { a: alone, b: withFrame }).pipe(resizeLabelMaps({ size: 'model', palette: {}, where: 'labels' }));
    model.subscribe((l) => seen.push(l));
    expectObservable(model).toBe('ab|', { a: alone.labels, b: withFrame.labels });
    expectObservable(cold('a|', { a: alone }).pipe(resizeLabelMaps({ size: 'video', palette: { Road: [9, 8, 7] }, where: 'labels' })))
      .toBe('x|', { x: { ...alone.labels, palette: [[1, 1, 1], [9, 8, 7]] } });
  });
  t.is(seen[0], alone.labels, 'no copy');
  t.is(seen[1], withFrame.labels, 'no copy');
});

test('resizeLabelMaps › a palette naming an unknown class is an error down the stream, naming the classes; an upstream error passes through', (t) => {
  const a = { labels: map2x1(0) };
  marbles(t).run(({ cold, expectObservable }) => {
    expectObservable(cold('-a|', { a }).pipe(resizeLabelMaps({ size: 'video', palette: { Car: [1, 2, 3] }, where: 'labels' })))
      .toBe('-#', undefined, new TypeError("labels.options.palette: unknown class 'Car'; expected one of Sky, Road"));
    expectObservable(cold('a#', { a }, new Error('lost')).pipe(resizeLabelMaps({ size: 'video', palette: {}, where: 'labels' }))).toBe('a#', { a: a.labels }, new Error('lost'));
  });
});
