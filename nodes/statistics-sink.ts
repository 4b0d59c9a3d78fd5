/**
 * statistics-sink — per-class pixel share per frame and for the whole video.
 *
 * Ports: in `labels`; sink. Writes `json` ({ classes, frames, perFrame:
 * [{ seq, ptsMs, share: [...] }], video: { share: [...] }, missing: { frames,
 * ranges: [[first, last], ...] }, paths: { full, propagated, ... } }; shares are
 * fractions 0..1 in class order), `csv` (per frame: `seq,pts_ms,<class>...`,
 * one row per frame and nothing else) and `videoCsv` (per video: one row per
 * class, `id,class,share,frames_present`), each under a temporary name
 * renamed when complete (`finish()`, when the labels end). The shares are
 * computed by the operator src/segmentation/operators/class-statistics.ts;
 * this node keeps the rows and writes the files. `missing` lists the frame
 * numbers (seq) no labels came for: the gaps between consecutive seqs (a
 * decoder's lost frames), and those before the first when it starts the stream
 * (`discontinuity: 'start'`) above 0; the CSV's `seq` column shows the same gaps.
 * `paths` counts the frames by how their labels were made (`full`: the whole
 * network, `shallow`/`fused`: the shallow branch with kept deep features,
 * `propagated`: carried by motion from a key frame): the reuse a run got.
 *
 * ```yaml
 * stats: { type: statistics-sink, options: { json: out/stats.json, csv: out/stats.csv, videoCsv: out/stats-video.csv },
 *          in: { labels: segment.labels } }
 * ```
 */
import { writeFile } from 'node:fs/promises';
import { map } from 'rxjs';
import { z } from 'zod';
import { defineNode } from '../src/core/node.ts';
import type { LabelPath } from '../src/core/packet.ts';
import { commitOutput, discardOutput, prepareOutput } from '../src/media/output.ts';
import { csvField } from '../src/codecs/csv.ts';
import { classStatistics, type FrameShares, type VideoShares } from '../src/segmentation/operators/class-statistics.ts';

/** Re-exported for its existing importers; it lives with the operator. */
export { countBytes } from '../src/segmentation/operators/class-statistics.ts';

const options = z.strictObject({
  json: z.string().min(1).describe('output JSON path'),
  csv: z.string().min(1).optional().describe('per-frame CSV path (optional): one row per frame'),
  videoCsv: z.string().min(1).optional().describe('per-video CSV path (optional): one row per class'),
  overwrite: z.boolean().default(false).describe('replace existing outputs'),
  onInterrupt: z.enum(['finalize', 'discard']).default('finalize').describe('what a stopped run leaves'),
});

export const statisticsSink = defineNode({
  type: 'statistics-sink',
  description: 'Per-class pixel shares per frame and per video (JSON, CSV)',
  role: 'sink',
  inputs: { labels: 'labels' },
  outputs: {},
  options,
  async open(ctx) {
    const o = ctx.options;
    const tmpJson = await prepareOutput(o.json, o.overwrite, ctx.name);
    const tmpCsv = o.csv ? await prepareOutput(o.csv, o.overwrite, ctx.name) : undefined;
    const tmpVideoCsv = o.videoCsv ? await prepareOutput(o.videoCsv, o.overwrite, ctx.name) : undefined;
    const perFrame: FrameShares[] = [];
    const paths: Partial<Record<LabelPath, number>> = {};
    let totals: VideoShares | undefined;
    const ranges: [number, number][] = [];
    let last: number | undefined;
    const seen = (seq: number, start: boolean) => {
      const from = last !== undefined ? last + 1 : start ? 0 : seq;
      if (seq > from) ranges.push([from, seq - 1]);
      last = last === undefined ? seq : Math.max(last, seq);
    };
    return {
      process: ({ labels }) => labels.pipe(classStatistics(), map((s) => {
        perFrame.push(s.frame);
        paths[s.labels.path] = (paths[s.labels.path] ?? 0) + 1;
        seen(s.frame.seq, s.labels.discontinuity === 'start');
        totals = s.video;
        return s.labels;
      })),
      async finish() {
        if (ctx.signal.aborted && o.onInterrupt === 'discard') return;
        const classes = totals?.classes ?? [];
        const video = totals?.share ?? [];
        const present = totals?.framesPresent;
        const missing = { frames: ranges.reduce((n, [a, b]) => n + b - a + 1, 0), ranges };
        await writeFile(tmpJson, JSON.stringify({ classes, frames: perFrame.length, video: { share: video }, missing, paths, perFrame }) + '\n');
        commitOutput(tmpJson, o.json);
        if (tmpCsv && o.csv) {
          const head = ['seq', 'pts_ms', ...classes.map((n) => n.replace(/[^\w-]/g, '_'))].join(',');
          const rows = perFrame.map((f) => [f.seq, f.ptsMs, ...f.share].join(','));
          await writeFile(tmpCsv, [head, ...rows].join('\n') + '\n');
          commitOutput(tmpCsv, o.csv);
        }
        if (tmpVideoCsv && o.videoCsv) {
          const rows = classes.map((n, k) => [k, csvField(n), video[k] ?? 0, present?.[k] ?? 0].join(','));
          await writeFile(tmpVideoCsv, ['id,class,share,frames_present', ...rows].join('\n') + '\n');
          commitOutput(tmpVideoCsv, o.videoCsv);
        }
      },
      async close() {
        discardOutput(tmpJson);
        if (tmpCsv) discardOutput(tmpCsv);
        if (tmpVideoCsv) discardOutput(tmpVideoCsv);
      },
    };
  },
});
