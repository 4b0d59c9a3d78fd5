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
 * With `live: true` (the live graphs: the segmenter on key frames in its own
 * executor behind a freshest queue) no frame ever waits for the network, marked
 * or not: each frame is labelled on arrival with the newest key-frame labels
 * that have arrived, carried to it along block-matching motion. The motion
 * from frame to frame is measured once and kept for the frames since the
 * newest labelled key frame, so labels that arrive late for key frame s are
 * carried to the current frame along the accumulated motion s → s+1 → … → now
 * and take over from there; labels older than those in use, or from before
 * the last discontinuity, are ignored, and a key frame whose labels never
 * come (dropped by the freshest queue) leaves the frames on the newest labels
 * there are. A discontinuity (a camera drop and reconnect) drops all labels
 * and motion and holds the frames from it on until the first labels after it
 * arrive — one network run, as the scheduler makes the first frame a key
 * frame — so every frame is labelled and none with another scene's labels;
 * held frames are bounded by `historyFrames` (beyond it the oldest goes out
 * without labels, counted in `propagation_unlabelled_total{node}`). Operator:
 * src/segmentation/operators/propagate-labels-live.ts.
 *
 * ```yaml
 * carry: { type: label-propagation, in: { frame: small.frame, labels: segment.labels } }
 * carry: { type: label-propagation, in: { frame: keys.frame, labels: segment.labels } }   # marked frames
 * carry: { type: label-propagation, options: { live: true }, in: { frame: keys.frame, labels: segment.labels } }   # live
 * ```
 */
import type { Observable } from 'rxjs';
import { z } from 'zod';
import { defineNode } from '../src/core/node.ts';
import type { Frame, Labels } from '../src/core/packet.ts';
import { propagateLabels } from '../src/segmentation/operators/propagate-labels.ts';
import { propagateLabelsLive } from '../src/segmentation/operators/propagate-labels-live.ts';
import { PROPAGATION_RADIUS } from '../src/segmentation/propagation.ts';

const options = z.strictObject({
  radiusPx: z.number().int().min(1).max(16).default(PROPAGATION_RADIUS).describe('search radius per frame, thumbnail pixels (1/4 of 960 px wide)'),
  catchUpRadiusPx: z.number().int().min(1).max(24).default(8).describe('search radius when late labels jump to the newest frame'),
  historyFrames: z.number().int().min(2).max(512).default(64).describe('frame thumbnails kept to match late labels (live: also the most frames held after a discontinuity)'),
  live: z.boolean().default(false).describe('never wait for labels (live graphs): late key-frame labels are carried to the current frame along the motion since; frames after a discontinuity wait only for its first labels'),
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
      process: ({ frame, labels }) => {
        if (!o.live) return { labels: (frame as Observable<Frame>).pipe(propagateLabels(labels as Observable<Labels>, o)) };
        ctx.metrics.count('propagation_unlabelled_total', { node: ctx.name }, 0, 'Frames label-propagation let out without labels (held past historyFrames after a discontinuity).');
        const onUnlabelled = () => ctx.metrics.count('propagation_unlabelled_total', { node: ctx.name });
        return { labels: (frame as Observable<Frame>).pipe(propagateLabelsLive(labels as Observable<Labels>, { ...o, onUnlabelled })) };
      },
      async close() {},
    };
  },
});
