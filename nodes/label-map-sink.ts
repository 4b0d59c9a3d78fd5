/**
 * label-map-sink — writes every label map as a lossless 8-bit grayscale PNG
 * whose pixel values are class ids (CamVid convention; `segflow eval` reads
 * them back), named `000000.png`, `000001.png`, ... in arrival order (the
 * frame's seq on lossless graphs).
 *
 * Ports: in `labels`; sink. PNGs are encoded by an ffmpeg child process into
 * `<dir>.partial/` and the folder is renamed to `dir` when complete. An
 * existing `dir` is replaced (with `overwrite`) only when it holds nothing but
 * files this node writes (`NNNNNN.png`, `classes.json`); any other folder,
 * file or link there is refused and never deleted. `%` in the path is taken
 * literally (escaped for ffmpeg's image2 pattern).
 *
 * ```yaml
 * masks: { type: label-map-sink, options: { dir: out/labels }, in: { labels: segment.labels } }
 * ```
 */
import { Observable } from 'rxjs';
import { z } from 'zod';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { defineNode } from '../src/node.ts';
import { commitOutput, discardOutput, prepareOutput } from '../src/output.ts';
import type { Labels, PacketMeta } from '../src/packet.ts';
import { FfmpegWriter } from '../src/pipe-writer.ts';
import { serial } from '../src/runtime/queue.ts';

/** What this node writes into its folder: only a folder of these is replaced. */
const OWNS = { kind: 'dir' as const, owns: (name: string) => /^\d{6,}\.png$/.test(name) || name === 'classes.json' };

const options = z.strictObject({
  dir: z.string().min(1).describe('output folder for the PNG files'),
  overwrite: z.boolean().default(false).describe('replace an existing folder'),
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
    await mkdir(tmp, { recursive: true });
    let writer: FfmpegWriter | undefined;
    let size = '';
    return {
      process: ({ labels }) => ({
        done: new Observable<PacketMeta>((sub) => {
          const s = labels!.pipe(serial(ctx.queue('labels'), async (l: Labels) => {
            const t0 = performance.now();
            if (!writer) {
              size = `${l.width}x${l.height}`;
              writer = new FfmpegWriter(['-f', 'rawvideo', '-pix_fmt', 'gray', '-s', size, '-i', 'pipe:0',
                '-start_number', '0', '-f', 'image2', '-c:v', 'png', '-pix_fmt', 'gray', '-y', `file:${path.resolve(tmp).replaceAll('%', '%%')}/%06d.png`], ctx.name);
            }
            if (`${l.width}x${l.height}` !== size) throw new Error(`${ctx.name}: label size changed from ${size} to ${l.width}x${l.height}; expected a constant size`);
            await writer.write(l.classes);
            ctx.stats.observe(performance.now() - t0);
            return l;
          })).subscribe({
            next: (l) => sub.next(l),
            error: (e) => sub.error(e),
            complete: async () => {
              try {
                await writer?.end();
                writer = undefined;
                if (ctx.signal.aborted && o.onInterrupt === 'discard') discardOutput(tmp);
                else commitOutput(tmp, o.dir, ctx.name, OWNS);
                sub.complete();
              } catch (e) {
                sub.error(e);
              }
            },
          });
          return () => s.unsubscribe();
        }),
      }),
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
