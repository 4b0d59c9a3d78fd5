/**
 * The ConvLSTM temporal fuser (training/fast_scnn.py TemporalFuserLSTM; state
 * [h, c] on channels): an untrained export is exactly plain reuse on both
 * engines, the shipped one runs the same on ONNX and TF.js, the fuserCell
 * option picks it, and native tensors stay flat. Serial: TF.js keeps one
 * global tensor registry.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { loadModel, modelDir, readManifest, resolveFuser, type Model } from '../src/segmentation/engine/model.ts';
import { ReuseSegmenter } from '../src/segmentation/temporal.ts';
import { PACKAGE_ROOT } from '../src/core/package-root.ts';

const PY = '/usr/bin/python3';
const BASE = path.join(PACKAGE_ROOT, 'training', 'runs', 'gpu-final-train-p0.25', 'best.pt');
/** The model that ships the ConvLSTM fuser (trained on BASE): the fast preset. */
const FAST = 'fast-scnn-camvid';

/** Frame k of a synthetic drive: gradients + blocks, shifted 3 px right and 1 px down per frame. */
function frame(w: number, h: number, k: number): Uint8Array {
  const rgb = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const [u, v] = [x + 3 * k, y + k];
      const i = (y * w + x) * 3;
      rgb[i] = (u * 255) / w;
      rgb[i + 1] = (v * 255) / h;
      rgb[i + 2] = ((u >> 4) + (v >> 4)) % 2 ? 200 : 40;
    }
  }
  return rgb;
}

const W = 240;
const H = 180;

/** Key frame every 4th; returns per frame labels and 1/8 scores. */
async function drive(m: Model, o: { fuse: boolean; refine: boolean }, frames = 8) {
  m.reset();
  const out = [];
  for (let k = 0; k < frames; k++) {
    out.push(await m.segment(frame(W, H, k), W, H, { reuseDeep: k % 4 !== 0, fuse: o.fuse, refine: o.refine, withScores: true }));
  }
  return out;
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

function torchReady(): string | undefined {
  const r = spawnSync(PY, ['-c', 'import torch, onnx'], { encoding: 'utf8' });
  return r.status === 0 ? undefined : `${PY} with torch and onnx is needed to export an untrained fuser (${(r.stderr || r.error?.message || '').trim().split('\n').pop()})`;
}

test.serial('fuser-lstm › an untrained ConvLSTM export is plain reuse on ONNX and TF.js (and a trained fuser is not)', async (t) => {
  const why = torchReady();
  if (why) {
    t.log(`skipped: ${why}`);
    t.pass();
    return;
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'segflow-lstm-init-'));
  try {
    cpSync(modelDir(FAST), dir, { recursive: true });
    const r = spawnSync('nice', [PY, path.join(PACKAGE_ROOT, 'training', 'export.py'), '--ckpt', BASE, '--out', dir, '--add-fuser', 'init', '--cell', 'lstm'], { encoding: 'utf8' });
    t.is(r.status, 0, r.stderr.slice(-2000));
    const man = readManifest(dir);
    t.is(man.fusers?.lstm?.cell, 'lstm');
    t.is(man.fusers?.lstm?.params, 157696);
    t.is(man.fuser?.cell, 'gru', 'the model\'s own fuser is recorded as gru');
    for (const engine of ['onnx', 'tfjs'] as const) {
      const m = await loadModel({ model: dir, engine, threads: 1, fuserCell: 'lstm' });
      try {
        t.is(m.fuserCell, 'lstm');
        const fused = await drive(m, { fuse: true, refine: true });
        const plain = await drive(m, { fuse: false, refine: false });
        t.is(m.runs.fused, 6);
        t.is(m.runs.refined, 2);
        for (let k = 0; k < fused.length; k++) {
          t.is(fused[k]!.path, k % 4 ? 'fused' : 'full');
          const d = maxDiff(fused[k]!.scores!.data, plain[k]!.scores!.data);
          t.true(d < 1e-4, `${engine} frame ${k}: untrained lstm scores differ from plain reuse by ${d}`);
          t.deepEqual(fused[k]!.classes, plain[k]!.classes);
        }
      } finally {
        await m.dispose();
      }
    }
    // The same comparison can fail: the trained gru fuser does change the scores.
    const gru = await loadModel({ model: dir, engine: 'onnx', threads: 1 });
    try {
      t.is(gru.fuserCell, 'gru');
      const [a, b] = [await drive(gru, { fuse: true, refine: true }), await drive(gru, { fuse: false, refine: false })];
      t.true(maxDiff(a[1]!.scores!.data, b[1]!.scores!.data) > 0.1);
    } finally {
      await gru.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.serial('fuser-lstm › the shipped ConvLSTM fuser: ONNX and TF.js agree frame by frame, and it is not plain reuse', async (t) => {
  const man = readManifest(modelDir(FAST));
  t.truthy(man.fusers?.lstm, `${FAST} ships an lstm fuser (manifest fusers.lstm)`);
  const onnx = await loadModel({ model: FAST, engine: 'onnx', threads: 1, fuserCell: 'lstm' });
  const tfjs = await loadModel({ model: FAST, engine: 'tfjs', threads: 1, fuserCell: 'lstm' });
  try {
    t.is(onnx.fuserCell, 'lstm');
    t.is(tfjs.fuserCell, 'lstm');
    const [a, b] = [await drive(onnx, { fuse: true, refine: true }), await drive(tfjs, { fuse: true, refine: true })];
    let same = 0;
    let total = 0;
    let worst = 0;
    for (let k = 0; k < a.length; k++) {
      t.is(a[k]!.path, b[k]!.path);
      worst = Math.max(worst, maxDiff(a[k]!.scores!.data, b[k]!.scores!.data));
      for (let i = 0; i < a[k]!.classes.length; i++) same += a[k]!.classes[i] === b[k]!.classes[i] ? 1 : 0;
      total += a[k]!.classes.length;
    }
    t.log(`lstm fuser, 8 frames (key every 4th), tfjs backend ${tfjs.engine.backend}: labels ${((same / total) * 100).toFixed(3)} % agree, scores differ by ≤ ${worst.toExponential(2)}`);
    t.true(same / total >= 0.995);
    t.true(worst < 1e-2, `scores differ by ${worst}`);
    const plain = await drive(onnx, { fuse: false, refine: false });
    t.true(maxDiff(a[2]!.scores!.data, plain[2]!.scores!.data) > 0.1, 'the trained lstm changes the scores');
  } finally {
    await onnx.dispose();
    await tfjs.dispose();
  }
});

test.serial('fuser-lstm › native tensors stay flat over 40 fused frames on both engines', async (t) => {
  for (const engine of ['onnx', 'tfjs'] as const) {
    const m = await loadModel({ model: FAST, engine, threads: 1, fuserCell: 'lstm' });
    try {
      const seg = new ReuseSegmenter(m, { keyframeIntervalFrames: 5, nonKeyFrames: 'fuse', fuserCell: 'lstm' });
      let at10 = -1;
      for (let k = 0; k < 40; k++) {
        await seg.next(frame(96, 64, k), 96, 64);
        if (k === 9) at10 = m.engine.liveTensors();
      }
      t.is(m.runs.fused, 32);
      t.is(m.engine.liveTensors(), at10, `${engine}: live tensors grew`);
    } finally {
      await m.dispose();
    }
  }
});

test.serial('fuser-lstm › fuserCell: picks the fuser, and a wrong or missing cell is a clear error', async (t) => {
  const man = readManifest(modelDir(FAST));
  t.deepEqual(resolveFuser(man), { cell: 'gru', onnx: 'fuser.onnx' });
  t.deepEqual(resolveFuser(man, 'gru'), { cell: 'gru', onnx: 'fuser.onnx' });
  t.deepEqual(resolveFuser(man, 'lstm'), { cell: 'lstm', onnx: 'fuser-lstm.onnx', tfjsWeights: 'fuser-lstm.json' });
  const { fusers: _f, ...noLstm } = man;
  t.throws(() => resolveFuser(noLstm, 'lstm'), { message: /has no lstm temporal fuser \(it has: gru\)/ });
  const { fuser: _g, fusers: _h, ...none } = { ...man, parts: Object.fromEntries(Object.entries(man.parts).filter(([k]) => k !== 'fuser')) };
  t.is(resolveFuser(none), undefined);
  t.throws(() => resolveFuser(none, 'gru'), { message: /has no gru temporal fuser \(it has: none\)/ });
  t.throws(() => resolveFuser(man, 'rnn' as 'gru'), { message: /fuserCell must be one of gru or lstm/ });
  const m = await loadModel({ model: FAST, engine: 'onnx', threads: 1 });
  try {
    t.throws(() => new ReuseSegmenter(m, { keyframeIntervalFrames: 5, nonKeyFrames: 'fuse', fuserCell: 'lstm' }), { message: /loaded with its gru fuser/ });
  } finally {
    await m.dispose();
  }
});
