/**
 * downsampleFrames — the downsampler node's logic as a pure RxJS operator:
 * each frame resized (bilinear, src/kernels/image.ts resizeRgb) for a model's
 * input.
 *
 * By default the frame's longer side becomes `longSidePx` pixels and the
 * aspect ratio is kept (960x540 → 480x270, 640x480 → 480x360); with both
 * `width` and `height`, frames are stretched to exactly that size. The output
 * keeps the input's source, seq, time and discontinuity mark (so it joins
 * back with the full-size frames); a frame already at the target size passes
 * through as the same object (no copy). yuv420p frames (a decoder's `pixelFormat`) come out as
 * RGB24 (src/kernels/yuv.ts: at half the size, each pixel from its 2x2 luma and their chroma
 * sample, then resized when the target is smaller still; a larger one: the three planes resized
 * to it and converted there, yuvScaleToRgb). One frame in, one frame out, in
 * order; completion and errors pass straight through.
 *
 * ```ts
 * frames$.pipe(downsampleFrames({ longSidePx: 480 }))
 * frames$.pipe(downsampleFrames({ longSidePx: 480, width: 512, height: 256 }))   // stretched
 * ```
 */
import { map, type OperatorFunction } from 'rxjs';
import { fitLongSide, resizeRgb } from '../../kernels/image.ts';
import { yuvHalfToRgb, yuvScaleToRgb, yuvToRgb } from '../../kernels/yuv.ts';
import type { Frame } from '../../core/packet.ts';

export interface DownsampleOptions {
  /** Fit the longer side to this many pixels, keeping the aspect ratio (unless width and height are set). */
  readonly longSidePx: number;
  /** With height: an exact output size (stretched). */
  readonly width?: number | undefined;
  /** With width: an exact output size (stretched). */
  readonly height?: number | undefined;
}

export function downsampleFrames(o: DownsampleOptions): OperatorFunction<Frame, Frame> {
  const exact = o.width !== undefined && o.height !== undefined ? { width: o.width, height: o.height } : undefined;
  const target = (f: Frame) => exact ?? fitLongSide(f.width, f.height, o.longSidePx);
  return map((f): Frame => {
    const { width, height } = target(f);
    if (f.format === 'yuv420p') {
      // RGB24 out, always (a model's input): half the size straight from the planes; smaller, via half
      // size; larger, the planes resized to the target and converted there (~3x less work than
      // converting at full size and resizing the RGB).
      const { format: _f, matrix: _m, ...rest } = f;
      const m = f.matrix ?? 'bt601';
      const hw = f.width / 2, hh = f.height / 2;
      const data = hw === width && hh === height ? yuvHalfToRgb(f.data, f.width, f.height, m)
        : width <= hw && height <= hh ? resizeRgb(yuvHalfToRgb(f.data, f.width, f.height, m), hw, hh, width, height)
        : f.width === width && f.height === height ? yuvToRgb(f.data, f.width, f.height, m)
        : yuvScaleToRgb(f.data, f.width, f.height, width, height, m);
      return Object.freeze({ ...rest, width, height, data });
    }
    if (f.width === width && f.height === height) return f;
    return Object.freeze({ ...f, width, height, data: resizeRgb(f.data, f.width, f.height, width, height) });
  });
}
