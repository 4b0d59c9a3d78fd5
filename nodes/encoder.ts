/**
 * encoder — writes frames to an H.264 mp4 with ffmpeg (libx264, yuv420p).
 *
 * Ports: in `frame`; sink. Frame rate: `fps`, or (0) the source's nominal rate
 * carried on the frames (a file's), else the rate of the incoming timestamps,
 * so the output has the input's frame count and rate. Frames a decoder lost
 * (the first frame after them marked `discontinuity: 'gap'`, its seq past the
 * last one's) are filled with the frame before them (those lost before the
 * first frame, its seq past 0, with the first), so every later frame keeps
 * its time. Frames of a variable-frame-rate file (`vfr`, with `fps` 0) keep
 * their own times (`ptsMs`, from the first frame's; within 0.1 ms): they reach
 * ffmpeg as a Matroska stream with timestamps (src/media/raw-mkv.ts) rather
 * than a raw pipe at one rate. The file is
 * written as `<name>.partial.mp4` and renamed when complete (`finish()`); on interrupt the
 * partial file is finalised (playable) and renamed (`onInterrupt: finalize`)
 * or deleted (`discard`). An existing output is an error unless `overwrite`;
 * anything but a regular file under that name (a folder, a link, a device) is
 * refused even with `overwrite`, and never deleted (src/output.ts). ffmpeg is
 * given `file:/absolute/path`, so no name is read as an option or protocol.
 * With `audioFrom` (a file, usually the decoder's input), that file's first
 * audio stream is copied into the mp4 as it is (no re-encode: ffmpeg takes the
 * file as a second input, `-map 0:v -map 1:a:0 -c:a copy`); a codec mp4 cannot
 * hold (PCM, Vorbis, ...) is re-encoded to AAC 128 kb/s; a file without audio
 * gives a video-only mp4; audio that would run past the video (the file's
 * audio ends before the file's video, but after the frames encoded: the
 * decoder's `maxFrames`) is cut at the video's end (src/media/audio.ts). Frames are RGB24 or yuv420p (a decoder's
 * `pixelFormat`, through an overlay: x264's own format, piped as it is, half the bytes and no
 * colour conversion).
 *
 * ```yaml
 * file: { type: encoder, options: { path: out/overlay.mp4 }, in: { frame: overlay.frame } }
 * ```
 */
import { concatMap } from 'rxjs';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { defineNode } from '../src/core/node.ts';
import { InputError } from '../src/core/errors.ts';
import { looksLikeUrl } from '../src/media/ffmpeg.ts';
import { commitOutput, discardOutput, prepareOutput } from '../src/media/output.ts';
import type { Frame, PacketMeta } from '../src/core/packet.ts';
import { FfmpegWriter } from '../src/media/pipe-writer.ts';
import { serial } from '../src/core/runtime/queue.ts';
import { audioArgs, cutAudio } from '../src/media/audio.ts';
import { mkvFrameHeader, mkvHeader } from '../src/media/raw-mkv.ts';

const options = z.strictObject({
  // Always written as MP4 (`-f mp4`): another extension (.avi, .mkv, .gif) would name an MP4 falsely.
  path: z.string().min(1).refine((p) => /(^|[/\\])[^/\\.]*$|\.(mp4|m4v)$/i.test(p), { message: 'expected an .mp4 path (the encoder writes H.264 in MP4, whatever the extension)' }).describe('output .mp4 path'),
  fps: z.number().min(0).max(1000).default(0).describe('frames per second (0 = from input timestamps)'),
  crf: z.number().int().min(0).max(51).default(23).describe('x264 constant rate factor'),
  preset: z.enum(['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium']).default('veryfast'),
  audioFrom: z.string().default('').describe("copy this file's audio into the mp4 ('' = no audio)"),
  overwrite: z.boolean().default(false).describe('replace an existing output'),
  onInterrupt: z.enum(['finalize', 'discard']).default('finalize').describe('what a stopped run leaves'),
});

export const encoder = defineNode({
  type: 'encoder',
  description: 'Encode frames to an H.264 mp4',
  role: 'sink',
  inputs: { frame: 'frame' },
  outputs: {},
  options,
  yuv: { takes: ['frame'] },
  async open(ctx) {
    const o = ctx.options;
    // A missing audioFrom file (a typo) gave a video without audio and exit 0; a URL is left to ffprobe.
    if (o.audioFrom && !looksLikeUrl(o.audioFrom) && !existsSync(o.audioFrom)) throw new InputError(`${o.audioFrom}: no such file (${ctx.name}.audioFrom: the file whose audio goes into ${o.path})`, o.audioFrom);
    const tmp = await prepareOutput(o.path, o.overwrite, ctx.name);
    const audio: { input: string[]; output: string[]; endS?: number } = o.audioFrom ? await audioArgs(o.audioFrom) : { input: [], output: [] };
    let writer: FfmpegWriter | undefined;
    let first: Frame | undefined;
    let size = '';
    let format = '';
    /** Frames at one rate on a raw pipe, or (a variable rate) each at its own time in Matroska. */
    let timed = false;
    let rate = 0;
    /** The last frame written; frames written (fills included); the first frame's time and the last one's from it (ms). */
    let last: Frame | undefined;
    let written = 0;
    let t0 = 0;
    let lastMs = -1;
    let header: Buffer | undefined;
    const start = (f: Frame, fps: number) => {
      size = `${f.width}x${f.height}`;
      rate = fps;
      timed = f.vfr === true && o.fps === 0;
      t0 = f.ptsMs;
      format = f.format ?? 'rgb24';
      header = timed ? mkvHeader(f.width, f.height, format === 'yuv420p' ? 'yuv420p' : 'rgb24') : undefined;
      // yuv420p frames are what x264 takes: no conversion (tagged with their coefficients).
      const yuv = format === 'yuv420p' ? ['-colorspace', f.matrix === 'bt709' ? 'bt709' : 'smpte170m', '-color_range', 'tv'] : [];
      writer = new FfmpegWriter([
        ...(timed ? ['-f', 'matroska'] : ['-f', 'rawvideo', '-pix_fmt', format, '-s', size, '-r', String(fps)]), '-i', 'pipe:0', ...audio.input,
        '-map', '0:v:0', ...audio.output, ...(timed ? ['-vsync', 'passthrough', '-enc_time_base', '-1'] : []),
        '-vf', 'pad=ceil(iw/2)*2:ceil(ih/2)*2', '-c:v', 'libx264', '-preset', o.preset, '-crf', String(o.crf), ...yuv,
        '-pix_fmt', 'yuv420p', '-movflags', '+faststart', '-f', 'mp4', '-y', `file:${path.resolve(tmp)}`,
      ], ctx.name, 3 * f.data.length); // up to 3 frames queued for ffmpeg before a write waits
    };
    const put = async (f: Frame) => {
      if ((f.format ?? 'rgb24') !== format) throw new Error(`${ctx.name}: pixel format changed from ${format} to ${f.format ?? 'rgb24'} at seq ${f.seq}; expected one format`);
      if (`${f.width}x${f.height}` !== size) throw new Error(`${ctx.name}: frame size changed from ${size} to ${f.width}x${f.height} at seq ${f.seq}; expected a constant size (put a downsampler before the encoder)`);
      if (header) {
        await writer!.write(header);
        header = undefined;
      }
      if (timed) {
        // Strictly increasing in the stream's 0.1 ms ticks (mp4 refuses two frames at one time).
        lastMs = Math.max(f.ptsMs - t0, lastMs + 0.1);
        await writer!.write(mkvFrameHeader(lastMs, f.data.length));
      } else if (last && f.discontinuity === 'gap' && f.seq > last.seq + 1) {
        for (let k = last.seq + 1; k < f.seq; k++, written++) await writer!.write(last.data);
      } else if (!last && f.discontinuity === 'start' && f.seq > 0) {
        // Lost before the first frame (a recording that starts mid-GOP): filled with it, so frame i is still at i's time (the audio's).
        for (let k = 0; k < f.seq; k++, written++) await writer!.write(f.data);
      }
      await writer!.write(f.data);
      written++;
      last = f;
    };
    const rateOf = (a: Frame, b: Frame) => {
      const dt = (b.ptsMs - a.ptsMs) / Math.max(1, b.seq - a.seq);
      return dt > 0 ? Math.round((1000 / dt) * 1000) / 1000 : 25;
    };
    return {
      // Finished frames, in order: the held first frame goes out with the second.
      process: ({ frame }) => frame.pipe(serial(ctx.queue('frame'), async (f): Promise<readonly Frame[] | undefined> => {
        if (!writer && o.fps === 0 && !first && !(f.fps! > 0)) {
          first = f; // no nominal rate: wait for a second timestamp to know it
          return undefined;
        }
        if (!writer) start(first ?? f, o.fps || (first ? rateOf(first, f) : f.fps!));
        const held = first;
        if (held) {
          await put(held);
          first = undefined;
        }
        await put(f);
        return held ? [held, f] : [f];
      }), concatMap((fs) => fs)),
      async finish(): Promise<readonly PacketMeta[]> {
        const held = first;
        if (held) {
          start(held, o.fps || 25);
          await put(held);
          first = undefined;
        }
        if (writer) {
          await writer.end();
          writer = undefined;
          // The video's end: the last frame's time plus one frame at the rate (timed), or the frames at the rate.
          const videoS = timed ? lastMs / 1000 + 1 / rate : written / rate;
          if (audio.endS !== undefined && videoS < audio.endS - 0.001 && !ctx.signal.aborted) await cutAudio(tmp, videoS);
          if (ctx.signal.aborted && o.onInterrupt === 'discard') discardOutput(tmp);
          else commitOutput(tmp, o.path, ctx.name);
        }
        return held ? [held] : [];
      },
      async close() {
        if (writer) {
          await writer.kill();
          writer = undefined;
        }
        discardOutput(tmp); // also the folders made for it, when nothing else is in them
      },
    };
  },
});
