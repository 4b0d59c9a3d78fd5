/**
 * label-map-sink — writes every label map as a lossless 8-bit grayscale PNG
 * whose pixel values are class ids (CamVid convention; `segflow eval` reads
 * them back), named `000000.png`, `000001.png`, ... by the frame's number in
 * the video (its seq: a decoder's frame number, also in a range of a file that
 * starts with `discontinuity: 'chunk'`; from any other source counted from the first map's seq): frames
 * the decoder lost leave their numbers out, and the maps after them keep their
 * frames' numbers. A seq that does not advance (a source that numbered afresh)
 * takes the next number, so no map is ever written over.
 *
 * Ports: in `labels`; sink. PNGs are written into `<dir>.partial/` and the
 * folder is renamed to `dir` when complete (`finish()`). An
 * existing `dir` is replaced (with `overwrite`) only when it holds nothing but
 * files this node writes (`NNNNNN.png`, `classes.json`, `color/` of the same); any other folder,
 * file or link there is refused and never deleted. `%` in the path is taken
 * literally (escaped for ffmpeg's image2 pattern).
 * Beside the PNGs, `classes.json` says what the values mean: `{ format, width,
 * height, frames, classes: [{ id, name, color: [r, g, b] }] }`. With `color`,
 * the same ffmpeg also writes the maps in the palette's colours (RGB PNGs,
 * same names) into `<dir>/color/`, with its own `classes.json`. The class-id
 * PNGs are encoded in-process (src/media/png.ts: rows that repeat the one
 * above filtered `Up`, zlib's run-length strategy — or, for a label-resizer's
 * whole widening of the model's map, the same stream written from its runs,
 * src/media/png-deflate.ts — the deflate of maps over 1 MP
 * on libuv's thread pool, up to 3 maps at once): at 1920x1080 ~2.3 ms of CPU and ~5 KB a
 * map, where ffmpeg's PNG encoder took ~6 ms and ~20 KB. The colour masks are
 * encoded by an ffmpeg child process (`compressionLevel` applies to both). `classes.json` and the
 * colour filter are src/media/label-maps.ts.
 *
 * ```yaml
 * masks: { type: label-map-sink, options: { dir: out/labels }, in: { labels: segment.labels } }
 * ```
 */
import { z } from 'zod';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { writeFile as writeFileCb } from 'node:fs';
import { promisify } from 'node:util';
import path from 'node:path';
import { defineNode } from '../src/core/node.ts';
import { commitOutput, discardOutput, prepareOutput } from '../src/media/output.ts';
import type { Labels } from '../src/core/packet.ts';
import { FfmpegWriter } from '../src/media/pipe-writer.ts';
import { serial } from '../src/core/runtime/queue.ts';
import { labelPng } from '../src/media/png.ts';
import { classesJson, colourFilter } from '../src/media/label-maps.ts';

/** What this node writes into its folder: only a folder of these is replaced. */
const OWNS = { kind: 'dir' as const, owns: (name: string) => /^(color\/)?(\d{6,}\.png|classes\.json)$/.test(name) || name === 'color/' };

const options = z.strictObject({
  dir: z.string().min(1).describe('output folder for the PNG files'),
  overwrite: z.boolean().default(false).describe('replace an existing folder'),
  color: z.boolean().default(false).describe('also write colour masks (RGB PNGs in the palette) into <dir>/color/'),
  compressionLevel: z.number().int().min(0).max(9).default(1).describe('PNG zlib level, 0..9 (0 = stored; class-id maps come out the same size at 1..9)'),
  onInterrupt: z.enum(['finalize', 'discard']).default('finalize').describe('what a stopped run leaves'),
});

export const labelMapSink = defineNode({
  type: 'label-map-sink',
  description: 'Write class-id PNGs (lossless)',
  role: 'sink',
  inputs: { labels: 'labels' },
  outputs: {},
  options,
  async open(ctx) {
    const o = ctx.options;
    const tmp = await prepareOutput(o.dir, o.overwrite, ctx.name, OWNS);
    await mkdir(o.color ? path.join(tmp, 'color') : tmp, { recursive: true });
    let writer: FfmpegWriter | undefined; // colour masks only
    let size = '';
    let first: Labels | undefined;
    let frames = 0;
    /** seq of the map named 000000.png; the last number written. */
    let base: number | undefined;
    let last = -1;
    /** Colour masks (ffmpeg names them in arrival order) to rename to their frame's number: [arrival, number]. */
    const moves: [number, number][] = [];
    return {
      process: ({ labels }) => labels.pipe(serial(ctx.queue('labels'), async (l) => {
        // Up to 3 maps in flight: each one's rows are filtered at once (on this thread), deflated
        // on the thread pool and written; files are named by frame number (below).
        if (!size) {
          size = `${l.width}x${l.height}`;
          first = l;
          if (o.color) {
            writer = new FfmpegWriter(['-f', 'rawvideo', '-pix_fmt', 'gray', '-s', size, '-i', 'pipe:0',
              '-vf', colourFilter(l.palette), '-start_number', '0', '-f', 'image2', '-c:v', 'png', '-compression_level', String(o.compressionLevel),
              '-pix_fmt', 'rgb24', '-y', `file:${path.resolve(tmp, 'color').replaceAll('%', '%%')}/%06d.png`],
            ctx.name, 3 * l.classes.length); // up to 3 maps queued for ffmpeg before a write waits (as the encoder)
          }
        }
        if (`${l.width}x${l.height}` !== size) throw new Error(`${ctx.name}: label size changed from ${size} to ${l.width}x${l.height}; expected a constant size`);
        base ??= l.discontinuity === 'start' || l.discontinuity === 'chunk' ? 0 : l.seq;
        const n = l.seq - base > last ? l.seq - base : last + 1;
        if (o.color && n !== frames) moves.push([frames, n]);
        last = n;
        frames++;
        const file = path.join(tmp, `${String(n).padStart(6, '0')}.png`);
        // labelPng: a label-resizer's video-size map is encoded from the model's map (never made, unless the colour masks need it).
        await Promise.all([labelPng(l, o.compressionLevel).then((png) => writePng(file, png)), writer?.write(l.classes)]);
        return l;
      }, 3)),
      async finish() {
        await writer?.end();
        writer = undefined;
        // Last first: every number is at least its arrival number, and they increase, so none is taken yet.
        for (const [from, to] of moves.reverse()) {
          await rename(path.join(tmp, 'color', `${String(from).padStart(6, '0')}.png`), path.join(tmp, 'color', `${String(to).padStart(6, '0')}.png`));
        }
        if (first) {
          await writeFile(path.join(tmp, 'classes.json'), classesJson(first, frames, 'class id'));
          if (o.color) await writeFile(path.join(tmp, 'color', 'classes.json'), classesJson(first, frames, 'colour'));
        }
        if (ctx.signal.aborted && o.onInterrupt === 'discard') discardOutput(tmp);
        else commitOutput(tmp, o.dir, ctx.name, OWNS);
      },
      async close() {
        if (writer) {
          await writer.kill();
          writer = undefined;
        }
        discardOutput(tmp);
      },
    };
  },
});
/** One PNG, whole: fs.writeFile's open, write, close without a FileHandle per file (less CPU on this thread). */
const writePng = promisify(writeFileCb);
