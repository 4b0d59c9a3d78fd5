/**
 * scheduleKeyframes — the keyframe-scheduler node's logic as a pure RxJS
 * operator: every frame passes, marked (`Frame.key`) as a key frame or not,
 * with the path a non-key frame takes. The rule is the segmenter's own
 * (KeyframeScheduler, src/temporal.ts): a key frame every `intervalFrames`
 * frames, earlier when the mean absolute gray change of a thumbnail against
 * the last key frame exceeds `changeThreshold` (0 = off), and always on the
 * first frame after a discontinuity.
 *
 * ```ts
 * frames$.pipe(scheduleKeyframes({ intervalFrames: 10, changeThreshold: 12, nonKeyFrames: 'propagate' }))
 * ```
 */
import { defer, map, type OperatorFunction } from 'rxjs';
import type { Frame, KeyMark } from '../../core/packet.ts';
import { KeyframeScheduler } from '../temporal.ts';
import { frameThumbnail } from '../propagation.ts';

export interface ScheduleOptions {
  readonly intervalFrames: number;
  /** Mean absolute gray change (0..255) that forces a key frame; 0 = off. */
  readonly changeThreshold: number;
  /** The path of non-key frames. */
  readonly nonKeyFrames: 'shallow' | 'fuse' | 'propagate';
}

export function scheduleKeyframes(o: ScheduleOptions): OperatorFunction<Frame, Frame> {
  return (frame$) => defer(() => {
    const s = new KeyframeScheduler(o.intervalFrames, o.changeThreshold);
    return frame$.pipe(map((f): Frame => {
      if (f.discontinuity) s.reset();
      const thumb = s.needsThumb ? frameThumbnail(f.data, f.width, f.height) : undefined;
      const key = s.decide(thumb);
      const mark: KeyMark = { key, reason: s.lastReason, path: key ? 'full' : o.nonKeyFrames, change: thumb && s.lastReason !== 'discontinuity' ? s.lastChange : undefined, intervalFrames: o.intervalFrames };
      return Object.freeze({ ...f, key: mark });
    }));
  });
}
