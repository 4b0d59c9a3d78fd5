/**
 * label-resizer: labels computed at the model's size map back onto the frame's pixels exactly
 * (4:3 and 16:9), and its palette option (class names, "#rrggbb", [r, g, b]) is checked at load.
 * (Moved from offline-outputs.test.ts.)
 */
import test from 'ava';
import { registry } from '../nodes/index.ts';
import { applyPalette } from '../src/segmentation/operators/resize-label-maps.ts';
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
