/** Open one node outside a graph (spec.open with a plain context) and real frames of the bundled sample. */
import { execFileSync } from 'node:child_process';
import { ffmpegPaths } from '../../src/media/ffmpeg.ts';
import type { NodeContext, NodeSpec } from '../../src/core/node.ts';
import type { Frame } from '../../src/core/packet.ts';
import { unlimitedFlow } from '../../src/core/runtime/flow.ts';
import { Metrics } from '../../src/core/runtime/metrics.ts';
import { createNodeContext } from '../../src/core/runtime/context.ts';
import { SAMPLE } from './cli.ts';

export const W = 320, H = 180;

/** The first n frames of the bundled sample at 320x180, decoded by the real ffmpeg. */
export function sampleFrames(n: number, start = 0): Uint8Array[] {
  const buf = execFileSync(ffmpegPaths().ffmpeg, ['-v', 'error', '-i', SAMPLE, '-vf', `select=gte(n\\,${start}),scale=${W}:${H}`, '-frames:v', String(n), '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { maxBuffer: 1 << 28 });
  return Array.from({ length: n }, (_, i) => new Uint8Array(buf.subarray(i * W * H * 3, (i + 1) * W * H * 3)));
}

export const frameOf = (data: Uint8Array, seq: number, discontinuity?: string): Frame =>
  Object.freeze({ kind: 'frame', source: 'cam', seq, ptsMs: seq * 40, width: W, height: H, data, discontinuity });

export async function openNode<S extends NodeSpec>(spec: S, options: Record<string, unknown>, name = 'n') {
  const metrics = new Metrics();
  const ctx = createNodeContext(spec, { name, options: spec.options.parse(options), metrics });
  return { inst: await spec.open(ctx as never), metrics };
}

/** A counter's value in a Metrics (0 when never counted). */
export function counter(m: Metrics, name: string, labels: string): number {
  return m.counters.get(name)?.get(labels) ?? 0;
}
