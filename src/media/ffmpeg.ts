/**
 * Which ffmpeg/ffprobe to run, and probing inputs.
 *
 * Order: FFMPEG_PATH / FFPROBE_PATH, then a system binary on PATH, then the
 * static binaries that @ffmpeg-installer and @ffprobe-installer ship inside
 * npm, so a fresh machine with only Node needs nothing else.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, chmodSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import ffmpeg from 'fluent-ffmpeg';
import { InputError } from '../core/errors.ts';

const require = createRequire(import.meta.url);

function onPath(bin: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

function bundled(pkg: string): string | undefined {
  try {
    const p = (require(pkg) as { path: string }).path;
    try {
      accessSync(p, constants.X_OK);
    } catch {
      chmodSync(p, 0o755); // npm may skip the package's own chmod postinstall
    }
    return p;
  } catch {
    return undefined;
  }
}

let paths: { ffmpeg: string; ffprobe: string } | undefined;

export function ffmpegPaths(): { ffmpeg: string; ffprobe: string } {
  if (paths) return paths;
  const ff = process.env.FFMPEG_PATH || onPath('ffmpeg') || bundled('@ffmpeg-installer/ffmpeg');
  const fp = process.env.FFPROBE_PATH || onPath('ffprobe') || bundled('@ffprobe-installer/ffprobe');
  if (!ff || !fp) throw new Error('ffmpeg/ffprobe not found: set FFMPEG_PATH and FFPROBE_PATH, install ffmpeg, or reinstall the npm dependencies');
  ffmpeg.setFfmpegPath(ff);
  ffmpeg.setFfprobePath(fp);
  paths = { ffmpeg: ff, ffprobe: fp };
  return paths;
}

let capabilities: Promise<void> | undefined;
/**
 * fluent-ffmpeg checks a command's formats and codecs before running it: the first command of a
 * process waits for `ffmpeg -formats` and then `ffmpeg -encoders` (the answers are cached for the
 * process). Asking both at once, beside probing, takes ~150 ms off the start of the first decode.
 * Never rejects: a broken ffmpeg is reported by the command itself.
 */
export function warmCapabilities(): Promise<void> {
  ffmpegPaths();
  capabilities ??= Promise.all([
    new Promise<void>((resolve) => ffmpeg.getAvailableFormats(() => resolve())),
    new Promise<void>((resolve) => ffmpeg.getAvailableEncoders(() => resolve())),
  ]).then(() => undefined);
  return capabilities;
}

export interface VideoInfo {
  readonly width: number;
  readonly height: number;
  /** Frames per second (average rate). */
  readonly fps: number;
  /** Frame count from the container, when it says. */
  readonly frames?: number | undefined;
  readonly durationS?: number | undefined;
  readonly codec: string;
}

function rate(s: string | undefined): number {
  if (!s) return 0;
  const [a, b] = s.split('/').map(Number);
  return b ? a! / b : Number(a) || 0;
}

/**
 * Protocols a local file input may use. `file` for the file itself; nothing that reaches the
 * network (http, tcp, rtmp, ...), and no `concat:`/`subfile:`/`data:` that stitch other files in.
 */
export const FILE_PROTOCOLS = 'file,pipe';
/**
 * Demuxers a local file input may use: video containers and raw streams that read only the file
 * itself. Not playlists or scripts that open other files or URLs (hls, dash, concat, ffconcat,
 * image2 patterns, tee, lavfi, ...): a 100-byte "upload.mp4" holding an HLS playlist would read
 * any file the process can.
 */
export const FILE_FORMATS = [
  'mov', 'mp4', 'matroska', 'webm', 'avi', 'mpegts', 'mpeg', 'mpegvideo', 'flv', 'asf', 'h264', 'hevc',
  'm4v', 'ivf', 'nut', 'mxf', 'ogg', 'yuv4mpegpipe', 'mjpeg', 'gif', 'dv', 'rm', 'obu', 'av1',
].join(',');

/** Whether `s` is written as a URL (`scheme://...`). */
export function looksLikeUrl(s: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(s);
}

/**
 * How to hand an input to ffmpeg/ffprobe. A local file becomes `file:/absolute/path` (a name
 * starting with `-` is never read as an option, one with `:` never as a protocol) with the
 * protocol and demuxer whitelists; a URL (only where the caller is a URL source) is passed as is.
 */
export function inputSpec(input: string, o: { url?: boolean } = {}): { source: string; options: string[] } {
  if (o.url && looksLikeUrl(input)) return { source: input, options: [] };
  return { source: `file:${path.resolve(input)}`, options: ['-protocol_whitelist', FILE_PROTOCOLS, '-format_whitelist', FILE_FORMATS] };
}

/**
 * Probe a file (or, with `url`, a URL); throws InputError naming the input when it is not a
 * readable video. Files go through `inputSpec`'s whitelists.
 */
export function probe(input: string, timeoutMs = 20000, o: { url?: boolean } = {}): Promise<VideoInfo> {
  ffmpegPaths();
  const spec = inputSpec(input, o);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new InputError(`${input}: probing took longer than ${timeoutMs} ms`, input)), timeoutMs);
    ffmpeg.ffprobe(spec.source, spec.options, (err, data) => {
      clearTimeout(timer);
      if (err) {
        const text = String(err.message ?? err);
        const refused = /\[(\w+) @ [^\]]*\] Format not on whitelist/.exec(text);
        if (refused) return reject(new InputError(`${input}: its content is ${refused[1]} (a playlist or script that opens other files), which a file input may not be; expected a video file`, input));
        if (/Protocol '?[\w-]+'? not on whitelist/.test(text)) return reject(new InputError(`${input}: it refers to another protocol, which a file input may not use; expected a video file`, input));
        const msg = text.split('\n').filter((l) => l.trim() && !l.startsWith('ffprobe ')).pop() ?? 'unreadable';
        return reject(new InputError(`${input}: not a readable video (${msg.replace(/^.*?: /, '').trim()})`, input));
      }
      const v = data.streams.find((s) => s.codec_type === 'video');
      if (!v || !v.width || !v.height) return reject(new InputError(`${input}: no video stream (found ${data.streams.map((s) => s.codec_type).join(', ') || 'no streams'})`, input));
      const fps = rate(v.avg_frame_rate) || rate(v.r_frame_rate) || 25;
      const n = Number(v.nb_frames);
      // ffmpeg decodes a rotated stream (phones) upright: a quarter turn swaps width and height.
      const rot = Number((v as { rotation?: unknown }).rotation ?? v.tags?.rotate ?? 0);
      const quarter = Number.isFinite(rot) && Math.abs(rot) % 180 === 90;
      resolve({
        width: quarter ? v.height : v.width,
        height: quarter ? v.width : v.height,
        fps,
        frames: Number.isFinite(n) && n > 0 ? n : undefined,
        // Matroska and MPEG-TS give no stream duration ('N/A'): the container's then.
        durationS: Number(v.duration) || Number(data.format.duration) || undefined,
        codec: v.codec_name ?? 'unknown',
      });
    });
  });
}
