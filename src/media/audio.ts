/**
 * The audio of an encoded mp4: ffmpeg arguments that add a file's first audio
 * stream, copied when mp4 holds its codec, else re-encoded to AAC; cut at the
 * video's end, and ending early where it does in the file (never cutting the video:
 * audio of unknown length is re-encoded, padded with silence). Audio that ends
 * before the file's video is added without `-shortest` (which would cut the
 * video there); when the video encoded is shorter than that audio after all (the
 * decoder's `maxFrames`), `cutAudio` copies the mp4 once more, cut at the
 * video's end (within one audio packet). Used by the encoder node and by the
 * queue's stitch, which adds the audio once to the joined chunks.
 */
import { execFile } from 'node:child_process';
import { renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { ffmpegPaths, probe } from './ffmpeg.ts';

/** Audio codecs an mp4 holds as they are (copied); anything else is re-encoded to AAC. */
const MP4_AUDIO = new Set(['aac', 'mp3', 'ac3', 'eac3', 'alac', 'opus']);

/**
 * ffmpeg arguments that add `file`'s first audio stream (none when it has no audio). A local video
 * file's audio codec comes from its probe (src/media/ffmpeg.ts), which the decoder of the same file has
 * asked for already: no ffprobe of its own; anything else (an audio-only file, a URL) is asked
 * with one ffprobe.
 */
export async function audioArgs(file: string): Promise<{ input: string[]; output: string[]; endS?: number }> {
  let local = false;
  try {
    local = statSync(file).isFile();
  } catch {
    // not a local file
  }
  // A local file by its absolute path behind file:, so a name with a colon is not taken for a protocol.
  const src = local ? `file:${path.resolve(file)}` : file;
  const first = local ? await probe(file).catch(() => undefined) : undefined;
  // Several video streams (a dual-channel dashcam's): the decoder may take any (its `videoStream`), so audio is
  // compared with the longest: `-shortest` never cuts a longer one, and audio past the video's end is cut after.
  const info = first && first.videoStreams > 1
    ? (await Promise.all(Array.from({ length: first.videoStreams }, (_, i) => probe(file, undefined, { videoStream: i })))).reduce((a, b) => ((b.durationS ?? 0) > (a.durationS ?? 0) ? b : a))
    : first;
  const probed = info ? info.audioCodec ?? '' : undefined;
  const codec = probed ?? await new Promise<string>((resolve) => {
    execFile(ffmpegPaths().ffprobe, ['-v', 'error', '-select_streams', 'a:0', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0', src], { timeout: 20_000 }, (err, out) => resolve(err ? '' : out.trim()));
  });
  if (!codec) return { input: [], output: [] };
  // `-shortest` ends the output with its shortest stream: it cuts audio longer than the video, but audio
  // that ends before the video (a camera's, cut short) would cut the video too, frames lost from an
  // overlay said to hold them all. Audio known to be shorter simply ends early; audio of a video file
  // whose length is not known (PCM in AVI) is padded with silence (`apad`, so re-encoded) and cut.
  const encode = MP4_AUDIO.has(codec) ? ['-c:a', 'copy'] : ['-c:a', 'aac', '-b:a', '128k'];
  if (info?.durationS !== undefined && info.audioDurationS === undefined) return { input: ['-i', src], output: ['-map', '1:a:0', '-af', 'apad', '-c:a', 'aac', '-b:a', '128k', '-shortest'] };
  const shorter = info?.durationS !== undefined && info.audioDurationS !== undefined && info.audioDurationS < info.durationS;
  return { input: ['-i', src], output: ['-map', '1:a:0', ...encode, ...(shorter ? [] : ['-shortest'])], ...(shorter ? { endS: info.audioDurationS! } : {}) };
}

/**
 * Cut `mp4`'s audio at `videoS` seconds (the video's end): the streams copied into `<mp4>.cut.mp4`
 * with `-t` (a copied audio stream ends at the first packet at or after it), which then replaces
 * `mp4`. Only for an overlay whose audio, added without `-shortest`, runs past its video.
 */
export async function cutAudio(mp4: string, videoS: number): Promise<void> {
  const to = `${mp4}.cut.mp4`;
  await new Promise<void>((resolve, reject) => {
    execFile(ffmpegPaths().ffmpeg, ['-hide_banner', '-loglevel', 'error', '-nostdin', '-i', `file:${path.resolve(mp4)}`, '-map', '0', '-c', 'copy',
      '-t', videoS.toFixed(6), '-movflags', '+faststart', '-f', 'mp4', '-y', `file:${path.resolve(to)}`], { timeout: 600_000 }, (err, _o, stderr) => {
      if (err) {
        rmSync(to, { force: true });
        reject(new Error(`cutting the audio of ${mp4} at ${videoS.toFixed(3)} s: ${String(stderr).trim() || err.message}`));
      } else resolve();
    });
  });
  renameSync(to, mp4);
}
