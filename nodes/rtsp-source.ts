/**
 * rtsp-source — pulls a live RTSP camera with an ffmpeg child process and
 * emits RGB24 frames, reconnecting with exponential backoff when the camera
 * goes away.
 *
 * Ports: out `frame` (frame). Each frame carries this node's name as source,
 * a seq that keeps increasing across reconnects, and `ptsMs` = wall-clock ms
 * since the node started (the epoch of `ptsMs = 0` is published through
 * `src/live-clock.ts`, so sinks can compute receive-to-delivery latency). The
 * first frame ever carries `discontinuity: 'start'`, the first after each
 * reconnect `'reconnect'`. ffmpeg's stdout is never paused: this is a live
 * source, so freshest-frame edges downstream drop stale frames and latency
 * stays bounded. Failure modes handled: the server dies (ffmpeg exits 0 with
 * no error), refuses the connection (exit 1), or hangs with its socket open
 * (ffmpeg never exits: the no-data watchdog kills it); ffmpeg blocked on the
 * network may ignore SIGTERM, so SIGKILL follows after 2 s. Each disconnect
 * is logged with its cause in words: connection refused, a 404 after the
 * camera was up (see Fatal answers), a stream with no video track, a server
 * that does not answer in RTSP (a camera's web port), rtsps:// to a plain
 * RTSP server. Metrics: `rtsp_connected`, `rtsp_reconnects_total`,
 * `rtsp_frames_total`, `rtsp_disconnects_total{reason}` (`rtsp-401`,
 * `rtsp-403`, `rtsp-404` for a fatal answer),
 * `rtsp_last_frame_timestamp_seconds`.
 *
 * Options: `url` (rtsp:// or rtsps://), `transport` (tcp | udp, default tcp),
 * `width`/`height` (scale inside ffmpeg; 0 = native, one of them 0 keeps the
 * aspect ratio), `reconnectInitialMs` (first backoff, doubled per failed
 * attempt up to `reconnectMaxMs`), `maxReconnects` (give up after this many
 * consecutive reconnects without a frame; 0 = never give up), `watchdogMs`
 * (no bytes for this long while streaming → kill and reconnect),
 * `connectTimeoutMs` (no first frame this long after starting ffmpeg → kill
 * and reconnect).
 *
 * Credentials: the camera URL (with any `user:password@`) is never on
 * ffmpeg's command line, so it is not in `ps` or /proc/PID/cmdline: ffmpeg
 * reads a one-entry ffconcat script from its stdin (`-f concat -i pipe:0`,
 * the RTSP options as the script's `option` lines), which the concat demuxer
 * opens as its only file, passing each packet on as it comes (no frame
 * held back, reconnects as before: the RTSP input's end is the script's end).
 * Its command line carries the URL with the password masked, so `ps` still
 * tells which camera each ffmpeg is for. Our logs and errors mask it too.
 *
 * Fatal answers: a 401 Unauthorized or 403 Forbidden ends the run at once
 * (retrying a wrong password hides the mistake and can lock the camera's
 * account); a 404 Not Found ends it at once only if the camera has not sent a
 * frame in this run (a wrong path). A 404 after the camera was up is taken
 * for a restart and reconnected like a drop: cameras and relays (an NVR,
 * MediaMTX whose publisher is gone) answer 404 while their stream comes back.
 *
 * ```yaml
 * camera: { type: rtsp-source, options: { url: "rtsp://127.0.0.1:8554/cam", transport: tcp, width: 640, height: 360 } }
 * ```
 */
import { spawn, execFileSync, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { Observable } from 'rxjs';
import { z } from 'zod';
import { InputError } from '../src/core/errors.ts';
import { ffmpegPaths } from '../src/media/ffmpeg.ts';
import { epochNowMs, setLiveOrigin } from '../src/core/live-clock.ts';
import { defineNode } from '../src/core/node.ts';
import { FrameAssembler } from '../src/media/frame-assembler.ts';
import type { Frame } from '../src/core/packet.ts';

/** ffmpeg blocked in a network read can ignore SIGTERM; SIGKILL follows after this long. */
const KILL_GRACE_MS = 2000;
/** Bytes held while ffmpeg has not yet said the output size (a few frames at most). */
const MAX_STASH_BYTES = 64 << 20;

const options = z
  .strictObject({
    url: z.string().regex(/^rtsps?:\/\/\S+$/, 'expected an rtsp:// or rtsps:// URL').describe('camera URL'),
    transport: z.enum(['tcp', 'udp']).default('tcp').describe('RTP transport'),
    width: z.number().int().min(0).max(8192).default(0).describe('output width in pixels (0 = native or keep aspect)'),
    height: z.number().int().min(0).max(8192).default(0).describe('output height in pixels (0 = native or keep aspect)'),
    reconnectInitialMs: z.number().int().min(10).max(600_000).default(500).describe('first reconnect delay in ms'),
    reconnectMaxMs: z.number().int().min(10).max(3_600_000).default(10_000).describe('largest reconnect delay in ms'),
    maxReconnects: z.number().int().min(0).default(0).describe('consecutive reconnects without a frame before giving up (0 = never)'),
    watchdogMs: z.number().int().min(100).max(600_000).default(5000).describe('no data for this long while streaming → reconnect (ms)'),
    connectTimeoutMs: z.number().int().min(100).max(600_000).default(10_000).describe('no first frame this long after connecting → reconnect (ms)'),
  })
  .refine((o) => o.reconnectMaxMs >= o.reconnectInitialMs, { message: 'expected reconnectMaxMs ≥ reconnectInitialMs', path: ['reconnectMaxMs'] });

type Options = z.infer<typeof options>;
type Child = ChildProcessByStdio<Writable, Readable, Readable>;

export const rtspSource = defineNode({
  type: 'rtsp-source',
  description: 'Live RTSP camera → RGB24 frames (ffmpeg), reconnecting with backoff',
  role: 'source',
  live: true,
  inputs: {},
  outputs: { frame: 'frame' },
  options,
  async open(ctx) {
    const o = ctx.options;
    const bin = ffmpegPaths().ffmpeg;
    const timeoutFlag = rtspTimeoutFlag(bin);
    // ffmpeg < 5 (Ubuntu 22.04's 4.4, the bundled static build) has no `option` lines in ffconcat
    // scripts: there the URL goes on the command line as before, and the user is told.
    const viaStdin = concatTakesOptions(bin);
    const args = ffmpegArgs(o, viaStdin ? undefined : timeoutFlag);
    const script = viaStdin ? ffconcatScript(o, timeoutFlag) : undefined;
    const node = { node: ctx.name };
    const where = `${ctx.name}: ${redact(o.url)}`;
    if (!viaStdin && redact(o.url) !== o.url) ctx.log(`the camera password in ${redact(o.url)} is visible to local users in the process list: this ffmpeg (< 5) reads it only from its command line; ffmpeg 5 or later keeps it off (docs/security-files.md)`);
    const children = new Set<Child>();
    const stoppers = new Set<() => void>();
    let closed = false;
    let closing: Promise<void> | undefined;
    ctx.metrics.gauge('rtsp_connected', node, 0, 'Whether the camera is delivering frames (1) or not (0).');
    ctx.metrics.count('rtsp_reconnects_total', node, 0, 'Reconnect attempts after the first connection.');
    ctx.metrics.count('rtsp_frames_total', node, 0, 'Frames received from the camera.');

    const frame$ = new Observable<Frame>((sub) => {
      const startPerf = performance.now();
      setLiveOrigin(ctx.metrics, ctx.name, performance.timeOrigin + startPerf);
      let seq = 0;
      let connections = 0; // ffmpeg processes started
      let failures = 0; // consecutive connections that ended without a frame
      let stopped = false;
      let retryTimer: NodeJS.Timeout | undefined;
      let child: Child | undefined;

      const stop = () => {
        if (stopped) return;
        stopped = true;
        clearTimeout(retryTimer);
        if (child) terminate(child);
        ctx.metrics.gauge('rtsp_connected', node, 0);
        sub.complete();
      };

      const connect = () => {
        if (stopped || closed) return;
        const isReconnect = connections > 0;
        connections++;
        if (isReconnect) ctx.metrics.count('rtsp_reconnects_total', node);
        const c = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
        child = c;
        children.add(c);
        // The URL (and its password) goes in on stdin, never on the command line; an ffmpeg that
        // failed to start or has already exited closes the pipe (EPIPE): its exit says why.
        c.stdin.on('error', () => {});
        c.stdin.end(script);
        let size = o.width > 0 && o.height > 0 ? { width: o.width, height: o.height } : undefined;
        let asm = size ? new FrameAssembler(size.width * size.height * 3) : undefined;
        let stash: Buffer[] = [];
        let stashBytes = 0;
        let framesHere = 0;
        let lastDataAt = performance.now();
        const spawnedAt = lastDataAt;
        let reason: string | undefined; // why we killed it, if we did
        let tail: string[] = [];
        let inOutput = false;
        let ended = false;

        const watchdog = setInterval(() => {
          const now = performance.now();
          if (reason) return;
          if (framesHere === 0 && now - spawnedAt > o.connectTimeoutMs) {
            reason = 'connect-timeout';
            ctx.log(`no frame ${o.connectTimeoutMs} ms after connecting; restarting ffmpeg`);
            terminate(c);
          } else if (framesHere > 0 && now - lastDataAt > o.watchdogMs) {
            reason = 'watchdog';
            ctx.log(`no data for ${o.watchdogMs} ms (camera hung?); restarting ffmpeg`);
            terminate(c);
          }
        }, Math.max(50, Math.min(250, Math.floor(Math.min(o.watchdogMs, o.connectTimeoutMs) / 4))));

        const consume = (chunk: Buffer) =>
          asm!.push(chunk, (data) => {
            const t0 = performance.now();
            const first = framesHere === 0;
            const f: Frame = Object.freeze({
              kind: 'frame', source: ctx.name, seq, ptsMs: t0 - startPerf,
              width: size!.width, height: size!.height, data,
              discontinuity: first ? (seq === 0 ? 'start' : 'reconnect') : undefined,
            });
            seq++;
            framesHere++;
            if (first) {
              failures = 0;
              ctx.metrics.gauge('rtsp_connected', node, 1);
              ctx.log(`${isReconnect ? 'reconnected' : 'connected'}: ${size!.width}x${size!.height} after ${Math.round(t0 - spawnedAt)} ms`);
            }
            ctx.metrics.count('rtsp_frames_total', node);
            ctx.metrics.gauge('rtsp_last_frame_timestamp_seconds', node, (performance.timeOrigin + t0) / 1000, 'Wall-clock time the last frame was received.');
            sub.next(f);
            return !(stopped || ended);
          });

        c.stdout.on('data', (chunk: Buffer) => {
          lastDataAt = performance.now();
          if (stopped || ended) return;
          if (!size) {
            // ffmpeg says the output size on stderr before it writes a frame; hold bytes until then.
            stash.push(chunk);
            stashBytes += chunk.length;
            if (stashBytes > MAX_STASH_BYTES && !reason) {
              reason = 'no-size';
              ctx.log(`ffmpeg wrote ${stashBytes} bytes without saying the frame size; restarting ffmpeg`);
              terminate(c);
            }
            return;
          }
          consume(chunk);
        });

        let errBuf = '';
        c.stderr.setEncoding('utf8');
        c.stderr.on('data', (s: string) => {
          errBuf += s;
          const lines = errBuf.split(/[\r\n]/);
          errBuf = lines.pop() ?? '';
          for (const line of lines) {
            if (!line.trim()) continue;
            tail.push(line);
            if (tail.length > 40) tail = tail.slice(-20);
            if (/^Output #0/.test(line)) inOutput = true;
            const m = inOutput && !size ? /Video: rawvideo.*?, (\d{1,5})x(\d{1,5})\b/.exec(line) : null;
            if (m) {
              size = { width: Number(m[1]), height: Number(m[2]) };
              asm = new FrameAssembler(size.width * size.height * 3);
              const held = stash;
              stash = [];
              stashBytes = 0;
              for (const b of held) if (!stopped && !ended) consume(b);
            }
          }
        });

        const onEnd = (code: number | null, signal: NodeJS.Signals | null, err?: Error) => {
          if (ended) return;
          ended = true;
          clearInterval(watchdog);
          children.delete(c);
          if (child === c) child = undefined;
          if (stopped) return;
          ctx.metrics.gauge('rtsp_connected', node, 0);
          const why = reason ?? (err ? 'spawn-error' : code === 0 ? 'server-closed' : 'error');
          const detail = (err?.message ?? lastError(tail) ?? (code === 0 ? 'stream ended' : `ffmpeg exited with ${signal ?? `code ${code}`}`)).replace(`${redact(o.url)}: `, '').replace(/^pipe:0: /, '');
          // A wrong password or path is the user's mistake, not a drop: say so now rather than retry.
          // 401/403 always end the run (retrying a refused password can lock the camera's account);
          // 404 only before the camera's first frame in this run: after it, a 404 is a camera or
          // relay restarting (its stream not yet back), reconnected like any drop.
          const refusal = !reason && !err ? rtspRefusal(tail) : undefined;
          if (refusal && (refusal.status !== 404 || seq === 0)) {
            stopped = true;
            ctx.metrics.count('rtsp_disconnects_total', { ...node, reason: `rtsp-${refusal.status}` }, 1, 'Connections that ended, by reason.');
            sub.error(new InputError(`${where}: ${refusalAdvice(refusal.status, o.url)}; not retried`, redact(o.url)));
            return;
          }
          ctx.metrics.count('rtsp_disconnects_total', { ...node, reason: why }, 1, 'Connections that ended, by reason.');
          if (framesHere === 0) failures++;
          if (o.maxReconnects > 0 && failures > o.maxReconnects) {
            stopped = true;
            sub.error(new InputError(`${where}: no frames after ${o.maxReconnects} reconnects in a row; expected a reachable camera, got: ${detail}`, redact(o.url)));
            return;
          }
          const delay = failures === 0 ? o.reconnectInitialMs : Math.min(o.reconnectMaxMs, o.reconnectInitialMs * 2 ** Math.min(30, failures - 1));
          ctx.log(`disconnected (${why}: ${detail}) after ${framesHere} frames; reconnecting in ${delay} ms`);
          retryTimer = setTimeout(connect, delay);
        };
        c.on('error', (e) => onEnd(null, null, e));
        c.on('close', (code, signal) => onEnd(code, signal));
      };

      if (ctx.signal.aborted || closed) {
        stop();
        return undefined;
      }
      ctx.signal.addEventListener('abort', stop, { once: true });
      stoppers.add(stop);
      connect();
      return () => {
        ctx.signal.removeEventListener('abort', stop);
        stoppers.delete(stop);
        stopped = true;
        clearTimeout(retryTimer);
        if (child) terminate(child);
      };
    });

    return {
      process: () => ({ frame: frame$ }),
      close() {
        closed = true;
        for (const stop of [...stoppers]) stop();
        closing ??= Promise.all([...children].map((c) => terminate(c))).then(() => undefined);
        return closing;
      },
    };
  },
});

/**
 * The ffmpeg command line for one connection: the camera is read through the
 * concat demuxer from the script on stdin (ffconcatScript), so the command line
 * carries the URL only with its password masked (as a comment, for `ps`). With
 * `inline` (the RTSP timeout flag of an ffmpeg < 5, whose ffconcat scripts take
 * no `option` lines: concatTakesOptions), the URL and the RTSP options are on
 * the command line instead, as before session 12.
 */
export function ffmpegArgs(o: Options, inline?: '-timeout' | '-stimeout'): string[] {
  const scale = o.width > 0 || o.height > 0 ? ['-vf', `scale=${o.width || -2}:${o.height || -2}:flags=area`] : [];
  const input = inline
    ? ['-rtsp_transport', o.transport, inline, String(o.connectTimeoutMs * 1000), '-i', o.url]
    : ['-f', 'concat', '-safe', '0', '-protocol_whitelist', 'pipe,rtsp,rtsps,rtp,srtp,tcp,udp,tls', '-i', 'pipe:0'];
  return [
    '-hide_banner', '-nostats', '-nostdin', '-loglevel', 'info',
    // low_delay also turns off frame threading, which would hold back (threads - 1) frames.
    '-fflags', 'nobuffer', '-flags', 'low_delay',
    ...input,
    '-map', '0:v:0', '-an', '-sn', '-dn', ...scale,
    ...(inline ? [] : ['-metadata', `comment=segflow rtsp-source ${redact(o.url)}`]),
    '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-flush_packets', '1', 'pipe:1',
  ];
}

const concatOptions = new Map<string, boolean>();
/**
 * Whether this ffmpeg's concat demuxer takes `option` lines (ffmpeg ≥ 5): asked from the binary
 * once (a script naming a file that does not exist: an older one stops at the unknown keyword).
 */
export function concatTakesOptions(bin: string): boolean {
  let yes = concatOptions.get(bin);
  if (yes === undefined) {
    let text = '';
    try {
      execFileSync(bin, ['-hide_banner', '-nostdin', '-f', 'concat', '-safe', '0', '-i', 'pipe:0', '-f', 'null', '-'],
        { input: "ffconcat version 1.0\nfile 'segflow-no-such-file'\noption rtsp_transport tcp\n", encoding: 'utf8', timeout: 10_000, stdio: ['pipe', 'ignore', 'pipe'] });
    } catch (e) {
      text = String((e as { stderr?: unknown }).stderr ?? '');
    }
    yes = !/unknown keyword 'option'/.test(text);
    concatOptions.set(bin, yes);
  }
  return yes;
}

/**
 * What ffmpeg reads on stdin: an ffconcat script whose one file is the camera,
 * opened with the RTSP options. The URL is quoted ('…', a quote as '\'').
 * Measured against the GStreamer test camera (ffmpeg 5.1): frames from the
 * first on at the camera's pace, none held back (0 frames delivered after the
 * server was frozen, as with `-i URL`), time to first frame the same.
 */
export function ffconcatScript(o: Options, timeoutFlag: '-timeout' | '-stimeout' = '-timeout'): string {
  return [
    'ffconcat version 1.0',
    `file '${o.url.replace(/'/g, "'\\''")}'`,
    `option rtsp_transport ${o.transport}`,
    // Socket I/O timeout in µs (it does not catch a hung server: the watchdog does).
    `option ${timeoutFlag.slice(1)} ${o.connectTimeoutMs * 1000}`,
    'option fflags nobuffer',
    '',
  ].join('\n');
}

const timeoutFlags = new Map<string, '-timeout' | '-stimeout'>();
/**
 * The RTSP socket-timeout option of this ffmpeg: `-stimeout` where it still
 * exists (ffmpeg < 5, whose `-timeout` means "listen for a connection"),
 * `-timeout` otherwise. Asked from the binary, since static builds report git
 * versions.
 */
function rtspTimeoutFlag(bin: string): '-timeout' | '-stimeout' {
  let f = timeoutFlags.get(bin);
  if (!f) {
    try {
      const help = execFileSync(bin, ['-hide_banner', '-h', 'demuxer=rtsp'], { encoding: 'utf8', timeout: 10_000 });
      f = /^\s*-stimeout\b/m.test(help) ? '-stimeout' : '-timeout';
    } catch {
      f = '-timeout';
    }
    timeoutFlags.set(bin, f);
  }
  return f;
}

/** SIGTERM, then SIGKILL after KILL_GRACE_MS; resolves when the process has exited. */
function terminate(c: Child): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => c.kill('SIGKILL'), KILL_GRACE_MS);
    c.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    c.kill('SIGTERM');
  });
}

/** The RTSP server's refusal that a retry cannot mend: 401, 403 or 404 in ffmpeg's "method X failed: NNN ...". */
function rtspRefusal(lines: string[]): { status: 401 | 403 | 404 } | undefined {
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = /method \w+ failed: (401|403|404)\b/.exec(lines[i]!) ?? /Server returned (401|403|404)\b/.exec(lines[i]!);
    if (m) return { status: Number(m[1]) as 401 | 403 | 404 };
  }
  return undefined;
}

/** What a refusal means and what to check, in words. */
function refusalAdvice(status: 401 | 403 | 404, url: string): string {
  const creds = /^\w+:\/\/[^/@\s]*@/.test(url);
  if (status === 401) {
    return creds
      ? 'the camera refused the user name or password (RTSP 401 Unauthorized); check them in the URL (characters such as @ : / % percent-encoded, e.g. @ as %40)'
      : 'the camera asks for a user name and password (RTSP 401 Unauthorized); put them in the URL: rtsp://USER:PASSWORD@host:port/path';
  }
  if (status === 403) return 'the camera refused access to this stream (RTSP 403 Forbidden); check that the account may view it, and the stream path';
  return 'the camera has no stream at this path (RTSP 404 Not Found); check the path after host:port (the camera\'s manual or ONVIF GetStreamUri names it, e.g. /stream1)';
}

function lastError(lines: string[]): string | undefined {
  // `-map 0:v:0` on a stream without video: ffmpeg says only "Stream map '0:v:0' matches no streams" (exit 1).
  if (lines.some((l) => /Stream map '0:v:0' matches no streams/.test(l))) {
    const found = lines.map((l) => /^\s*Stream #\d+:\d+\S*: (\w+): (\w+)/.exec(l)).filter((m) => !!m).map((m) => `${m[1]!.toLowerCase()} ${m[2]}`);
    return `no video track in the stream${found.length ? ` (only ${found.join(', ')})` : ''}`;
  }
  const errs = lines.filter((l) => /error|refused|invalid|not found|unauthori[sz]ed|timed out|failed|denied|could not|unable/i.test(l));
  const l = errs[errs.length - 1];
  // A server that answered with something other than RTSP (a camera's web port, any HTTP server): ffmpeg says only this.
  if (l && /: Invalid data found when processing input$/.test(l.trim()) && !lines.some((x) => /^Input #0/.test(x))) {
    return 'the server\'s answer is not RTSP (ffmpeg: Invalid data found when processing input); is this the camera\'s RTSP port (usually 554) and not its web port?';
  }
  // rtsps:// to a plain RTSP server (or TLS refused): ffmpeg's last line is only "Input/output error".
  const tls = lines.map((x) => /^\[tls @ [^\]]*\] (.+)$/.exec(x.trim())).filter((m) => !!m).pop();
  if (tls && (!l || /Input\/output error$/.test(l.trim()))) return `TLS failed (${redact(tls[1]!.replace(/\.$/, ''))}): does the camera take rtsps:// (RTSP over TLS) on this port, or plain rtsp://?`;
  return l ? redact(l.trim()) : undefined;
}

/** Hide a password in `rtsp://user:pass@host`. */
function redact(s: string): string {
  return s.replace(/(\w+:\/\/[^:/@\s]+):[^@/\s]*@/g, '$1:***@');
}
