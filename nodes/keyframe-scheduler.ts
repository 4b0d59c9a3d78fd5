/**
 * keyframe-scheduler — decides which frames run the whole network.
 *
 * Ports: in `frame`, out `frame` (the same frames, each marked with
 * `Frame.key`: key or not, why, and the path a non-key frame takes) and out
 * `keyframes` (the key frames alone, marked the same: a live graph feeds the
 * segmenter from it, so that a freshest queue in front of a slow network only
 * ever drops older key frames, never a key frame for a frame it would not
 * segment anyway). A
 * frame comes every `keyframeIntervalFrames` frames, earlier when the picture
 * changed by more than `keyframeChangeThreshold` since the last key frame
 * (mean absolute gray difference of small thumbnails, 0..255; 0 = off), and
 * always on the first frame after a discontinuity (start, seek, reconnect,
 * new file). Non-key frames are marked with `nonKeyFrames`: `shallow` (the
 * segmenter runs its shallow branch with the key frame's deep features),
 * `fuse` (the segmenter hands the shallow features to a `temporal-fuser`) or
 * `propagate` (no network: `label-propagation` carries the labels). A
 * `two-branch-segmenter` downstream honours the marks instead of its own
 * schedule. The rule is the segmenter's (src/temporal.ts); the stream logic is
 * src/segmentation/operators/schedule-keyframes.ts.
 *
 * ```yaml
 * keys: { type: keyframe-scheduler, options: { keyframeIntervalFrames: 10, keyframeChangeThreshold: 12, nonKeyFrames: propagate }, in: { frame: small.frame } }
 * segment: { type: two-branch-segmenter, executor: seg, in: { frame: keys.keyframes }, queue: { policy: freshest, size: 1 } }   # live
 * ```
 */
import { filter, share, type Observable } from 'rxjs';
import { z } from 'zod';
import { defineNode } from '../src/core/node.ts';
import type { Frame } from '../src/core/packet.ts';
import { scheduleKeyframes } from '../src/segmentation/operators/schedule-keyframes.ts';

const options = z.strictObject({
  keyframeIntervalFrames: z.number().int().min(1).max(1000).default(10).describe('a key frame at least every N frames (1 = every frame)'),
  keyframeChangeThreshold: z.number().min(0).max(255).default(0).describe('force a key frame when the mean gray change since the last one exceeds this (0 = off)'),
  nonKeyFrames: z.enum(['shallow', 'fuse', 'propagate']).default('propagate').describe('the path marked on non-key frames'),
});

export const keyframeScheduler = defineNode({
  type: 'keyframe-scheduler',
  description: 'Mark key frames (fixed interval, adaptive on picture change, forced on discontinuity) and the path of the others',
  role: 'transform',
  inputs: { frame: 'frame' },
  outputs: { frame: 'frame', keyframes: 'frame' },
  options,
  async open(ctx) {
    const o = ctx.options;
    return {
      process: ({ frame }) => {
        // One schedule for both outputs (the rule keeps state: two subscriptions would decide twice).
        const marked = (frame as Observable<Frame>).pipe(scheduleKeyframes({ intervalFrames: o.keyframeIntervalFrames, changeThreshold: o.keyframeChangeThreshold, nonKeyFrames: o.nonKeyFrames }), share());
        return { frame: marked, keyframes: marked.pipe(filter((f) => f.key!.key)) };
      },
      async close() {},
    };
  },
});
