/**
 * What label-map-sink writes beside its PNGs, per run, as pure functions: the
 * `classes.json` that says what the pixel values mean, and the ffmpeg filter
 * that turns class-id PNGs into the palette's colours.
 *
 * ```ts
 * await writeFile('out/classes.json', classesJson(firstLabels, frames, 'class id'));
 * ffmpegArgs.push('-vf', colourFilter(firstLabels.palette));
 * ```
 */
import type { Labels } from '../core/packet.ts';

/** What the PNGs' values mean, for a reader that has never seen segflow. */
export function classesJson(l: Labels, frames: number, pixel: 'class id' | 'colour'): string {
  const head = {
    format: pixel === 'class id'
      ? '8-bit grayscale PNG per frame (000000.png = the first frame); pixel value = class id'
      : 'RGB PNG per frame (000000.png = the first frame); pixel colour = the class colour',
    width: l.width,
    height: l.height,
    frames,
  };
  // One class a line: readable as it is, and still plain JSON.
  const classes = l.classNames.map((name, id) => '    ' + JSON.stringify({ id, name, color: [...(l.palette[id] ?? [0, 0, 0])] }));
  return JSON.stringify(head, null, 2).slice(0, -2) + ',\n  "classes": [\n' + classes.join(',\n') + '\n  ]\n}\n';
}

/** ffmpeg filter: gray class ids → the palette's colours (ids without a colour → black). */
export function colourFilter(palette: Labels['palette']): string {
  const channel = (ch: number) => palette.reduceRight((rest, c, id) => `if(eq(val\\,${id})\\,${c[ch]}\\,${rest})`, '0');
  return `format=rgb24,lutrgb=r=${channel(0)}:g=${channel(1)}:b=${channel(2)}`;
}
