// A file job that stops making progress is not silent: `processFiles` warns (Progress.stalled) when no
// frame has finished for stallWarnS seconds, again after twice as long, and never stops the job.
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { from, concatMap, timer, map } from 'rxjs';
import { z } from 'zod';
import { defineNode, type NodeSpec } from '../src/core/node.ts';
import type { Frame } from '../src/core/packet.ts';
import { processFiles, type Progress } from '../src/apps/process.ts';
import { registry } from '../nodes/index.ts';
import { testClip } from './helpers/videos.ts';

// A sink that holds its first frame for `holdMs` (a stall), then passes every frame on.
const holdSink = defineNode({
  type: 'test-hold-sink', description: 'holds the first frame for a while', role: 'sink',
  inputs: { frame: 'frame' }, outputs: {}, options: z.object({ holdMs: z.number() }),
  async open(ctx) {
    return {
      process: ({ frame }) => frame.pipe(concatMap((f: Frame) => (f.seq === 0 ? timer(ctx.options.holdMs).pipe(map(() => f)) : from([f])))),
      async finish() {},
      async close() {},
    };
  },
});

test('process › a stalled file gets warnings that double, and the job still completes every frame', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'segflow-stall-'));
  try {
    const clip = await testClip(path.join(dir, 'in.mp4'), { frames: 3 });
    const graph = path.join(dir, 'g.yaml');
    writeFileSync(graph, 'version: 1\nnodes:\n  decode: { type: decoder, options: { path: "${input}" } }\n  hold: { type: test-hold-sink, options: { holdMs: 1600 }, in: { frame: decode.frame } }\n');
    const reg = new Map<string, NodeSpec>([...registry, [holdSink.type, holdSink as unknown as NodeSpec]]);
    const warnings: { idleS: number; done: number }[] = [];
    const progress: Progress = { start() {}, frame() {}, end() {}, stalled: (_f, idleS, done) => warnings.push({ idleS, done }) };
    const s = await processFiles({ inputs: [clip], out: path.join(dir, 'out'), graph, registry: reg, progress, stallWarnS: 0.25 });
    t.is(s.files[0]!.status, 'ok', JSON.stringify(s.files[0]));
    t.is(s.files[0]!.frames, 3, 'every frame finished after the stall');
    // idle ≥ 0.25 s, then ≥ 0.5, then ≥ 1.0 before the held frame goes at 1.6 s: 3 warnings, doubling.
    t.true(warnings.length >= 2 && warnings.length <= 4, `warnings: ${JSON.stringify(warnings)}`);
    t.true(warnings.every((w) => w.done === 0), 'no frame had finished when they were given');
    for (let i = 1; i < warnings.length; i++) t.true(warnings[i]!.idleS >= warnings[i - 1]!.idleS, 'idle time grows');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('process › with stallWarnS 0 no stall warning is given', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'segflow-stall-'));
  try {
    const clip = await testClip(path.join(dir, 'in.mp4'), { frames: 3 });
    const graph = path.join(dir, 'g.yaml');
    writeFileSync(graph, 'version: 1\nnodes:\n  decode: { type: decoder, options: { path: "${input}" } }\n  hold: { type: test-hold-sink, options: { holdMs: 600 }, in: { frame: decode.frame } }\n');
    const reg = new Map<string, NodeSpec>([...registry, [holdSink.type, holdSink as unknown as NodeSpec]]);
    const warnings: number[] = [];
    const progress: Progress = { start() {}, frame() {}, end() {}, stalled: (_f, idleS) => warnings.push(idleS) };
    const s = await processFiles({ inputs: [clip], out: path.join(dir, 'out'), graph, registry: reg, progress, stallWarnS: 0 });
    t.is(s.files[0]!.status, 'ok');
    t.deepEqual(warnings, [], 'stallWarnS 0 turns the warning off');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
