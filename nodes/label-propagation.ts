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
 * whose own labels were already there. Frames marked by a `keyframe-scheduler`
 * are handled in order, exactly as the segmenter's own `propagate` path: key
 * frames wait for their labels, frames marked `propagate` get the previous
 * frame's labels carried to them (the offline graph). The stream logic is the
 * operator src/segmentation/operators/propagate-labels.ts; the carrying,
 * src/segmentation/propagation.ts — the one implementation.
 *
 * ```yaml
 * carry: { type: label-propagation, in: { frame: small.frame, labels: segment.labels } }
 * carry: { type: label-propagation, in: { frame: keys.frame, labels: segment.labels } }   # marked frames
 * ```
 */
import type { Observable } from 'rxjs';
import { z } from 'zod';
import { defineNode } from '../src/core/node.ts';
import type { Frame, Labels } from '../src/core/packet.ts';
import { propagateLabels } from '../src/segmentation/operators/propagate-labels.ts';
import { PROPAGATION_RADIUS } from '../src/segmentation/propagation.ts';
import { blockMotion, thumbnail, warpLabels, type Thumb } from '../src/kernels/motion.ts';

const options = z.strictObject({
  radiusPx: z.number().int().min(1).max(16).default(PROPAGATION_RADIUS).describe('search radius per frame, thumbnail pixels (1/4 of 960 px wide)'),
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
        labels: (frame as Observable<Frame>).pipe(propagateLabels(labels as Observable<Labels>, o)),
      }),
      async close() {},
    };
  },
});
