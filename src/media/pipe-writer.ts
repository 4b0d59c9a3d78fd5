/**
 * A child ffmpeg fed raw bytes on stdin, with back-pressure: `write()` waits
 * for 'drain' once more than `bufferBytes` are queued for the pipe (default 0:
 * whenever the pipe is full) — a few frames of slack let a slow start (x264's
 * initialisation) or a slow frame pass without stalling the graph, with the
 * memory held bounded. `end()` closes stdin and waits for exit;
 * `kill()` ends it at once (SIGTERM, then SIGKILL after 2 s).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { ffmpegPaths, ffmpegSpawnOptions } from './ffmpeg.ts';

export class FfmpegWriter {
  private readonly proc: ChildProcess;
  private readonly exited: Promise<number | null>;
  private stderr = '';
  private failed: Error | undefined;

  constructor(args: readonly string[], readonly label: string, readonly bufferBytes = 0) {
    this.proc = spawn(ffmpegPaths().ffmpeg, ['-hide_banner', '-loglevel', 'error', '-nostdin', ...args], { stdio: ['pipe', 'ignore', 'pipe'], ...ffmpegSpawnOptions() });
    this.proc.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-2000);
    });
    this.proc.stdin!.on('error', (e) => (this.failed ??= e));
    this.exited = new Promise((resolve) => {
      this.proc.on('error', (e) => {
        this.failed ??= e;
        resolve(null);
      });
      this.proc.on('close', (code) => resolve(code));
    });
  }

  async write(buf: Uint8Array): Promise<void> {
    if (this.failed) throw this.error();
    if (!this.proc.stdin!.write(buf) && this.proc.stdin!.writableLength > this.bufferBytes) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.proc.stdin!.off('drain', done);
          this.proc.off('close', done);
          resolve();
        };
        this.proc.stdin!.on('drain', done);
        this.proc.once('close', done);
      });
      if (this.failed || this.proc.exitCode !== null) throw this.error();
    }
  }

  async end(): Promise<void> {
    this.proc.stdin!.end();
    const code = await this.exited;
    if (code !== 0) throw this.error(code);
  }

  async kill(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 2000);
    await this.exited;
    clearTimeout(t);
  }

  private error(code?: number | null): Error {
    return new Error(`${this.label}: ffmpeg ${code != null ? `exited ${code}` : 'failed'}${this.stderr ? ': ' + this.stderr.trim().split('\n').slice(-2).join(' | ') : this.failed ? ': ' + this.failed.message : ''}`);
  }
}
