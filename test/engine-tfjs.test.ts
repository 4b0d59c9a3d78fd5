/**
 * The TF.js engine against the ONNX reference, its native-tensor bookkeeping,
 * and a large-frame run. Serial: TF.js keeps one global tensor registry.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import test from 'ava';
import sharp from 'sharp';
import { loadModel } from '../src/segmentation/engine/model.ts';
import { needsShared, SHARED } from './helpers/shared.ts';
import { parseTta } from '../src/segmentation/engine/tta.ts';
import { AUTO_TTA } from '../nodes/two-branch-segmenter.ts';

const VAL = path.join(SHARED, 'data', 'camvid', 'val');

/** A deterministic RGB24 image with some structure (gradients + blocks). */
function synthetic(w: number, h: number): Uint8Array {
  const rgb = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      rgb[i] = (x * 255) / w;
      rgb[i + 1] = (y * 255) / h;
      rgb[i + 2] = ((x >> 4) + (y >> 4)) % 2 ? 200 : 40;
    }
  }
  return rgb;
}

needsShared(test.serial, VAL)('engines › ONNX and TF.js agree on ≥ 99.5 % of pixels of the CamVid val images', async (t) => {
  if (!existsSync(VAL)) {
    t.fail(`../shared/data/camvid is absent (looked for ${VAL}); the engine agreement test needs the CamVid val images`);
    return;
  }
  const files = readdirSync(VAL).filter((f) => f.endsWith('.png')).sort();
  t.true(files.length > 0, `no PNGs in ${VAL}`);
  const onnx = await loadModel({ engine: 'onnx' });
  const tfjs = await loadModel({ engine: 'tfjs' });
  try {
    let same = 0;
    let total = 0;
    for (const f of files) {
      const { data, info } = await sharp(path.join(VAL, f)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const rgb = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      const a = await onnx.segment(rgb, info.width, info.height, { inW: 480, inH: 360 });
      const b = await tfjs.segment(rgb, info.width, info.height, { inW: 480, inH: 360 });
      t.is(a.classes.length, b.classes.length);
      for (let i = 0; i < a.classes.length; i++) same += a.classes[i] === b.classes[i] ? 1 : 0;
      total += a.classes.length;
    }
    const agreement = same / total;
    t.log(`pixel agreement over ${files.length} images (tfjs backend ${tfjs.engine.backend}): ${(agreement * 100).toFixed(4)} % (${total - same} of ${total} pixels differ)`);
    t.true(agreement >= 0.995, `agreement ${(agreement * 100).toFixed(3)} % < 99.5 %`);
    // The temporal fuser, in order over the val sequence: a key frame every 5th image, fused in between.
    if (onnx.hasFuser) {
      let fsame = 0;
      let ftotal = 0;
      for (const [i, f] of files.slice(0, 40).entries()) {
        const { data, info } = await sharp(path.join(VAL, f)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
        const rgb = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
        const o = { inW: 480, inH: 360, reuseDeep: i % 5 !== 0, fuse: true };
        const [a, b] = [await onnx.segment(rgb, info.width, info.height, o), await tfjs.segment(rgb, info.width, info.height, o)];
        t.is(a.path, b.path);
        for (let k = 0; k < a.classes.length; k++) fsame += a.classes[k] === b.classes[k] ? 1 : 0;
        ftotal += a.classes.length;
      }
      t.is(onnx.runs.fused, 32);
      t.log(`with the temporal fuser (40 images, key every 5th): ${((fsame / ftotal) * 100).toFixed(4)} % agree`);
      t.true(fsame / ftotal >= 0.995);
    }
  } finally {
    await onnx.dispose();
    await tfjs.dispose();
  }
});

needsShared(test.serial, VAL)('engines › with key-frame TTA (the node\'s auto spec) ONNX and TF.js agree on ≥ 99.5 % of pixels of the CamVid val images', async (t) => {
  if (!existsSync(VAL)) {
    t.fail(`../shared/data/camvid is absent (looked for ${VAL}); the engine agreement test needs the CamVid val images`);
    return;
  }
  const files = readdirSync(VAL).filter((f) => f.endsWith('.png')).sort();
  const tta = parseTta(AUTO_TTA);
  const onnx = await loadModel({ engine: 'onnx' });
  const tfjs = await loadModel({ engine: 'tfjs' });
  try {
    let same = 0;
    let total = 0;
    let changed = 0;
    for (const f of files) {
      const { data, info } = await sharp(path.join(VAL, f)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const rgb = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      const o = { inW: 480, inH: 360, refine: true, tta };
      const a = await onnx.segment(rgb, info.width, info.height, o);
      const b = await tfjs.segment(rgb, info.width, info.height, o);
      for (let i = 0; i < a.classes.length; i++) same += a.classes[i] === b.classes[i] ? 1 : 0;
      total += a.classes.length;
      if (f === files[0]) {
        const plain = await onnx.segment(rgb, info.width, info.height, { inW: 480, inH: 360, refine: true });
        for (let i = 0; i < a.classes.length; i++) changed += a.classes[i] === plain.classes[i] ? 0 : 1;
      }
    }
    t.is(tfjs.ttaViewRuns, files.length * (tta.scales.length * (tta.flip ? 2 : 1) - 1));
    t.true(changed > 0, 'TTA changes the labels of the first image');
    const agreement = same / total;
    t.log(`TTA ${AUTO_TTA}, ${files.length} images (tfjs backend ${tfjs.engine.backend}): ${(agreement * 100).toFixed(4)} % agree (${total - same} of ${total} pixels differ); the first image: ${changed} pixels changed by TTA`);
    t.true(agreement >= 0.995, `agreement ${(agreement * 100).toFixed(3)} % < 99.5 %`);
  } finally {
    await onnx.dispose();
    await tfjs.dispose();
  }
});

test.serial('tfjs-engine › native tensors stay flat over 500 frames', async (t) => {
  const [w, h] = [256, 128];
  const rgb = synthetic(w, h);
  const model = await loadModel({ engine: 'tfjs' });
  const e = model.engine;
  let at20 = -1;
  let rssWarm = 0;
  for (let i = 1; i <= 500; i++) {
    // every 8th frame a key frame with TTA (extra views must free every tensor they make)
    const r = await model.segment(rgb, w, h, { reuseDeep: i % 2 === 0, fuse: i % 4 === 0, withScores: i % 10 === 0, tta: i % 8 === 1 ? parseTta('flip+scales') : undefined });
    t.is(r.classes.length, w * h);
    if (i === 20) at20 = e.liveTensors();
    // RSS from frame 200 on: the wasm heap grows to its high-water mark while warming up and never
    // shrinks, which is not a leak; growth after that is.
    if (i === 200) rssWarm = process.memoryUsage().rss;
  }
  const at500 = e.liveTensors();
  const growth = (process.memoryUsage().rss - rssWarm) / 2 ** 20;
  t.log(`live tensors: ${at20} after frame 20, ${at500} after frame 500; RSS +${growth.toFixed(1)} MB from frame 200 to 500; runs ${JSON.stringify(model.runs)}`);
  t.is(at500, at20);
  t.true(at20 <= 1, `only the kept deep features may stay alive between frames (got ${at20})`);
  t.true(growth < 50, `RSS grew ${growth.toFixed(1)} MB`);
  t.true(model.runs.shallow > 100);
  await model.dispose();
  t.is(e.liveTensors(), 0);
  t.is(tf.memory().numTensors, 0);
});

test.serial('tfjs-engine › runs at 540x960', async (t) => {
  const [w, h] = [960, 540];
  const model = await loadModel({ engine: 'tfjs' });
  try {
    const r = await model.segment(synthetic(w, h), w, h, { withScores: true, inW: w, inH: h });
    t.is(r.classes.length, w * h);
    t.true(r.classes.every((c) => c < model.manifest.classes.length));
    t.deepEqual([r.scores?.channels, r.scores?.height, r.scores?.width], [11, 68, 120]);
  } finally {
    await model.dispose();
  }
});
