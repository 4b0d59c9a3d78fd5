/**
 * decoder — reads a video file (or, with `url: true`, a URL) with ffmpeg and
 * emits RGB24 frames, or (`pixelFormat: yuv420p`) the video's own YUV 4:2:0
 * planes: no colour conversion here or in an encoder, half the bytes through
 * the pipes. Those frames carry `format: 'yuv420p'` and `matrix` (BT.709 where
 * the stream says so, else BT.601; limited range, full-range sources are
 * converted by ffmpeg), have even sides (an odd side loses a pixel: the frames
 * then carry `videoWidth`/`videoHeight`) and may go only to a downsampler,
 * an overlay, an encoder or a label-resizer (the graph loader checks).
 *
 * Ports: out `frame` (frame). Audio is ignored. Frames are the video as displayed: upright (rotation
 * metadata), in square pixels (a sample aspect ratio other than 1 is scaled out; src/media/ffmpeg.ts)
 * and deinterlaced (a stream whose field order says interlaced; one frame per frame). Each frame carries the source
 * (this node's name), its frame number in the video's timeline as `seq` (from 0) and `ptsMs = seq * 1000 / fps`;
 * the first carries `discontinuity: 'start'`, and every frame the file's frame rate (`fps`).
 * The frame number comes from the frame's own timestamp (ffmpeg's `showinfo` filter prints it on
 * stderr, `checksum=0`: no measurable cost), not from the order frames arrive in: frames the decoder
 * loses (a corrupt stretch of a local file: a jump of 1.5 frames or more in time, with ffmpeg
 * reporting damage within the 32 frames before; a jump without one is taken for an uneven rate
 * and numbered in order — except in an AVI, whose frame times are chunk numbers: there a jump is
 * the empty chunks a camera writes for frames it dropped) leave a gap in `seq` — the frames after it keep their numbers,
 * the first after it carries `discontinuity: 'gap'` (stateful nodes restart there), and the gap is
 * counted (`decoder_missing_frames_total`, and `decoder_gap_frames_total{first}` = its length, for the
 * first 100 gaps). A variable-frame-rate file (src/media/ffmpeg.ts `vfr`) has no such numbering:
 * its frames are numbered in order and `ptsMs` is each frame's own time. Reading pauses when the graph's
 * flow control says sinks are `maxInFlight` frames behind (lossless edges).
 * A file that is not a video, has no video stream, or ends before the frame
 * count its container declares (or, where it declares none, before its
 * duration: the last frame's time is compared, so variable frame rates pass)
 * is an InputError naming the file, and so is an ffmpeg that exits non-zero
 * or is killed (an OOM kill, a SIGKILL): frames delivered before that are
 * never taken for the whole file. A file input is opened as
 * `file:/absolute/path` with `-protocol_whitelist file,pipe` and a demuxer
 * whitelist (src/ffmpeg.ts: no playlists or concat scripts that would read
 * other files); only `url: true` lets a URL through. ffmpeg starts
 * when the node opens (unless `realtime`), its output held until the graph
 * reads it, so its start-up overlaps the model's loading.
 *
 * Options: `path` (required), `url` (path may be a URL; default false),
 * `maxFrames` (0 = all; in a file that lost frames, no frame numbered
 * `startFrame + maxFrames` or later comes out), `maxSidePx` (scale frames
 * whose longer side is larger down to it in ffmpeg, aspect ratio kept — a
 * preview size for the overlay, far cheaper than piping full-size RGB; frames
 * then carry `videoWidth`/`videoHeight`, the video's own size; 0 = full
 * size; scaled with swscale's `area` filter, a box average: no aliasing, and
 * ~0.6 s less CPU than its default bicubic on 221 frames of 1080p → 960x540),
 * `realtime` (read at the
 * native frame rate, like a camera; default false), `chunkFrames` (mark
 * `discontinuity: 'chunk'` every N frames, so stateful nodes restart there and
 * chunks can be segmented independently, e.g. by `process --dispatch`; 0 = off),
 * `startFrame` (begin at this frame with an ffmpeg seek: seq starts there and its
 * first frame carries `discontinuity: 'chunk'`; with `maxFrames`, one range of a
 * file, as a `process --queue` chunk job decodes it; the completeness check then
 * counts frames, or time, from there; 0 = from the start), `videoStream` (which video
 * stream of a file with several — a dual-channel dashcam's front and rear cameras as two
 * tracks — from 0, counted without cover pictures and timed thumbnails; default 0, the first.
 * Its size, rate, frame count and duration are what the checks above use; a stream the file
 * does not have is an InputError saying how many it has. `segflow process` notes a file's
 * other streams).
 *
 * ```yaml
 * decode: { type: decoder, options: { path: samples/road.mp4 } }
 * ```
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Observable } from 'rxjs';
import { z } from 'zod';
import { InputError } from '../src/core/errors.ts';
import { statSync } from 'node:fs';
import { ffmpegPaths, ffmpegSpawnOptions, inputSpec, looksLikeUrl, probe } from '../src/media/ffmpeg.ts';
import { FrameAssembler } from '../src/media/frame-assembler.ts';
import { fitLongSide } from '../src/kernels/image.ts';
import { yuvBytes } from '../src/kernels/yuv.ts';
import { defineNode } from '../src/core/node.ts';
import type { Frame } from '../src/core/packet.ts';

const options = z.strictObject({
  path: z.string().min(1).describe('input file (or URL, with url: true)'),
  url: z.boolean().default(false).describe('path may be a URL (http, rtmp, srt, hls, ...); off: a local file only, never parsed as an option or protocol'),
  maxFrames: z.number().int().min(0).default(0).describe('stop after this many frames (0 = all)'),
  maxPixels: z.number().int().min(1).default(36_000_000).describe('refuse videos whose frames exceed this many pixels (default: a little over 8K)'),
  maxSidePx: z.number().int().min(0).max(16384).default(0).describe("scale frames down so that the longer side is at most this many pixels (0 = the video's size)"),
  realtime: z.boolean().default(false).describe('read at the native frame rate (-re)'),
  chunkFrames: z.number().int().min(0).default(0).describe("mark a discontinuity ('chunk') every N frames (0 = off)"),
  startFrame: z.number().int().min(0).default(0).describe('first frame to decode (an ffmpeg seek; 0 = from the start)'),
  videoStream: z.number().int().min(0).default(0).describe("which video stream to decode, from 0, cover pictures not counted (a dual-channel dashcam's rear camera: 1)"),
  pixelFormat: z.enum(['rgb24', 'yuv420p']).default('rgb24')
    .describe('rgb24, or yuv420p: the video\'s own planes, no colour conversion (for frames that only go to a downsampler, an overlay and an encoder)'),
});

export const decoder = defineNode({
  type: 'decoder',
  description: 'Decode a video file or URL to RGB24 frames with ffmpeg',
  role: 'source',
  inputs: {},
  outputs: { frame: 'frame' },
  options,
  yuv: { emits: (o) => o.pixelFormat === 'yuv420p' },
  async open(ctx) {
    const o = ctx.options;
    ffmpegPaths();
    const isUrl = o.url && looksLikeUrl(o.path);
    if (!isUrl) {
      let st;
      try {
        st = statSync(o.path);
      } catch {
        throw new InputError(`${o.path}: no such file${looksLikeUrl(o.path) ? ' (a URL needs the decoder option url: true)' : ''}`, o.path);
      }
      if (!st.isFile() && !st.isFIFO()) throw new InputError(`${o.path}: not a regular file; expected a video file`, o.path);
    }
    const spec = inputSpec(o.path, { url: o.url });
    // The CLI probed this file already (src/ffmpeg.ts keeps the answer): no second ffprobe.
    const info = await probe(o.path, undefined, { url: o.url, videoStream: o.videoStream, option: `${ctx.name}.videoStream` });
    // A frame is width*height*3 bytes held per packet in flight: bound it before allocating anything.
    if (info.width * info.height > o.maxPixels) {
      throw new InputError(`${o.path}: frames are ${info.width}x${info.height} (${info.width * info.height} pixels); expected at most ${o.maxPixels} (decoder option maxPixels)`, o.path);
    }
    // Output size: the video's, or scaled down to maxSidePx on the longer side (a preview).
    const fitted = o.maxSidePx > 0 && Math.max(info.width, info.height) > o.maxSidePx;
    const size = fitted ? fitLongSide(info.width, info.height, o.maxSidePx) : info;
    // yuv420p holds 2x2 pixels per chroma sample: an odd side loses its last pixel (scaled to fit).
    const yuv = o.pixelFormat === 'yuv420p';
    const width = yuv ? Math.max(2, size.width & ~1) : size.width, height = yuv ? Math.max(2, size.height & ~1) : size.height;
    const scaled = fitted || width !== info.width || height !== info.height;
    // The video's coefficients (swscale's `auto` reads the same tag): BT.709 where it says so, else BT.601.
    const matrix = info.colorSpace === 'bt709' ? 'bt709' as const : 'bt601' as const;
    let cmd: ChildProcess | undefined;
    let closed = false;
    /** Seconds skipped by the `startFrame` seek: ffmpeg's output time (progress) starts at 0 after it. */
    const startS = o.startFrame / info.fps;
    const from = o.startFrame > 0 ? ` from frame ${o.startFrame}` : '';
    /** Why `frames` decoded from `startFrame` (ending at `timeS`) are not the whole file (or range), or undefined when they are. */
    const completeness = (frames: number, timeS: number | undefined): string | undefined => {
      const left = info.frames !== undefined ? Math.max(0, info.frames - o.startFrame) : undefined;
      if (o.maxFrames > 0) {
        const expected = Math.min(o.maxFrames, left ?? Infinity);
        return Number.isFinite(expected) && frames < expected - 1 ? `decoded ${frames} of ${expected} frames${from}` : undefined;
      }
      // Containers round their frame counts; a real truncation loses far more than one frame.
      if (left !== undefined) return frames < left - 1 ? `decoded ${frames} of ${left} frames${from}` : undefined;
      if (isUrl || o.realtime || !info.durationS) return undefined;
      // No frame count (Matroska, MPEG-TS): the decoded part must reach the declared duration. Time,
      // not frames × rate, so variable frame rates pass; slack for audio longer than video.
      const slackS = Math.max(1, 0.02 * info.durationS);
      const reached = startS + (timeS ?? frames / info.fps);
      if (reached < info.durationS - slackS) return `decoded ${frames} frames${from} up to ${reached.toFixed(2)} s of ${info.durationS.toFixed(2)} s`;
      return undefined;
    };
    /**
     * One ffmpeg, spawned directly (no fluent-ffmpeg: its capability checks — `ffmpeg -formats`,
     * `ffmpeg -encoders` — and the extra ffprobe its progress events run cost ~0.3 s of CPU and
     * ~1 s of wall time before the first frame); its stdout is not read until a subscriber
     * reads it, and an error before then is kept.
     */
    const start = () => {
      const st = {
        stderrTail: [] as string[], taken: false,
        /** How ffmpeg ended: undefined while it runs, null for exit 0, else the error (non-zero exit, signal). */
        exit: undefined as Error | null | undefined,
        /** The output time ffmpeg last reported (s): the end of the last frame written. */
        timeS: undefined as number | undefined,
        onExit: undefined as (() => void) | undefined,
        /** ffmpeg was spawned (otherwise its stdout never ends: an error is final at once). */
        started: false,
        /** Chunks read before a subscriber took them (see `out` below). */
        held: [] as Buffer[],
        /** The subscriber's reader of stdout's chunks, once there is one. */
        onData: undefined as ((chunk: Buffer) => void) | undefined,
        /** stdout ended (every chunk read: handed on or held). */
        streamEnded: false,
        onEnd: undefined as (() => void) | undefined,
        /** Frame times (s, ffmpeg's output time; NaN: none) from showinfo, not yet paired with a frame. */
        pts: [] as number[],
        /** For each of `pts`: whether ffmpeg reported damage (a corrupt packet, a decoding error) within the 32 frames before it. */
        damaged: [] as boolean[],
        /** showinfo lines seen; the count when ffmpeg last reported damage. */
        seen: 0,
        damageAt: -Infinity,
        onPts: undefined as (() => void) | undefined,
      };
      const args = [
        '-hide_banner', '-nostdin', ...spec.options, ...(o.realtime ? ['-re'] : []),
        // Half a frame before the wanted frame's timestamp: accurate seeking drops every earlier frame.
        ...(o.startFrame > 0 ? ['-ss', ((o.startFrame - 0.5) / info.fps).toFixed(6)] : []),
        '-i', spec.source, '-an',
        // The probed stream by its index among all streams (`videoStream` counts video streams without
        // cover pictures and timed thumbnails: the stream index is the one probe described, whatever `V:n` counts).
        // Scale to the probed size: a stream whose resolution changes mid-way keeps its first size (frames stay constant).
        // A preview (maxSidePx) is a downscale: `area` averages the pixels each output pixel covers.
        // Interlaced video (camcorders' 1080i .mts) is deinterlaced first, one frame per frame (bwdif), as
        // a player shows it: no combing in the model's input or the overlay.
        // showinfo (last, after any filter that could change the frames) prints each frame's timestamp.
        '-map', `0:${info.streamIndex}`, '-vf', `${info.interlaced ? 'bwdif=mode=send_frame:deint=interlaced,' : ''}scale=${width}:${height}${scaled ? ':flags=area' : ''}${yuv ? ':out_range=tv' : ''},showinfo=checksum=0`, '-f', 'rawvideo', '-pix_fmt', o.pixelFormat, '-vsync', 'passthrough', '-sn', '-dn',
        ...(o.maxFrames > 0 ? ['-frames:v', String(o.maxFrames)] : []),
        'pipe:1',
      ];
      const c = spawn(ffmpegPaths().ffmpeg, args, { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true, ...ffmpegSpawnOptions() });
      cmd = c;
      st.started = c.pid !== undefined;
      let exitErr: Error | null | undefined;
      let stderrClosed = false;
      /** ffmpeg's end is known once it exited and its stderr (the last lines, the time reached) is read. */
      const ended = () => {
        if (exitErr === undefined || !stderrClosed || st.exit !== undefined) return;
        st.exit = exitErr;
        st.onExit?.();
      };
      let partial = '';
      c.stderr!.setEncoding('utf8');
      c.stderr!.on('data', (text: string) => {
        const lines = (partial + text).split(/\r\n|\r|\n/);
        partial = lines.pop()!;
        for (const line of lines) onLine(line);
      });
      c.stderr!.on('close', () => {
        if (partial) onLine(partial);
        stderrClosed = true;
        ended();
      });
      const onLine = (line: string) => {
        if (!line) return;
        if (line.includes('Parsed_showinfo_')) {
          // One line a frame (`n: 0 pts: 0 pts_time:0 ...`), written before the frame to stdout; its
          // other lines (time base, side data, colour) are of no use here.
          const m = /\] n:\s*\d+\s+pts:\s*\S+\s+pts_time:\s*(\S+)/.exec(line);
          if (m) {
            st.pts.push(Number(m[1]));
            st.damaged.push(st.seen++ - st.damageAt <= 32);
            st.onPts?.();
          }
          return;
        }
        // Damage (in the order ffmpeg met it: the demuxer reads, and frame threads decode, a few frames ahead).
        if (/corrupt|error|invalid|conceal|missing|non-existing|truncat|continuity/i.test(line)) st.damageAt = st.seen;
        st.stderrTail.push(line);
        if (st.stderrTail.length > 20) st.stderrTail = st.stderrTail.slice(-10);
        const t = /\btime=\s*(\S+)/.exec(line);
        const s = t ? seconds(t[1]) : undefined;
        if (s !== undefined) st.timeS = s;
      };
      c.on('error', (err: Error) => {
        // Not spawned (no such binary): nothing more will come.
        if (!st.started) {
          stderrClosed = true;
          exitErr ??= err;
          ended();
        }
      });
      c.on('exit', (code, signal) => {
        // The same wording as fluent-ffmpeg's (callers and tests read it).
        exitErr = signal ? new Error(`ffmpeg was killed with signal ${signal}`)
          : code ? new Error(`ffmpeg exited with code ${code}: ${lastError(st.stderrTail)}`)
          : null;
        ended();
      });
      // Nothing is read until a subscriber asks: ffmpeg waits on the full pipe. The reader is
      // attached now all the same: when ffmpeg exits, Node resumes every stdio stream of the child
      // (child_process' flushStdio, "one last chance to consume the output") whether or not anyone
      // reads it, and a short clip's frames, all in the pipe by then, would go nowhere and 'end'
      // pass before the graph subscribed: no frames, no end, a job that never finished. A chunk
      // read before the subscriber is held (and the stream paused again, so at most what was in the
      // pipe is held) until the subscriber takes it.
      const out = c.stdout!;
      out.pause();
      out.on('data', (chunk: Buffer) => {
        if (st.onData) return st.onData(chunk);
        st.held.push(chunk);
        out.pause();
      });
      out.on('end', () => {
        st.streamEnded = true;
        st.onEnd?.();
      });
      return { c, out, st };
    };
    // Started now rather than at the first subscription, so ffmpeg's start-up and first frames
    // overlap the other nodes' opening (loading the model takes longer). Not for `realtime`,
    // whose pacing starts with ffmpeg.
    let early = o.realtime ? undefined : start();
    return {
      process() {
        const frame$ = new Observable<Frame>((sub) => {
          const asm = new FrameAssembler(yuv ? yuvBytes(width, height) : width * height * 3);
          /** The last frame number emitted; frames emitted. */
          let seq = o.startFrame - 1;
          /** The last frame's time in frames (from its timestamp). */
          let pos = o.startFrame - 1;
          let count = 0;
          let gaps = 0;
          /** Frames read whose timestamp has not come yet on stderr (it comes first: rarely more than one). */
          const waiting: Uint8Array[] = [];
          /** Timestamps given up on (more than 16 frames without one): numbered in order from there. */
          let inOrder = false;
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
              // Frames lost in the middle do not make a file short: how far its timeline reached does — the
              // last frame's number, or its time (frames that decode to nothing, as the empty "dropped frame"
              // chunks a dashcam writes into an AVI, skip time without damage: numbered in order, no truncation).
              const reached = timeline && Number.isFinite(pos) ? Math.round(pos) + 1 - o.startFrame : 0;
              const decoded = info.vfr ? count : Math.max(count, seq + 1 - o.startFrame, reached);
              const bad = completeness(decoded, st.timeS);
              if (bad) return sub.error(new InputError(`${o.path}: truncated or corrupt: ${bad}${tail(st.stderrTail)}`, o.path));
              if (count === 0) return sub.error(new InputError(`${o.path}: no frames could be decoded${from}${tail(st.stderrTail)}`, o.path));
            }
            sub.complete();
          };
          const stop = () => {
            c.kill('SIGTERM');
            setTimeout(() => c.kill('SIGKILL'), 2000).unref();
            finish();
          };
          ctx.signal.addEventListener('abort', stop, { once: true });
          /** Done only when both the frames are read and ffmpeg has said how it ended. */
          const settle = () => {
            if (finished || st.exit === undefined || (!st.streamEnded && !(st.exit && !st.started))) return;
            drain(true); // stderr is read to its end: every timestamp there will be is here
            if (finished) return;
            if (st.exit === null || ctx.signal.aborted || closed) return finish();
            const why = st.exit.message.split('\n')[0]!;
            // Not one frame and ffmpeg gave up by itself (not killed): the stream holds no frame it can decode.
            if (count === 0 && !st.exit.message.includes('killed')) {
              return finish(new InputError(`${o.path}: no frames could be decoded${from}: the video stream is empty or unreadable (${why}${tail(st.stderrTail).replace(/^ \((.*)\)$/, '; $1')})`, o.path));
            }
            finish(new InputError(`${o.path}: ffmpeg failed after ${count} frames${from}: ${why}${tail(st.stderrTail)}`, o.path));
          };
          /** Frames numbered by their timestamps: a local file's at a constant rate (a network stream's times may jump). */
          const timeline = !info.vfr && !isUrl;
          /**
           * An AVI's frame times are its chunks' numbers: a jump is the empty chunks a camera writes for frames it
           * dropped (no rate is uneven in AVI). Their numbers are kept as a gap, which the encoder fills with the
           * frame before: the overlay keeps the audio's time.
           */
          const avi = info.container === 'avi';
          /** With `maxFrames`, the range of frame numbers this decoder covers (a `process --queue` chunk: no overlap with the next one). */
          const endFrame = o.maxFrames > 0 ? o.startFrame + o.maxFrames : Infinity;
          /** ffmpeg's output time 0 is the seek point (`-ss`) after the file's start; the video may start later than the file. */
          const offsetS = (o.startFrame > 0 ? (o.startFrame - 0.5) / info.fps : 0) - (info.videoStartS ?? 0);
          const emit = (data: Uint8Array, t: number, damaged: boolean) => {
            const first = count === 0;
            const prev = seq;
            // The frame's number in the video's timeline (constant rate): the next number, unless its time is
            // at least 1.5 frames after the frame before and ffmpeg reported damage just before (frames lost
            // between: a file whose frames are simply uneven, its rate not told by its container, is numbered
            // in order), never before the one before. Timestamps that wobble (a camera's) by less than half a
            // frame neither open a gap nor drift (nor does a first frame a little after the probed start).
            const at = (t + offsetS) * info.fps;
            if (timeline && Number.isFinite(t) && at - pos >= 1.5 && (damaged || avi)) seq = Math.max(seq + 1, Math.round(at));
            else seq++;
            pos = Number.isFinite(at) ? at : pos + 1;
            const ptsMs = info.vfr && Number.isFinite(t) ? (t + offsetS) * 1000 : (seq * 1000) / info.fps;
            if (seq >= endFrame) {
              seq = prev; // past the range (frames were lost in it: ffmpeg's -frames:v counts frames)
              return;
            }
            const missing = seq - prev - 1;
            if (missing > 0) {
              ctx.flow.skipped(prev + 1, seq - 1);
              ctx.metrics.count('decoder_missing_frames_total', { node: ctx.name }, missing, 'Frames of a video the decoder could not decode (a corrupt stretch): their numbers are left out.');
              if (gaps++ < 100) ctx.metrics.count('decoder_gap_frames_total', { node: ctx.name, first: String(prev + 1) }, missing, 'Frames missing from the video, by the number of the first (the first 100 gaps).');
            }
            count++;
            const chunk = o.chunkFrames > 0 && !first && Math.floor(seq / o.chunkFrames) !== Math.floor(prev / o.chunkFrames);
            const f: Frame = Object.freeze({
              kind: 'frame', source: ctx.name, seq, ptsMs,
              width, height, data, fps: info.fps, ...(info.vfr ? { vfr: true } : {}), ...(yuv ? { format: 'yuv420p' as const, matrix } : {}),
              ...(scaled ? { videoWidth: info.width, videoHeight: info.height } : {}),
              discontinuity: first ? (o.startFrame > 0 ? 'chunk' : 'start') : chunk ? 'chunk' : missing > 0 ? 'gap' : undefined,
            });
            ctx.flow.emitted(seq);
            sub.next(f);
          };
          /** Frames out as their timestamps come; at the end (`final`) any left without one go in order. */
          const drain = (final = false) => {
            while (waiting.length && !finished) {
              const t = st.pts.shift();
              const damaged = st.damaged.shift() ?? false;
              if (t === undefined && !final && !inOrder) return;
              emit(waiting.shift()!, inOrder ? NaN : t ?? NaN, damaged);
            }
          };
          const onData = (chunk: Buffer) => {
            asm.push(chunk, (data) => {
              waiting.push(data);
              if (!st.pts.length && waiting.length > 16) inOrder = true; // no timestamps coming (never seen)
              drain();
            });
            if (ctx.flow.blocked && !out.isPaused()) {
              out.pause();
              void ctx.flow.ready().then(() => out.resume());
            }
          };
          // Frames go out from the next turn of the event loop, never during subscribe(): the runner
          // shares this output, and its other consumers subscribe right after the first. Chunks read
          // before now first, in order; then ffmpeg's end, if it came already.
          const begin = setImmediate(() => {
            st.onExit = settle;
            st.onEnd = settle;
            st.onData = onData;
            st.onPts = () => drain();
            for (const chunk of st.held.splice(0)) onData(chunk);
            settle();
            // The held chunks may have used up the credit: resume only when the flow allows.
            if (ctx.flow.blocked) void ctx.flow.ready().then(() => out.resume());
            else out.resume();
          });
          return () => {
            clearImmediate(begin);
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

/** `HH:MM:SS.ss` → seconds. */
function seconds(timemark: string | undefined): number | undefined {
  const m = /^(-?)(\d+):(\d+):(\d+(?:\.\d+)?)$/.exec(timemark ?? '');
  if (!m) return undefined;
  return (m[1] ? -1 : 1) * (Number(m[2]) * 3600 + Number(m[3]) * 60 + Number(m[4]));
}

/** The last of ffmpeg's own messages (not a stream description or a `[demuxer @ ...]` line). */
function lastError(lines: string[]): string {
  const own = lines.filter((l) => l.trim() && !l.startsWith(' ') && !l.startsWith('[') && !/^(frame|size)=/.test(l.trim()));
  return own[own.length - 1]?.trim() ?? '';
}

function tail(lines: string[]): string {
  const errs = lines.filter((l) => /error|invalid|corrupt|truncat|partial|moov/i.test(l));
  return errs.length ? ` (ffmpeg: ${errs.slice(-1)[0]!.trim()})` : '';
}
