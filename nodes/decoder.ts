/**
 * decoder — reads any file or URL ffmpeg can open and emits RGB24 frames.
 *
 * Ports: out `frame` (frame). Audio is ignored. Each frame carries the source
 * (this node's name), a sequence number from 0 and `ptsMs = seq * 1000 / fps`;
 * the first carries `discontinuity: 'start'`, and every frame the file's frame rate (`fps`). Reading pauses when the graph's
 * flow control says sinks are `maxInFlight` frames behind (lossless edges).
 * A file that is not a video, has no video stream, or ends before the frame
 * count its container declares is an InputError naming the file. ffmpeg starts
 * when the node opens (unless `realtime`), its output held until the graph
 * reads it, so its start-up overlaps the model's loading.
 *
 * Options: `path` (required), `maxFrames` (0 = all), `realtime` (read at the
 * native frame rate, like a camera; default false), `chunkFrames` (mark
 * `discontinuity: 'chunk'` every N frames, so stateful nodes restart there and
 * chunks can be segmented independently, e.g. by `process --dispatch`; 0 = off),
 * `startFrame` (begin at this frame with an ffmpeg seek: seq starts there and its
 * first frame carries `discontinuity: 'chunk'`; with `maxFrames`, one range of a
 * file, as a `process --queue` chunk job decodes it; 0 = from the start).
 *
 * ```yaml
 * decode: { type: decoder, options: { path: samples/road.mp4 } }
 * ```
 */
import { Observable } from 'rxjs';
import ffmpeg from 'fluent-ffmpeg';
import { z } from 'zod';
import { InputError } from '../src/errors.ts';
import { ffmpegPaths, probe, warmCapabilities, type VideoInfo } from '../src/ffmpeg.ts';
import { FrameAssembler } from '../src/frame-assembler.ts';
import { defineNode } from '../src/node.ts';
import type { Frame } from '../src/packet.ts';

const options = z.strictObject({
  path: z.string().min(1).describe('input file or URL'),
  maxFrames: z.number().int().min(0).default(0).describe('stop after this many frames (0 = all)'),
  maxPixels: z.number().int().min(1).default(36_000_000).describe('refuse videos whose frames exceed this many pixels (default: a little over 8K)'),
  realtime: z.boolean().default(false).describe('read at the native frame rate (-re)'),
  chunkFrames: z.number().int().min(0).default(0).describe("mark a discontinuity ('chunk') every N frames (0 = off)"),
  startFrame: z.number().int().min(0).default(0).describe('first frame to decode (an ffmpeg seek; 0 = from the start)'),
});

export const decoder = defineNode({
  type: 'decoder',
  description: 'Decode a video file or URL to RGB24 frames with ffmpeg',
  role: 'source',
  inputs: {},
  outputs: { frame: 'frame' },
  options,
  async open(ctx) {
    const o = ctx.options;
    ffmpegPaths();
    const [info] = await Promise.all([probe(o.path), warmCapabilities()]) as [VideoInfo, void];
    // A frame is width*height*3 bytes held per packet in flight: bound it before allocating anything.
    if (info.width * info.height > o.maxPixels) {
      throw new InputError(`${o.path}: frames are ${info.width}x${info.height} (${info.width * info.height} pixels); expected at most ${o.maxPixels} (decoder option maxPixels)`, o.path);
    }
    let cmd: ffmpeg.FfmpegCommand | undefined;
    let closed = false;
    /** One ffmpeg, its stdout paused until a subscriber reads it; an error before then is kept. */
    const start = () => {
      const st = { stderrTail: [] as string[], early: undefined as Error | undefined, taken: false };
      const c = ffmpeg(o.path)
        .inputOptions(o.realtime ? ['-re'] : [])
        // Half a frame before the wanted frame's timestamp: accurate seeking drops every earlier frame.
        .inputOptions(o.startFrame > 0 ? ['-ss', ((o.startFrame - 0.5) / info.fps).toFixed(6)] : [])
        .noAudio()
        // Scale to the probed size: a stream whose resolution changes mid-way keeps its first size (frames stay constant).
        .outputOptions(['-map', '0:v:0', '-vf', `scale=${info.width}:${info.height}`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-vsync', 'passthrough', '-sn', '-dn'])
        .outputOptions(o.maxFrames > 0 ? ['-frames:v', String(o.maxFrames)] : [])
        .on('stderr', (line: string) => {
          st.stderrTail.push(line);
          if (st.stderrTail.length > 20) st.stderrTail = st.stderrTail.slice(-10);
        })
        .on('error', (err: Error) => {
          if (!st.taken) st.early = err;
        });
      cmd = c;
      const out = c.pipe() as import('node:stream').PassThrough;
      out.pause();
      return { c, out, st };
    };
    // Started now rather than at the first subscription, so ffmpeg's start-up and first frames
    // overlap the other nodes' opening (loading the model takes longer). Not for `realtime`,
    // whose pacing starts with ffmpeg.
    let early = o.realtime ? undefined : start();
    return {
      process() {
        const frame$ = new Observable<Frame>((sub) => {
          const asm = new FrameAssembler(info.width * info.height * 3);
          let seq = o.startFrame;
          let finished = false;
          const { c, out, st } = early ?? start();
          early = undefined;
          st.taken = true;
          const finish = (err?: Error) => {
            if (finished) return;
            finished = true;
            ctx.signal.removeEventListener('abort', stop);
            if (err && !ctx.signal.aborted) return sub.error(err);
            if (!ctx.signal.aborted) {
              const left = info.frames !== undefined ? info.frames - o.startFrame : undefined;
              const expected = o.maxFrames > 0 ? Math.min(o.maxFrames, left ?? Infinity) : left;
              const decoded = seq - o.startFrame;
              // Containers round their frame counts; a real truncation loses far more than one frame.
              if (expected !== undefined && decoded < expected - 1) {
                return sub.error(new InputError(`${o.path}: truncated or corrupt: decoded ${decoded} of ${expected} frames${o.startFrame ? ` from frame ${o.startFrame}` : ''}${tail(st.stderrTail)}`, o.path));
              }
              if (decoded === 0) return sub.error(new InputError(`${o.path}: no frames could be decoded${tail(st.stderrTail)}`, o.path));
            }
            sub.complete();
          };
          const stop = () => {
            c.kill('SIGTERM');
            setTimeout(() => c.kill('SIGKILL'), 2000).unref();
            finish();
          };
          ctx.signal.addEventListener('abort', stop, { once: true });
          const failed = (err: Error) => {
            if (ctx.signal.aborted || closed) return finish();
            finish(new InputError(`${o.path}: ffmpeg failed: ${err.message.split('\n')[0]}${tail(st.stderrTail)}`, o.path));
          };
          c.on('error', failed);
          c.on('end', () => {
            // 'end' can fire before the last stdout bytes are read; finish on the stream's end.
          });
          // An error from before this subscription is reported after the frames ffmpeg wrote before it.
          out.on('end', () => (st.early ? failed(st.early) : finish()));
          out.on('close', () => {
            if (st.early) failed(st.early);
          });
          out.on('data', (chunk: Buffer) => {
            asm.push(chunk, (data) => {
              const t0 = performance.now();
              const f: Frame = Object.freeze({
                kind: 'frame', source: ctx.name, seq, ptsMs: (seq * 1000) / info.fps,
                width: info.width, height: info.height, data, fps: info.fps,
                discontinuity: seq === 0 ? 'start' : seq === o.startFrame || (o.chunkFrames > 0 && seq % o.chunkFrames === 0) ? 'chunk' : undefined,
              });
              ctx.flow.emitted(seq);
              seq++;
              sub.next(f);
              ctx.stats.observe(performance.now() - t0);
            });
            if (ctx.flow.blocked && !out.isPaused()) {
              out.pause();
              void ctx.flow.ready().then(() => out.resume());
            }
          });
          out.resume();
          return () => {
            if (!finished) {
              finished = true;
              c.kill('SIGKILL');
            }
          };
        });
        return { frame: frame$ };
      },
      async close() {
        closed = true;
        cmd?.kill('SIGKILL');
      },
    };
  },
});

function tail(lines: string[]): string {
  const errs = lines.filter((l) => /error|invalid|corrupt|truncat|partial|moov/i.test(l));
  return errs.length ? ` (ffmpeg: ${errs.slice(-1)[0]!.trim()})` : '';
}
