/** Run the real CLI as a child process; locate shared data; probe outputs with the real ffprobe. */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ffmpegPaths } from '../../src/media/ffmpeg.ts';
import { SHARED } from './shared.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.join(ROOT, 'bin', 'segflow.js');
export { needsShared, SHARED } from './shared.ts';
export const CLIP = path.join(SHARED, 'data', 'video', 'solidWhiteRight.mp4');
export const CAMVID = path.join(SHARED, 'data', 'camvid');
export const SAMPLE = path.join(ROOT, 'samples', 'synthetic-road.mp4');

/** Shared data must be present: say so clearly when it is not (declare such tests with needsShared, helpers/shared.ts, so they skip where it is absent). */
export function requireShared(p: string): string {
  if (!existsSync(p)) throw new Error(`${p} is absent: these tests read ../shared/data next to the repository`);
  return p;
}

export function tmpDir(prefix = 'segflow-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function segflow(args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? ROOT, timeout: opts.timeoutMs ?? 240_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number | string; signal?: NodeJS.Signals }) | null;
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, signal: e?.signal ?? null, stdout, stderr });
    });
  });
}

export function spawnSegflow(args: string[], cwd = ROOT): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Decoded frame count, frame rate and size of a video, counted by the real ffprobe. */
export function videoFacts(file: string): Promise<{ frames: number; fps: number; width: number; height: number; codec: string }> {
  const { ffprobe } = ffmpegPaths();
  return new Promise((resolve, reject) => {
    execFile(ffprobe, ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames,avg_frame_rate,width,height,codec_name', '-of', 'json', file], (err, out) => {
      if (err) return reject(err);
      const s = JSON.parse(out).streams[0];
      const [a, b] = String(s.avg_frame_rate).split('/').map(Number);
      resolve({ frames: Number(s.nb_read_frames), fps: a! / (b || 1), width: s.width, height: s.height, codec: s.codec_name });
    });
  });
}

/** A spawned child's stderr so far, a way to wait for a line in it, and its exit code. */
export function watchChild(child: ChildProcess): { text(): string; until(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>; exit: Promise<number | null> } {
  let buf = '';
  const waiters = new Set<() => void>();
  child.stderr!.on('data', (d: Buffer) => {
    buf += d.toString();
    for (const w of [...waiters]) w();
  });
  child.stdout?.resume();
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return {
    text: () => buf,
    exit,
    until: (re, timeoutMs = 120_000) => new Promise((resolve, reject) => {
      const check = () => {
        const m = buf.match(re);
        if (!m) return;
        waiters.delete(check);
        clearTimeout(t);
        resolve(m);
      };
      const t = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out waiting for ${re}; stderr so far: ${buf.slice(-800)}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    }),
  };
}

/**
 * A light graph at `file` for CLI tests that need no model: decoder → encoder (`${out}/overlay.mp4`,
 * ultrafast; `audio`: with the input's audio). Returns `file`.
 */
export function writeLightGraph(file: string, o: { audio?: boolean } = {}): string {
  writeFileSync(file, [
    'version: 1',
    'vars: { input: x.mp4, out: out }',
    'nodes:',
    '  decode: { type: decoder, options: { path: "${input}" } }',
    `  video:  { type: encoder, options: { path: "\${out}/overlay.mp4", preset: ultrafast${o.audio ? ', audioFrom: "${input}"' : ''} }, in: { frame: decode.frame } }`,
    '',
  ].join('\n'));
  return file;
}
