/**
 * Helpers for the live tests: a real GStreamer RTSP server, free ports,
 * graphs run in-process, a WebSocket client that records what it receives,
 * and a synthetic live labels source for driving websocket-sink alone.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Observable } from 'rxjs';
import WebSocket from 'ws';
import { z } from 'zod';
import { registry } from '../../nodes/index.ts';
import { loadGraphFile, parseGraph, type GraphDef, type Registry } from '../../src/core/graph/loader.ts';
import { runGraph, type RunResult } from '../../src/core/graph/runner.ts';
import { epochNowMs } from '../../src/core/live-clock.ts';
import { defineNode, type NodeSpec } from '../../src/core/node.ts';
import type { Labels, PacketMeta } from '../../src/core/packet.ts';
import { Metrics } from '../../src/core/runtime/metrics.ts';
import { decodeMessage, MsgType, type DecodedMessage } from '../../src/codecs/ws-protocol.ts';
import { SHARED } from './shared.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const RTSP_SERVER = process.env.SEGFLOW_RTSP_SERVER ?? path.join(SHARED, 'reference', 'rtsp_server.py');
export const SAMPLE = path.join(ROOT, 'samples', 'synthetic-road.mp4');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const PY = '/usr/bin/python3';
const GST_APT = 'apt-get install -y --no-install-recommends gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-tools python3-gi gir1.2-gstreamer-1.0';

/** Throws, naming the apt packages, when the GStreamer RTSP server cannot run here. */
export function requireGstreamer(): void {
  const missing = (why: string) => new Error(`the live tests need a GStreamer RTSP server (${why}); install it with:\n  ${GST_APT}`);
  if (!existsSync(PY)) throw missing(`${PY} not found`);
  if (!existsSync(RTSP_SERVER)) throw new Error(`RTSP test server script not found at ${RTSP_SERVER}; set SEGFLOW_RTSP_SERVER to its path`);
  try {
    execFileSync(PY, ['-c', "import gi; gi.require_version('Gst','1.0'); gi.require_version('GstRtspServer','1.0'); from gi.repository import Gst, GstRtspServer; Gst.init(None); assert Gst.ElementFactory.find('x264enc') and Gst.ElementFactory.find('rtph264pay') and Gst.ElementFactory.find('h264parse')"], { stdio: 'pipe', timeout: 20_000 });
  } catch (e) {
    throw missing(`python3 cannot load GstRtspServer with x264enc, h264parse and rtph264pay: ${String((e as { stderr?: Buffer }).stderr ?? e).trim().split('\n').pop()}`);
  }
}

/** Throws, naming the apt package, when Chromium is missing. */
export function requireChromium(): void {
  if (!existsSync(CHROMIUM)) throw new Error(`the viewer test needs Chromium at ${CHROMIUM}; install it with:\n  apt-get install -y chromium`);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Poll `fn` until it returns a truthy value; throws `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 15_000, everyMs = 50): Promise<NonNullable<T>> {
  const t0 = performance.now();
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export interface RtspServer {
  readonly port: number;
  url(path?: '/cam' | '/file'): string;
  /** SIGKILL and wait for exit (a camera that dies). */
  kill(): Promise<void>;
  /** Start again on the same port; resolves when it is ready. */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT (a camera that hangs with its socket open). */
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

/** The reference GStreamer RTSP server on a free port, serving /cam (30 fps test pattern) and /file (`file`, looped). */
export async function startRtspServer(file = SAMPLE): Promise<RtspServer> {
  requireGstreamer();
  const port = await freePort();
  let proc: ChildProcess | undefined;
  const start = async () => {
    for (let attempt = 0; ; attempt++) {
      const p = spawn(PY, [RTSP_SERVER, String(port), file], { stdio: ['ignore', 'pipe', 'pipe'] });
      proc = p;
      let err = '';
      p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      const ok = await new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(false), 10_000);
        p.stdout!.on('data', (d: Buffer) => {
          if (d.toString().includes('ready')) {
            clearTimeout(t);
            resolve(true);
          }
        });
        p.once('exit', () => {
          clearTimeout(t);
          resolve(false);
        });
      });
      if (ok) return;
      p.kill('SIGKILL');
      // The port can linger for a moment after a kill; retry briefly.
      if (attempt >= 20) throw new Error(`RTSP server on port ${port} did not start: ${err.trim().split('\n').slice(-3).join(' | ')}`);
      await sleep(250);
    }
  };
  const kill = async () => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGCONT');
      p.kill('SIGKILL');
    });
  };
  await start();
  return {
    port,
    url: (p = '/cam') => `rtsp://127.0.0.1:${port}${p}`,
    kill,
    restart: start,
    pause: () => void proc?.kill('SIGSTOP'),
    resume: () => void proc?.kill('SIGCONT'),
    stop: kill,
  };
}

export interface LiveRun {
  readonly def: GraphDef;
  readonly metrics: Metrics;
  /** Every packet a sink finished, with the time it finished (epoch ms). */
  readonly done: { sink: string; p: PacketMeta; at: number }[];
  readonly result: Promise<RunResult>;
  readonly log: string[];
  /** Abort the run and wait for it to end (every node closed). */
  stop(): Promise<RunResult>;
}

/** Run a graph in-process: from a file (with `--set`s) or from YAML text. */
export function runLive(graph: { file: string } | { yaml: string }, sets: string[] = [], reg: Registry = registry): LiveRun {
  const def = 'file' in graph ? loadGraphFile(graph.file, reg, { sets }) : parseGraph(graph.yaml, 'test.yaml', reg, { sets });
  const metrics = new Metrics();
  const ac = new AbortController();
  const done: LiveRun['done'] = [];
  const log: string[] = [];
  const result = runGraph(def, {
    signal: ac.signal,
    metrics,
    log: (m) => log.push(`${(performance.now() / 1000).toFixed(2)} ${m}`),
    onDone: (sink, p) => done.push({ sink, p, at: epochNowMs() }),
  });
  result.catch(() => {});
  return {
    def, metrics, done, result, log,
    stop: async () => {
      ac.abort();
      return result;
    },
  };
}

/** A counter or gauge from a run's metrics (labels in the order they were recorded). */
export function metric(m: Metrics, name: string, labels: Record<string, string>): number {
  const key = `{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',')}}`;
  return m.counters.get(name)?.get(key) ?? m.gauges.get(name)?.get(key) ?? 0;
}

export interface Received extends DecodedMessage {
  readonly receivedAtMs: number;
}

export interface TestClient {
  readonly ws: WebSocket;
  readonly texts: { type: string; [k: string]: unknown }[];
  readonly labels: Received[];
  readonly jpegs: Received[];
  readonly opened: Promise<void>;
  hello(): Promise<{ type: string; [k: string]: unknown }>;
  close(): void;
}

/** A WebSocket client recording every message (binary ones decoded, with receive time). */
export function wsClient(url: string, opts: WebSocket.ClientOptions = {}): TestClient {
  const ws = new WebSocket(url, opts);
  const texts: TestClient['texts'] = [];
  const labels: Received[] = [];
  const jpegs: Received[] = [];
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    const at = epochNowMs();
    if (!isBinary) return void texts.push(JSON.parse(String(data)));
    const m = decodeMessage(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    (m.type === MsgType.labels ? labels : jpegs).push({ ...m, receivedAtMs: at });
  });
  ws.on('error', () => {});
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { statusCode: res.statusCode })));
    ws.once('error', reject);
  });
  opened.catch(() => {});
  return {
    ws, texts, labels, jpegs, opened,
    hello: () => waitFor('hello message', () => texts.find((t) => t.type === 'hello'), 10_000),
    close: () => ws.terminate(),
  };
}

/** Wait until a websocket-sink server answers on `port`, then subscribe to `stream`. */
export async function waitForStream(port: number, stream: string, timeoutMs = 30_000): Promise<TestClient> {
  await waitFor(`websocket-sink on port ${port}`, () => fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false), timeoutMs, 100);
  const c = wsClient(`ws://127.0.0.1:${port}/ws?stream=${encodeURIComponent(stream)}`);
  await c.opened;
  return c;
}

export function percentile(xs: readonly number[], p: number): number {
  if (!xs.length) return NaN;
  const a = [...xs].sort((x, y) => x - y);
  return a[Math.min(a.length - 1, Math.floor((p / 100) * a.length))]!;
}

/** Processes (pid, args) whose command line contains `needle`. */
export function processesMatching(needle: string): { pid: number; args: string }[] {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return out.split('\n').map((l) => /^\s*(\d+)\s+(.*)$/.exec(l)).filter((m): m is RegExpExecArray => !!m && m[2]!.includes(needle) && !m[2]!.startsWith('ps '))
    .map((m) => ({ pid: Number(m[1]), args: m[2]! }));
}

/**
 * `test-labels`: a live source of synthetic label maps (no camera, no model) at
 * `fps`, for driving websocket-sink alone. `noise` makes every pixel random
 * (RLE cannot shrink it: large messages that fill socket buffers quickly).
 */
/** ffmpeg processes whose command line names 127.0.0.1:`port`, with their argv as /proc has it. */
export function ffmpegsFor(port: number): { pid: number; argv: string[] }[] {
  const out: { pid: number; argv: string[] }[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').filter(Boolean);
    } catch {
      continue; // ended meanwhile
    }
    if (argv.length && path.basename(argv[0]!) === 'ffmpeg' && argv.some((a) => a.includes(`127.0.0.1:${port}/`))) out.push({ pid: Number(d), argv });
  }
  return out;
}

/** A sink that takes camera frames and does nothing with them (camera tests, no model). */
export const testFrameSink = defineNode({
  type: 'test-frame-sink',
  description: 'Discards frames (tests)',
  role: 'sink',
  inputs: { frame: 'frame' },
  outputs: {},
  options: z.strictObject({}),
  async open() {
    return { process: ({ frame }) => frame!, async close() {} };
  },
});

/** The camera (`rtsp-source` at 160x90, `extra` more options) into testFrameSink. */
export function cameraGraph(url: string, extra = ''): string {
  return `version: 1
nodes:
  camera: { type: rtsp-source, options: { url: ${JSON.stringify(url)}, width: 160, height: 90${extra} } }
  sink:   { type: test-frame-sink, in: { frame: camera.frame } }
`;
}

export const testLabelsSource: NodeSpec = defineNode({
  type: 'test-labels',
  description: 'Synthetic live label maps (tests)',
  role: 'source',
  live: true,
  inputs: {},
  outputs: { labels: 'labels' },
  options: z.strictObject({
    fps: z.number().positive().default(30),
    width: z.number().int().min(1).default(64),
    height: z.number().int().min(1).default(48),
    frames: z.number().int().min(0).default(0).describe('0 = until stopped'),
    noise: z.boolean().default(false),
  }),
  async open(ctx) {
    const o = ctx.options;
    const classNames = ['a', 'b', 'c', 'd'];
    const palette: [number, number, number][] = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]];
    return {
      process: () => ({
        labels: new Observable<Labels>((sub) => {
          let seq = 0;
          const t0 = performance.now();
          const tick = () => {
            if (ctx.signal.aborted || (o.frames > 0 && seq >= o.frames)) return sub.complete();
            const classes = new Uint8Array(o.width * o.height);
            if (o.noise) for (let i = 0; i < classes.length; i++) classes[i] = (Math.random() * 4) | 0;
            else for (let i = 0; i < classes.length; i++) classes[i] = ((i % o.width) * 4 / o.width + seq) & 3;
            sub.next(Object.freeze({ kind: 'labels', source: ctx.name, seq, ptsMs: (seq * 1000) / o.fps, discontinuity: seq === 0 ? 'start' : undefined, width: o.width, height: o.height, classes, classNames, palette, path: 'full' }) as Labels);
            seq++;
            timer = setTimeout(tick, Math.max(0, t0 + (seq * 1000) / o.fps - performance.now()));
          };
          let timer = setTimeout(tick, 0);
          const abort = () => {
            clearTimeout(timer);
            sub.complete();
          };
          ctx.signal.addEventListener('abort', abort, { once: true });
          return () => {
            clearTimeout(timer);
            ctx.signal.removeEventListener('abort', abort);
          };
        }),
      }),
      async close() {},
    };
  },
});

export const testRegistry: Registry = new Map([...registry, [testLabelsSource.type, testLabelsSource]]);
