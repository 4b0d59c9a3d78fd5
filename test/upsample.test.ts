/**
 * upsampleArgmax (src/upsample.ts) against a plain loop that interpolates every
 * class at every pixel, and against the model's own upsample.onnx run by ONNX
 * Runtime on the real network's scores for CamVid val images.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { loadModel, MODELS_DIR } from '../src/segmentation/engine/model.ts';
import { upsampleArgmax, upsampleArgmaxJs } from '../src/kernels/upsample.ts';
import { upsampleWasm } from '../src/kernels/upsample-wasm.ts';
import { needsShared, SHARED } from './helpers/shared.ts';

const VAL = path.join(SHARED, 'data', 'camvid', 'val');

/** ONNX Resize (linear, half_pixel) + ArgMax, every class at every pixel. */
function reference(s: Float32Array, c: number, h: number, w: number, oh: number, ow: number): Uint8Array {
  const coord = (o: number, inN: number, outN: number) => {
    let x = Math.fround(Math.fround(o + 0.5) / Math.fround(outN / inN) - 0.5);
    x = Math.max(0, Math.min(x, inN - 1));
    const a0 = Math.min(Math.trunc(x), inN - 1), a1 = Math.min(a0 + 1, inN - 1);
    return a0 === a1 ? { a0, a1, w0: 0.5, w1: 0.5 } : { a0, a1, w0: Math.fround(a1 - x), w1: Math.fround(x - a0) };
  };
  const out = new Uint8Array(oh * ow);
  for (let y = 0; y < oh; y++) {
    const Y = coord(y, h, oh);
    for (let x = 0; x < ow; x++) {
      const X = coord(x, w, ow);
      let best = -Infinity, bc = 0;
      for (let k = 0; k < c; k++) {
        const p = k * h * w;
        const v = Math.fround(X.w0 * Y.w0) * s[p + Y.a0 * w + X.a0]! + Math.fround(X.w1 * Y.w0) * s[p + Y.a0 * w + X.a1]! +
          Math.fround(X.w0 * Y.w1) * s[p + Y.a1 * w + X.a0]! + Math.fround(X.w1 * Y.w1) * s[p + Y.a1 * w + X.a1]!;
        if (v > best) {
          best = v;
          bc = k;
        }
      }
      out[y * ow + x] = bc;
    }
  }
  return out;
}

/** Smooth random score fields (regions, like a network's), seeded. */
function fields(c: number, h: number, w: number, seed: number): Float32Array {
  let r = seed;
  const rand = () => ((r = (r * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const s = new Float32Array(c * h * w);
  for (let k = 0; k < c; k++) {
    const fx = 0.05 + rand() * 0.6, fy = 0.05 + rand() * 0.6, ph = rand() * 6;
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) s[k * h * w + y * w + x] = Math.sin(fx * x + ph) + Math.cos(fy * y + ph) + rand() * 0.3;
  }
  return s;
}

const agree = (a: Uint8Array, b: Uint8Array) => {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
};

test('upsample › equals interpolating every class, on region-like and on noisy scores, up and down and odd sizes', (t) => {
  for (const [c, h, w, oh, ow, seed] of [[11, 68, 120, 540, 960, 1], [11, 45, 60, 360, 480, 2], [5, 7, 9, 50, 33, 3], [3, 20, 20, 10, 13, 4], [11, 1, 1, 4, 4, 5]] as const) {
    const s = fields(c, h, w, seed);
    const ref = reference(s, c, h, w, oh, ow);
    const got = upsampleArgmax(s, c, h, w, oh, ow);
    t.is(agree(ref, got), 1, `${c}x${h}x${w} -> ${oh}x${ow}`);
    // classes seen: the test is not trivially one class everywhere
    if (h * w >= 100) t.true(new Set(got).size >= 3, `${c}x${h}x${w}: classes ${[...new Set(got)]}`);
  }
  // pure noise: almost every cell is on a boundary
  let r = 9;
  const noise = Float32Array.from({ length: 11 * 30 * 40 }, () => ((r = (r * 1103515245 + 12345) >>> 0) / 2 ** 32));
  t.is(agree(reference(noise, 11, 30, 40, 240, 320), upsampleArgmax(noise, 11, 30, 40, 240, 320)), 1);
});

test('upsample › the WebAssembly boundary pixels give the JS path\'s labels exactly: region-like, noisy, tied, odd class counts, sizes changing', (t) => {
  t.truthy(upsampleWasm, 'Node 20 has WebAssembly SIMD');
  let r = 3;
  const rand = () => ((r = (r * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const cases: [number, number, number, number, number, Float32Array][] = [];
  for (const [c, h, w, oh, ow] of [[11, 34, 60, 272, 480], [11, 43, 75, 272, 480], [11, 68, 120, 540, 960], [1, 5, 5, 9, 9], [2, 3, 4, 17, 5], [3, 20, 20, 10, 13], [12, 7, 9, 50, 33], [11, 1, 1, 4, 4], [255, 3, 3, 12, 12]] as const) {
    cases.push([c, h, w, oh, ow, fields(c, h, w, c + h)]);
    cases.push([c, h, w, oh, ow, Float32Array.from({ length: c * h * w }, rand)]);
    // ties: scores on a coarse grid, so many classes interpolate to the same value
    cases.push([c, h, w, oh, ow, Float32Array.from({ length: c * h * w }, () => Math.round(rand() * 4) / 4)]);
  }
  for (const [c, h, w, oh, ow, s] of cases) {
    const want = upsampleArgmaxJs(s, c, h, w, oh, ow);
    t.deepEqual(upsampleArgmax(s, c, h, w, oh, ow), want, `${c}x${h}x${w} -> ${oh}x${ow}`);
    const into = new Uint8Array(oh * ow);
    t.is(upsampleArgmax(s, c, h, w, oh, ow, into), into);
    t.deepEqual(into, want);
  }
});

test('upsample › rejects scores shorter than their shape', (t) => {
  t.throws(() => upsampleArgmax(new Float32Array(10), 11, 2, 2, 8, 8), { instanceOf: RangeError });
});

needsShared(test, VAL)('upsample › the same labels as the model\'s upsample.onnx in ONNX Runtime, on CamVid val scores', async (t) => {
  if (!existsSync(VAL)) {
    t.fail(`../shared/data/camvid is absent (looked for ${VAL}); this test needs CamVid val images`);
    return;
  }
  const model = await loadModel({ engine: 'onnx', threads: 2 });
  const up = await ort.InferenceSession.create(path.join(MODELS_DIR, 'fast-scnn-camvid', 'upsample.onnx'));
  try {
    const files = readdirSync(VAL).filter((f) => f.endsWith('.png')).sort().filter((_, i) => i % 10 === 0);
    let same = 0, total = 0;
    for (const f of files) {
      const { data, info } = await sharp(path.join(VAL, f)).resize(960, 540).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const r = await model.segment(new Uint8Array(data), info.width, info.height, { withScores: true });
      const s = r.scores!;
      const ortLabels = (await up.run({
        scores: new ort.Tensor('float32', s.data, [1, s.channels, s.height, s.width]),
        size: new ort.Tensor('int64', BigInt64Array.from([540n, 960n]), [2]),
      })).labels!.data as Uint8Array;
      // model.segment's own labels come from upsampleArgmax (its WebAssembly path: the JS path's labels)
      t.deepEqual(r.classes, upsampleArgmaxJs(s.data, s.channels, s.height, s.width, 540, 960));
      t.is(r.classes.length, ortLabels.length);
      for (let i = 0; i < ortLabels.length; i++) if (ortLabels[i] === r.classes[i]) same++;
      total += ortLabels.length;
    }
    t.true(same / total >= 0.9999, `agree on ${((100 * same) / total).toFixed(4)} % of ${total} pixels`);
    t.log(`agree on ${((100 * same) / total).toFixed(4)} % of ${total} pixels (${files.length} val images at 540x960)`);
  } finally {
    await up.release();
    await model.dispose();
  }
});
