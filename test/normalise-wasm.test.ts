/**
 * The model's input normalisation in WebAssembly (src/kernels/normalise-wasm.ts) against its JS
 * loop: the same float bits on random bytes (pixel counts that are not a multiple of the kernel's
 * step included), on a random table, and through Model.normalise on a real CamVid frame.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import sharp from 'sharp';
import { normaliseJs, normaliseWasm } from '../src/kernels/normalise-wasm.ts';
import { MODELS_DIR, Model, readManifest } from '../src/segmentation/engine/model.ts';
import type { SegEngine } from '../src/segmentation/engine/engine.ts';
import { needsShared, SHARED } from './helpers/shared.ts';
import { bytes } from './helpers/bytes.ts';

const VAL = path.join(SHARED, 'data', 'camvid', 'val');


/** The default model's table, as Model builds it. */
function modelLut(): Float32Array {
  const { mean, std } = readManifest(path.join(MODELS_DIR, 'fast-scnn-camvid')).normalisation;
  const lut = new Float32Array(768);
  for (let c = 0; c < 3; c++) for (let v = 0; v < 256; v++) lut[c * 256 + v] = (v - mean[c]!) / std[c]!;
  return lut;
}

const bits = (f: Float32Array) => new Uint32Array(f.buffer, f.byteOffset, f.length);

test('normalise-wasm › available (Node 20 has WebAssembly)', (t) => {
  t.truthy(normaliseWasm);
});

test('normalise-wasm › the same floats as the JS loop, pixel counts off the 4-pixel step included', (t) => {
  const tables = [modelLut(), Float32Array.from(bytes(768, 256, 5), (v, i) => (v - 128) / (i + 1))];
  for (const lut of tables) {
    for (const n of [480 * 272, 600 * 344, 1, 3, 4, 5, 7, 8, 1023, 130561]) {
      const rgb = bytes(3 * n, 256, n);
      const want = new Float32Array(3 * n);
      normaliseJs(rgb, n, lut, want);
      const got = new Float32Array(3 * n).fill(Number.NaN);
      normaliseWasm!.run(rgb, n, lut, got);
      t.deepEqual(bits(got), bits(want), `${n} pixels`);
    }
  }
  // a larger image after a smaller one (the memory grows), then a smaller one again
  const lut = modelLut();
  for (const n of [16, 1920 * 1080, 16]) {
    const rgb = bytes(3 * n, 256, 3);
    const want = new Float32Array(3 * n), got = new Float32Array(3 * n);
    normaliseJs(rgb, n, lut, want);
    normaliseWasm!.run(rgb, n, lut, got);
    t.deepEqual(bits(got), bits(want), `${n} pixels after a size change`);
  }
});

test('normalise-wasm › refuses short buffers and tables', (t) => {
  t.throws(() => normaliseWasm!.run(new Uint8Array(11), 4, modelLut(), new Float32Array(12)), { instanceOf: RangeError });
  t.throws(() => normaliseWasm!.run(new Uint8Array(12), 4, modelLut(), new Float32Array(11)), { instanceOf: RangeError });
  t.throws(() => normaliseWasm!.run(new Uint8Array(12), 4, new Float32Array(767), new Float32Array(12)), { instanceOf: RangeError });
});

needsShared(test, VAL)('normalise-wasm › Model.normalise on a real CamVid frame: the JS loop\'s floats', async (t) => {
  const dir = path.join(MODELS_DIR, 'fast-scnn-camvid');
  const model = new Model(readManifest(dir), {} as SegEngine, dir);
  const file = readdirSync(VAL).filter((f) => f.endsWith('.png')).sort()[0]!;
  for (const [w, h] of [[480, 272], [600, 344], [481, 271]] as const) {
    const { data } = await sharp(path.join(VAL, file)).resize(w, h, { fit: 'fill' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const rgb = new Uint8Array(data);
    const want = new Float32Array(3 * w * h);
    normaliseJs(rgb, w * h, modelLut(), want);
    t.deepEqual(bits(model.normalise(rgb, w, h)), bits(want), `${file} at ${w}x${h}`);
  }
});
