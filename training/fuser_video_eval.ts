/**
 * The video evaluation of `npm run bench` (its "val 15 Hz" and "motion-seq" mIoU columns,
 * src/eval/video.ts) for the `nonKeyFrames: fuse` modes, once per temporal-fuser cell:
 *
 *   nice node --import tsx training/fuser_video_eval.ts [gru,lstm]
 *
 * ONNX Runtime, 2 threads; the same sequences, modes and TTA default as bench/run.ts.
 */
import path from 'node:path';
import { loadModel } from '../src/segmentation/engine/model.ts';
import type { FuserCell } from '../src/segmentation/engine/engine.ts';
import { motionSequences, runMode, scoreSequences, valSequence, type Mode } from '../src/apps/eval/video.ts';
import { PACKAGE_ROOT } from '../src/core/package-root.ts';

const CAMVID = path.join(process.env.SEGFLOW_SHARED ?? path.join(PACKAGE_ROOT, '..', 'shared'), 'data', 'camvid');
const cells = (process.argv[2] ?? 'gru,lstm').split(',') as FuserCell[];
const MODES: Mode[] = [
  { name: 'shallow, key every 5 (no fuser on non-key frames)', keyframeIntervalFrames: 5, nonKeyFrames: 'shallow' },
  { name: 'fuse, key every 5', keyframeIntervalFrames: 5, nonKeyFrames: 'fuse' },
  { name: 'fuse, key every 10', keyframeIntervalFrames: 10, nonKeyFrames: 'fuse' },
];
const f1 = (x: number) => x.toFixed(1);
const val = await valSequence(CAMVID);
const motion = await motionSequences(CAMVID, 8, 10);
console.log(`| cell | mode | val 15 Hz (${val.length} frames) mIoU mean / worst | motion-seq (${motion.length}x10) mIoU mean / worst | by position (val) |`);
console.log('|---|---|---|---|---|');
for (const cell of cells) {
  const model = await loadModel({ engine: 'onnx', threads: 2, fuserCell: cell });
  for (const mode of MODES) {
    if (mode.nonKeyFrames !== 'fuse' && cell !== cells[0]) continue;
    const m = { ...mode, fuserCell: cell };
    const vs = scoreSequences([{ run: await runMode(model, m, val), frames: val }], model.manifest.classes.length);
    const runs = [];
    for (const s of motion) runs.push({ run: await runMode(model, m, s), frames: s });
    const ms = scoreSequences(runs, model.manifest.classes.length);
    console.log(`| ${cell} | ${mode.name} | ${f1(vs.miou)} / ${f1(vs.worst)} | ${f1(ms.miou)} / ${f1(ms.worst)} | ${vs.byPosition.map(f1).join(' ')} |`);
  }
  await model.dispose();
}
