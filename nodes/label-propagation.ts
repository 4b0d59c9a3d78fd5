/**
 * label-propagation — a label map for every frame, even when the segmenter
 * only labels some of them (a slow model behind a freshest queue on a live
 * camera, or a model run every Nth frame).
 *
 * Ports: in `frame` (every frame, at the size the labels describe — usually
 * the segmenter's input), in `labels` (for some frames); out `labels` (one
 * per frame, emitted as soon as the frame arrives, never waiting for the
 * model). Labels for frame s that arrive late are carried to the newest frame
 * along block-matching motion from s's thumbnail, then chained frame to
 * frame. A discontinuity drops all state: frames emit nothing until the first
 * labels after it arrive, and the first labels out carry the mark on. Output `path` is `propagated` except for frames
 * whose own labels were already there.
 *
 * ```yaml
 * carry: { type: label-propagation, in: { frame: small.frame, labels: segment.labels } }
 * ```
 */
import { Observable } from 'rxjs';
import { z } from 'zod';
import { blockMotion, thumbnail, warpLabels, type Thumb } from '../src/kernels/motion.ts';
import { defineNode } from '../src/core/node.ts';
import type { Frame, Labels } from '../src/core/packet.ts';

const options = z.strictObject({
  radiusPx: z.number().int().min(1).max(16).default(4).describe('search radius per frame, thumbnail pixels (1/4 of 960 px wide)'),
  catchUpRadiusPx: z.number().int().min(1).max(24).default(8).describe('search radius when late labels jump to the newest frame'),
  historyFrames: z.number().int().min(2).max(512).default(64).describe('frame thumbnails kept to match late labels'),
});

export const labelPropagation = defineNode({
  type: 'label-propagation',
  description: 'Carry labels forward by block-matching motion so every frame has a label map',
  role: 'transform',
  inputs: { frame: 'frame', labels: 'labels' },
  outputs: { labels: 'labels' },
  options,
  async open(ctx) {
    const o = ctx.options;
    return {
      process: ({ frame, labels }) => ({
        labels: new Observable<Labels>((sub) => {
          const thumbs = new Map<string, Thumb>();
          let cur: { labels: Labels; thumb: Thumb; fromSeq: number } | undefined; // labels carried to the newest frame
          let newest: { frame: Frame; thumb: Thumb } | undefined;
          let mark: string | undefined;
          let ended = 0;
          const end = () => ++ended === 2 && sub.complete();
          const key = (p: { source: string; seq: number }) => `${p.source}#${p.seq}`;
          const sf = frame.subscribe({
            next: (f: Frame) => {
              if (f.discontinuity) {
                thumbs.clear();
                cur = undefined;
                mark = f.discontinuity;
              }
              const th = thumbnail(f.data, f.width, f.height);
              thumbs.set(key(f), th);
              if (thumbs.size > o.historyFrames) thumbs.delete(thumbs.keys().next().value as string);
              newest = { frame: f, thumb: th };
              if (!cur || cur.labels.source !== f.source) return;
              if (cur.labels.seq !== f.seq) {
                const l = cur.labels;
                const classes = warpLabels(l.classes, l.width, l.height, blockMotion(cur.thumb, th, 8, o.radiusPx));
                cur = { labels: Object.freeze({ ...l, seq: f.seq, ptsMs: f.ptsMs, discontinuity: undefined, classes, path: 'propagated' as const, scores: undefined }), thumb: th, fromSeq: cur.fromSeq };
              }
              // The first labels out after a discontinuity carry its mark, so nodes downstream reset too.
              sub.next(mark ? Object.freeze({ ...cur.labels, discontinuity: mark }) : cur.labels);
              mark = undefined;
            },
            error: (e) => sub.error(e),
            complete: end,
          });
          const sl = labels.subscribe({
            next: (l: Labels) => {
              const th = thumbs.get(key(l));
              if (!th || (cur && cur.labels.source === l.source && l.seq <= cur.fromSeq)) return;
              if (newest && newest.frame.seq > l.seq && newest.frame.source === l.source) {
                // Late labels: jump them to the newest frame in one wider search.
                const classes = warpLabels(l.classes, l.width, l.height, blockMotion(th, newest.thumb, 8, o.catchUpRadiusPx));
                cur = { labels: Object.freeze({ ...l, seq: newest.frame.seq, ptsMs: newest.frame.ptsMs, discontinuity: undefined, classes, path: 'propagated' as const, scores: undefined }), thumb: newest.thumb, fromSeq: l.seq };
              } else {
                cur = { labels: l, thumb: th, fromSeq: l.seq };
              }
            },
            error: (e) => sub.error(e),
            complete: end,
          });
          return () => {
            sf.unsubscribe();
            sl.unsubscribe();
          };
        }),
      }),
      async close() {},
    };
  },
});
