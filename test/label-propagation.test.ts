/**
 * label-propagation: a label map for every frame from the last model labels, warped along
 * block-matching motion, and nothing carried across a discontinuity (real frames of the sample).
 * The motion and warp kernels it runs on: test/motion.test.ts. (Moved from temporal.test.ts, now
 * two-branch-segmenter.test.ts.)
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { lastValueFrom, type Observable, Subject, toArray } from 'rxjs';
import { labelPropagation } from '../nodes/index.ts';
import { ffmpegPaths } from '../src/media/ffmpeg.ts';
import type { NodeContext, NodeSpec } from '../src/core/node.ts';
import type { Frame, Labels } from '../src/core/packet.ts';
import { unlimitedFlow } from '../src/core/runtime/flow.ts';
import { Metrics } from '../src/core/runtime/metrics.ts';
import { createNodeContext } from '../src/core/runtime/context.ts';
import { SAMPLE } from './helpers/cli.ts';

const W = 320, H = 180;
/** The first n frames of the bundled sample at 320x180, decoded by the real ffmpeg. */
function sampleFrames(n: number): Uint8Array[] {
  const buf = execFileSync(ffmpegPaths().ffmpeg, ['-v', 'error', '-i', SAMPLE, '-frames:v', String(n), '-vf', `scale=${W}:${H}`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { maxBuffer: 1 << 28 });
  return Array.from({ length: n }, (_, i) => new Uint8Array(buf.subarray(i * W * H * 3, (i + 1) * W * H * 3)));
}
const frame = (data: Uint8Array, seq: number, discontinuity?: string): Frame =>
  ({ kind: 'frame', source: 'cam', seq, ptsMs: seq * 40, width: W, height: H, data, discontinuity });

async function open<S extends NodeSpec>(spec: S, options: Record<string, unknown>) {
  const metrics = new Metrics();
  const ctx = createNodeContext(spec, { name: 'n', options: spec.options.parse(options), metrics });
  return { inst: await spec.open(ctx as never), metrics };
}

test('label-propagation › a label map for every frame, and nothing carried across a discontinuity', async (t) => {
  const imgs = sampleFrames(6);
  const { inst } = await open(labelPropagation, {});
  const frames$ = new Subject<Frame>();
  const labels$ = new Subject<Labels>();
  const got = lastValueFrom((inst.process({ frame: frames$, labels: labels$ }) as { labels: Observable<Labels> }).labels.pipe(toArray()));
  const lab = (seq: number): Labels => ({ kind: 'labels', source: 'cam', seq, ptsMs: seq * 40, width: W, height: H, classes: new Uint8Array(W * H).fill(3), classNames: [], palette: [], path: 'full' });
  frames$.next(frame(imgs[0]!, 0, 'start'));
  labels$.next(lab(0)); // the model is slower than the camera: labels arrive after the frame
  frames$.next(frame(imgs[1]!, 1));
  frames$.next(frame(imgs[2]!, 2));
  frames$.next(frame(imgs[3]!, 3, 'reconnect')); // camera came back: old labels must not be used
  frames$.next(frame(imgs[4]!, 4));
  labels$.next(lab(4));
  frames$.next(frame(imgs[5]!, 5));
  frames$.complete();
  labels$.complete();
  const out = await got;
  t.deepEqual(out.map((l) => l.seq), [1, 2, 5]);
  t.true(out.every((l) => l.path === 'propagated' && l.classes.length === W * H));
  t.is(out[2]!.discontinuity, 'reconnect', 'the mark is passed on to nodes downstream');
  t.is(out[1]!.discontinuity, undefined);
});
