/**
 * Which ffmpeg/ffprobe to run, and probing inputs.
 *
 * Order: FFMPEG_PATH / FFPROBE_PATH, then a system binary on PATH, then the
 * static binaries that @ffmpeg-installer and @ffprobe-installer ship inside
 * npm, so a fresh machine with only Node needs nothing else.
 */
import { spawn } from 'node:child_process';
import { accessSync, chmodSync, constants, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { InputError } from '../core/errors.ts';

const require = createRequire(import.meta.url);

/** `bin` on PATH, as `command -v` finds it (looked up here: no shell spawned for it). */
export function onPath(bin: string, pathVar = process.env.PATH ?? ''): string | undefined {
  for (const dir of pathVar.split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, bin);
    try {
      accessSync(p, constants.X_OK);
      if (statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return undefined;
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

/**
 * ffmpeg children in their own process group (set by `segflow worker`): a terminal's Ctrl-C goes to
 * the foreground group, and an ffmpeg in it stops at once (exit 255) and fails the job the worker
 * was told to finish (the first Ctrl-C) or to hand back (the second). Detached, they get the signal
 * only through the worker (which ends them as the graph stops); a worker killed outright still ends
 * them: their pipes close.
 */
let ownGroup = false;
export function ffmpegOwnProcessGroup(on = true): void {
  ownGroup = on;
}
/** Spawn options for an ffmpeg child (see ffmpegOwnProcessGroup). */
export function ffmpegSpawnOptions(): { detached?: true } {
  return ownGroup ? { detached: true } : {};
}

let paths: { ffmpeg: string; ffprobe: string } | undefined;

export function ffmpegPaths(): { ffmpeg: string; ffprobe: string } {
  if (paths) return paths;
  const ff = process.env.FFMPEG_PATH || onPath('ffmpeg') || bundled('@ffmpeg-installer/ffmpeg');
  const fp = process.env.FFPROBE_PATH || onPath('ffprobe') || bundled('@ffprobe-installer/ffprobe');
  if (!ff || !fp) throw new Error('ffmpeg/ffprobe not found: set FFMPEG_PATH and FFPROBE_PATH, install ffmpeg, or reinstall the npm dependencies');
  paths = { ffmpeg: ff, ffprobe: fp };
  return paths;
}


export interface VideoInfo {
  /** The size as displayed: upright (rotation metadata applied) and in square pixels (sample aspect ratio applied). */
  readonly width: number;
  readonly height: number;
  /** Frames per second (average rate). */
  readonly fps: number;
  /** Frame count from the container, when it says. */
  readonly frames?: number | undefined;
  readonly durationS?: number | undefined;
  readonly codec: string;
  /** The codec of the first audio stream (`-select_streams a:0`); undefined when there is none. */
  readonly audioCodec?: string | undefined;
  /** The video is interlaced (field order tt, bb, tb or bt): the decoder deinterlaces it. */
  readonly interlaced?: boolean | undefined;
  /** The first audio stream's duration (s), when the file says (Matroska: its DURATION tag). */
  readonly audioDurationS?: number | undefined;
  /** The video's YCbCr coefficients as the stream says (`bt709`, `smpte170m`, ...; undefined: unsaid). */
  readonly colorSpace?: string | undefined;
  /**
   * The frame rate varies: the average rate differs from the stream's base rate (`r_frame_rate`)
   * by more than 0.2 % (a phone's, a concatenation of rates). Frames are then not `n / fps` apart.
   */
  readonly vfr?: boolean | undefined;
  /**
   * Seconds from the file's start (ffmpeg's time 0, the earliest stream) to the video stream's
   * first frame: ffmpeg's frame times minus this are times in the video's own timeline. 0 when unknown.
   */
  readonly videoStartS?: number | undefined;
  /** ffprobe's name of the container format (`avi`, `mov,mp4,m4a,3gp,3g2,mj2`, `matroska,webm`, `mpegts`, ...). */
  readonly container?: string | undefined;
  /**
   * How many video streams the file has (a dual-channel dashcam's front and rear cameras: 2), cover
   * pictures and timed thumbnails not counted; this info is of stream `videoStream` of them (from 0).
   */
  readonly videoStreams: number;
  readonly videoStream: number;
  /**
   * The stream's index among all of the file's streams: the decoder maps `0:<streamIndex>`, this very
   * stream, whatever ffmpeg's own counting (`V:n` skips streams marked attached_pic; the timed
   * thumbnails of QuickTime chapter tracks carry that mark too, but the stream index needs no such reading).
   */
  readonly streamIndex: number;
}

/** A stream's duration (s): its own, or Matroska's `DURATION` tag (`HH:MM:SS.nnnnnnnnn`); undefined when neither says. */
function streamDuration(s: { duration?: unknown; tags?: Record<string, unknown> }): number | undefined {
  const d = Number(s.duration);
  if (Number.isFinite(d) && d > 0) return d;
  const m = /^(\d+):(\d+):(\d+(?:\.\d+)?)$/.exec(String(s.tags?.DURATION ?? s.tags?.duration ?? ''));
  return m ? Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) : undefined;
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

/** Demuxers refused for a file input because they read other files or URLs (the reason FILE_FORMATS is a list). */
const OPENS_OTHER_FILES = new Set(['hls', 'applehttp', 'dash', 'concat', 'ffconcat', 'sdp', 'rtsp', 'rtp', 'tee', 'lavfi', 'mpl2', 'webm_dash_manifest', 'imf', 'image2']);
/** Audio-only demuxers (a file input refused with "an audio file", not called a playlist). */
const AUDIO_FORMATS = new Set(['mp3', 'wav', 'w64', 'flac', 'aac', 'ac3', 'eac3', 'aiff', 'ape', 'amr', 'amrnb', 'amrwb', 'au', 'caf', 'dts', 'dtshd', 'truehd', 'mlp', 'tta', 'wv', 'mpc', 'mpc8', 'loas', 'gsm', 'voc', 'xwma', 'dsf', 'shn', 'tak', 'mp2']);

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

/** Probes of local files by path, size, time and inode: one ffprobe a file per process (most recent last); each of its video streams' info. */
const probes = new Map<string, Promise<VideoInfo[]>>();
/** Probes kept (a long-running queue worker sees many files). */
const PROBES_KEPT = 64;
/** How many ffprobe processes `probe` has started (tests check that a file is probed once). */
export let probesRun = 0;

/** A local regular file's cache key; undefined for a URL or anything that is not a regular file. */
function probeKey(input: string, o: { url?: boolean }): string | undefined {
  if (o.url && looksLikeUrl(input)) return undefined;
  try {
    const st = statSync(input);
    return st.isFile() ? `${path.resolve(input)}\0${st.size}\0${st.mtimeMs}\0${st.ino}` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Probe a file (or, with `url`, a URL); throws InputError naming the input when it is not a
 * readable video. Files go through `inputSpec`'s whitelists. A local file is probed once per
 * process while its size and modification time stay the same: the CLI, the decoder and the
 * encoder's audio copy all ask about the same input, and each ffprobe costs ~0.1 s of CPU and
 * up to ~0.8 s of wall time on a busy machine, on the path to the first frame.
 * The info is of video stream `videoStream` (default 0: the first), counted among the file's
 * video streams without cover pictures and timed thumbnails; one the file does not have is an
 * InputError saying how many it has (`option`, e.g. `decode.videoStream`, names what asked).
 */
export function probe(input: string, timeoutMs = 20000, o: { url?: boolean; videoStream?: number; option?: string } = {}): Promise<VideoInfo> {
  const n = o.videoStream ?? 0;
  return probeAll(input, timeoutMs, o).then((all) => {
    const info = all[n];
    if (info) return info;
    const has = `the file has ${all.length === 1 ? 'one video stream (0)' : `${all.length} video streams (${all.length === 2 ? '0 and 1' : `0 to ${all.length - 1}`})`}; cover pictures and thumbnails not counted`;
    throw new InputError(`${input}: ${o.option ? `${o.option} is ${n}, but ${has}` : `no video stream ${n}: ${has}`}`, input);
  });
}

/** Each real video stream's info (at least one), cached per local file (see `probe`). */
function probeAll(input: string, timeoutMs: number, o: { url?: boolean }): Promise<VideoInfo[]> {
  const key = probeKey(input, o);
  const hit = key === undefined ? undefined : probes.get(key);
  if (hit) {
    probes.delete(key!); // most recently used last
    probes.set(key!, hit);
    return hit;
  }
  const p = runProbe(input, timeoutMs, o);
  if (key !== undefined) {
    probes.set(key, p);
    while (probes.size > PROBES_KEPT) probes.delete(probes.keys().next().value!);
    p.catch(() => {
      if (probes.get(key) === p) probes.delete(key); // a failure is not kept: the next call asks again
    });
  }
  return p;
}

function runProbe(input: string, timeoutMs: number, o: { url?: boolean }): Promise<VideoInfo[]> {
  ffmpegPaths();
  probesRun++;
  const spec = inputSpec(input, o);
  return new Promise((resolve, reject) => {
    ffprobe(spec.source, spec.options, timeoutMs, (err, data) => {
      if (err === 'timeout') return reject(new InputError(`${input}: probing took longer than ${timeoutMs} ms`, input));
      if (err) {
        const text = String(err.message ?? err);
        // Killed by a signal: its stderr's last line (a banner line, often) says nothing of why.
        const killed = /^ffprobe exited with signal (SIG\w+)/.exec(text)?.[1];
        if (killed) {
          const crash = ['SIGSEGV', 'SIGBUS', 'SIGILL', 'SIGABRT', 'SIGFPE'].includes(killed);
          return reject(new InputError(crash
            ? `${input}: ffprobe (${ffmpegPaths().ffprobe}) crashed reading it (${killed}); another ffprobe may read it (a newer ffmpeg on PATH, or FFPROBE_PATH)`
            : `${input}: ffprobe was ended by ${killed} while reading it`, input));
        }
        const refused = /\[(\w+) @ [^\]]*\] Format not on whitelist/.exec(text);
        // A still image (image2 by its extension, `png_pipe`, `jpeg_pipe`, ... by its content) is not a playlist.
        if (refused && (refused[1] === 'image2' || refused[1]!.endsWith('_pipe'))) return reject(new InputError(`${input}: a still image (${refused[1] === 'image2' ? path.extname(input).slice(1).toLowerCase() || 'image' : refused[1]!.replace(/_pipe$/, '')}), not a video; expected a video file`, input));
        if (refused && AUDIO_FORMATS.has(refused[1]!)) return reject(new InputError(`${input}: an audio file (${refused[1]}), no video stream; expected a video file`, input));
        if (refused && OPENS_OTHER_FILES.has(refused[1]!)) return reject(new InputError(`${input}: its content is ${refused[1]} (a playlist or script that opens other files), which a file input may not be; expected a video file`, input));
        if (refused) return reject(new InputError(`${input}: its content is ${refused[1]}, not a video container segflow reads; expected a video file`, input));
        if (/Protocol '?[\w-]+'? not on whitelist/.test(text)) return reject(new InputError(`${input}: it refers to another protocol, which a file input may not use; expected a video file`, input));
        // An MP4/MOV whose index (written last) is missing: a dashcam's clip cut off by a power loss or a full
        // card, a recording still being written, an unfinished copy. ffprobe's last line says only "Invalid data".
        if (/moov atom not found/.test(text)) return reject(new InputError(`${input}: not a readable video (moov atom not found: the MP4/MOV's index, written when a recording ends, is missing — a recording cut off by a power loss or a full card, one still being written, or an unfinished copy)`, input));
        const msg = text.split('\n').filter((l) => l.trim() && !l.startsWith('ffprobe ')).pop() ?? 'unreadable';
        return reject(new InputError(`${input}: not a readable video (${msg.replace(/^.*?: /, '').trim()})`, input));
      }
      // A cover picture (an audio file's artwork, a thumbnail) is no video: the decoder maps the stream by its index.
      const cover = (s: (typeof data.streams)[number]) => s.codec_type === 'video' && (s.disposition?.attached_pic === 1 || (s.disposition as { timed_thumbnails?: number } | undefined)?.timed_thumbnails === 1);
      const videos = data.streams.filter((s) => s.codec_type === 'video' && !cover(s) && s.width && s.height);
      if (!videos.length) return reject(new InputError(`${input}: no video stream (found ${data.streams.map((s) => (cover(s) ? 'a cover picture' : s.codec_type)).join(', ') || 'no streams'})`, input));
      const audio = data.streams.find((s) => s.codec_type === 'audio');
      const fStart = Number(data.format.start_time);
      resolve(videos.map((v, i): VideoInfo => {
        const fps = rate(v.avg_frame_rate) || rate(v.r_frame_rate) || 25;
        const base = rate(v.r_frame_rate);
        const vStart = Number(v.start_time);
        const n = Number(v.nb_frames);
        // Non-square pixels (SAR ≠ 1: DV, DVD, HDV, anamorphic cameras): the size as displayed, square
        // pixels (the decoder scales to it), so the model, the overlay and the label maps see the picture
        // as a player shows it, not squeezed; widened (or made taller), never narrowed. SARs within 1% of
        // 1 (a scaler's rounding, e.g. 964:963 at 321x241) are square.
        const [sn, sd] = String(v.sample_aspect_ratio ?? '').split(':').map(Number);
        const sar = sn! > 0 && sd! > 0 && Math.abs(sn! / sd! - 1) >= 0.01 ? sn! / sd! : 1;
        const w = sar > 1 ? Math.round(v.width! * sar) : v.width!;
        const h = sar < 1 ? Math.round(v.height! / sar) : v.height!;
        // ffmpeg decodes a rotated stream (phones) upright: a quarter turn swaps width and height.
        const rot = Number((v as { rotation?: unknown }).rotation ?? v.tags?.rotate ?? 0);
        const quarter = Number.isFinite(rot) && Math.abs(rot) % 180 === 90;
        return {
          width: quarter ? h : w,
          height: quarter ? w : h,
          fps,
          frames: Number.isFinite(n) && n > 0 ? n : undefined,
          // Matroska gives no stream duration ('N/A') but its DURATION tag (written up front: a cut-off file keeps it);
          // MPEG-TS neither: the container's then. Not the container's first: audio that outlasts the video made
          // a whole Matroska video "truncated".
          durationS: streamDuration(v) || Number(data.format.duration) || undefined,
          codec: v.codec_name ?? 'unknown',
          interlaced: ['tt', 'bb', 'tb', 'bt'].includes(String((v as { field_order?: unknown }).field_order)) || undefined,
          audioCodec: audio?.codec_name || undefined,
          audioDurationS: audio ? streamDuration(audio) : undefined,
          colorSpace: v.color_space && v.color_space !== 'unknown' ? String(v.color_space) : undefined,
          vfr: base > 0 && Math.abs(fps - base) > 0.002 * base ? true : undefined,
          videoStartS: Number.isFinite(vStart) && Number.isFinite(fStart) && vStart > fStart ? vStart - fStart : undefined,
          container: data.format.format_name || undefined,
          videoStreams: videos.length,
          videoStream: i,
          streamIndex: v.index ?? data.streams.indexOf(v),
        };
      }));
    });
  });
}

/** ffprobe's default output, parsed: `[STREAM]`/`[FORMAT]` blocks of `key=value`. */
interface ProbeData {
  streams: ProbeStream[];
  format: Record<string, string | number | undefined> & { duration?: string | number; start_time?: string | number; format_name?: string };
}
type ProbeStream = Record<string, unknown> & {
  index?: number; codec_type?: string; codec_name?: string; width?: number; height?: number; avg_frame_rate?: string; r_frame_rate?: string;
  start_time?: string | number; nb_frames?: string | number; sample_aspect_ratio?: string; color_space?: string;
  disposition?: Record<string, number | string>; tags?: Record<string, string>;
};

/**
 * One ffprobe (`-show_streams -show_format`), run here rather than through fluent-ffmpeg: in the
 * process group ffmpeg children get (ffmpegSpawnOptions: a worker's Ctrl-C does not end it and fail
 * the job it was told to finish), and killed when it takes longer than `timeoutMs` (a stalled network
 * mount: the job fails and nothing is left running, or keeping the process alive, after it).
 * `err`: 'timeout', or an Error whose message ends with ffprobe's stderr.
 * Values as ffprobe prints them; a plain decimal number becomes a number (tags stay text);
 * `TAG:x` keys go to `tags`, `DISPOSITION:x` to `disposition`; lines of a nested block
 * (`[SIDE_DATA]`: a display matrix's `rotation`) count as the stream's own.
 */
function ffprobe(source: string, options: string[], timeoutMs: number, done: (err: Error | 'timeout' | null, data: ProbeData) => void): void {
  const child = spawn(ffmpegPaths().ffprobe, ['-show_streams', '-show_format', ...options, source], { ...ffmpegSpawnOptions(), stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
  const out: Buffer[] = [], err: Buffer[] = [];
  let ended = false;
  const end = (e: Error | 'timeout' | null, data: ProbeData = { streams: [], format: {} }) => {
    if (ended) return;
    ended = true;
    clearTimeout(timer);
    done(e, data);
  };
  const timer = setTimeout(() => {
    child.kill('SIGKILL');
    end('timeout');
  }, timeoutMs);
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  child.on('error', (e) => end(e));
  // 'close': the process has exited and its output is read.
  child.on('close', (code, signal) => {
    const stderr = Buffer.concat(err).toString('utf8');
    if (code !== 0) return end(new Error(`ffprobe exited with ${signal ? `signal ${signal}` : `code ${code}`}${stderr ? `\n${stderr}` : ''}`));
    end(null, parseProbe(Buffer.concat(out).toString('utf8')));
  });
}

/** ffprobe's default (INI-like) output as ProbeData. Exported for tests. */
export function parseProbe(text: string): ProbeData {
  const data: ProbeData = { streams: [], format: {} };
  let cur: Record<string, unknown> | undefined;
  let depth = 0; // nested blocks inside a stream ([SIDE_DATA]) add their keys to it
  for (const raw of text.split(/\r\n|\r|\n/)) {
    const line = raw.trim();
    if (!line) continue;
    const block = /^\[(\/?)([A-Z_]+)\]$/.exec(line);
    if (block) {
      const [, close, name] = block;
      if (!close) {
        if (cur) depth++;
        else if (name === 'STREAM') data.streams.push((cur = {}) as ProbeStream);
        else if (name === 'FORMAT') cur = data.format;
        else if (name !== undefined) cur = {}; // a chapter, program, ...: read and dropped
      } else if (depth > 0) depth--;
      else cur = undefined;
      continue;
    }
    const eq = line.indexOf('=');
    if (!cur || eq <= 0) continue;
    const key = line.slice(0, eq), value = line.slice(eq + 1);
    if (key.startsWith('TAG:')) ((cur.tags ??= {}) as Record<string, string>)[key.slice(4)] = value;
    else if (key.startsWith('DISPOSITION:')) ((cur.disposition ??= {}) as Record<string, number | string>)[key.slice(12)] = /^\d+$/.test(value) ? Number(value) : value;
    else cur[key] = /^[0-9]+(\.[0-9]+)?$/.test(value) ? Number(value) : value;
  }
  return data;
}
