/**
 * resizeLabelMaps — the label-resizer node's logic as a pure RxJS operator:
 * label maps from the model's size back to the video's size, with the
 * graph's palette.
 *
 * Input records hold a label map and, optionally, the frame it was computed
 * for (the decoder's frame, joined by seq). With `size: 'video'` each map is
 * resized nearest-neighbour with pixel centres aligned to the frame's size —
 * or to the video's own size (`videoWidth`/`videoHeight`) when the frame is a
 * preview — the exact inverse of the downsampler's resize
 * (src/kernels/image.ts resizeLabels), made when `classes` is first read (lazyResizedClasses:
 * consumers that work from the model's map never make it); a record without a frame, and
 * `size: 'model'`, keep the map's size. `palette` recolours classes by name
 * (applyPalette); a name that is not one of the map's classes is an error
 * naming the classes, sent down the stream. Scores stay at their own (1/8)
 * resolution. A map already at the size with its palette passes through as
 * the same object. The output keeps the label map's source, seq, time, path
 * and discontinuity mark. One record in, one map out, in order; completion
 * and errors pass straight through.
 *
 * ```ts
 * records$.pipe(resizeLabelMaps({ size: 'video', palette: { Road: [128, 64, 128] }, where: 'labels' }))   // records$: { labels, frame? }
 * ```
 */
import { defer, map, type OperatorFunction } from 'rxjs';
import { lazyResizedClasses } from '../../kernels/image.ts';
import type { Frame, Labels } from '../../core/packet.ts';

type Palette = Labels['palette'];

export interface ResizeLabelOptions {
  /** `video`: the frame's (or its video's) size; `model`: the label map's own. */
  readonly size: 'video' | 'model';
  /** Class name → colour, replacing the model's. */
  readonly palette: Readonly<Record<string, readonly [number, number, number]>>;
  /** Who is asking (a node name), for error messages. */
  readonly where: string;
}

/** The model's palette with the named classes recoloured; throws on an unknown name. */
export function applyPalette(names: readonly string[], base: Palette, custom: Readonly<Record<string, readonly [number, number, number]>>, where: string): Palette {
  const out = names.map((_, i) => base[i] ?? ([0, 0, 0] as const));
  for (const [name, c] of Object.entries(custom)) {
    const i = names.indexOf(name);
    if (i < 0) throw new TypeError(`${where}.options.palette: unknown class '${name}'; expected one of ${names.join(', ')}`);
    out[i] = c;
  }
  return Object.freeze(out.map((c) => Object.freeze([c[0], c[1], c[2]] as const)));
}

export function resizeLabelMaps(o: ResizeLabelOptions): OperatorFunction<{ readonly labels: Labels; readonly frame?: Frame | undefined }, Labels> {
  const custom = Object.keys(o.palette).length > 0;
  return (record$) => defer(() => {
    let last: { from: Palette; names: readonly string[]; to: Palette } | undefined;
    const recolour = (l: Labels): Palette => {
      if (!custom) return l.palette;
      if (last?.from !== l.palette || last.names !== l.classNames) last = { from: l.palette, names: l.classNames, to: applyPalette(l.classNames, l.palette, o.palette, o.where) };
      return last.to;
    };
    return record$.pipe(map(({ labels: l, frame }): Labels => {
      const f = o.size === 'model' ? undefined : frame;
      const palette = recolour(l);
      const w = o.size === 'video' && f ? f.videoWidth ?? f.width : l.width;
      const h = o.size === 'video' && f ? f.videoHeight ?? f.height : l.height;
      if (w === l.width && h === l.height && palette === l.palette) return l;
      if (w === l.width && h === l.height) return Object.freeze({ ...l, palette });
      // The video-size map is made when something reads `classes`; the overlay and the PNG writer work
      // from the model's map (src/kernels/image.ts labelsOf, src/media/png.ts grayPngOf) and never do.
      // Scores stay at their own (1/8) resolution: consumers scale them by their width.
      const { classes: src, ...rest } = l;
      const out = { ...rest, width: w, height: h, palette };
      lazyResizedClasses(out, src, l.width, l.height, w, h);
      return Object.freeze(out) as Labels;
    }));
  });
}
