/**
 * Live graphs side by side against the reference RTSP server (../shared/reference/rtsp_server.py,
 * GStreamer, /cam: a 30 fps 1280x720 test pattern): the monolithic live graph before issue 14 (one
 * two-branch-segmenter with keyframeIntervalFrames 5 and shallow non-key frames behind a freshest
 * queue of one, in its own worker thread) and graphs/rtsp-live.yaml as it ships (keyframe-scheduler →
 * segmenter on key frames in an executor → label-propagation `live` on the main thread).
 *
 * Each run is `segflow run <graph>` as a child process with a WebSocket client subscribed; after a
 * warm-up, over a window of --seconds: camera frames in (rtsp_frames_total), label maps received by
 * the client, latency camera receipt → WebSocket receipt (p50/p99, JPEG included), network runs
 * (segmenter_path_total), drops per edge and at the WebSocket client queue, and CPU ms per camera
 * frame (user + system of the segflow process, its worker threads and its ffmpeg child, from /proc
 * over the window). Runs alternate old, new, old, new… (--pairs).
 *
 *   node --import tsx bench/live.ts [--seconds 15] [--pairs 2] [--warmup 3]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { epochNowMs } from '../src/core/live-clock.ts';
import { decodeMessage, MsgType } from '../src/codecs/ws-protocol.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SERVER = process.env.SEGFLOW_RTSP_SERVER ?? path.join(ROOT, '..', 'shared', 'reference', 'rtsp_server.py');
const { values } = parseArgs({ options: { seconds: { type: 'string', default: '15' }, pairs: { type: 'string', default: '2' }, warmup: { type: 'string', default: '3' } } });
const SECONDS = Number(values.seconds);
const PAIRS = Number(values.pairs);
const WARMUP = Number(values.warmup);

/** The live graph before issue 14 (graphs/rtsp-live.yaml at 6de2579). */
const OLD = `version: 1
nodes:
  camera:  { type: rtsp-source,
             options: { url: "rtsp://127.0.0.1:8554/cam", transport: tcp, width: 640, height: 360,
                        reconnectInitialMs: 500, reconnectMaxMs: 10000, watchdogMs: 5000 } }
  small:   { type: downsampler, options: { width: 480, height: 272 }, in: { frame: camera.frame } }
  segment: { type: two-branch-segmenter,
             options: { model: fast-scnn-camvid, engine: onnx, keyframeIntervalFrames: 5 },
             in: { frame: small.frame },
             queue: { policy: freshest, size: 1 } }
  browser: { type: websocket-sink,
             options: { port: 8090, stream: cam0, jpegQuality: 75 },
             in: { labels: segment.labels, frame: small.frame } }
`;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const freePort = () => new Promise<number>((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const p = (s.address() as net.AddressInfo).port;
    s.close(() => resolve(p));
  });
});
async function waitFor<T>(what: string, fn: () => T | Promise<T>, ms = 60_000): Promise<NonNullable<T>> {
  const t0 = performance.now();
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (performance.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}
const pct = (xs: number[], p: number) => {
  const a = [...xs].sort((x, y) => x - y);
  return a.length ? a[Math.min(a.length - 1, Math.floor((p / 100) * a.length))]! : NaN;
};

/** CPU seconds (user + system) of a process and all its descendants, from /proc. */
function treeCpuS(root: number): number {
  const tick = 100; // USER_HZ
  const kids = new Map<number, number[]>();
  const cpu = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      const pid = Number(d);
      const ppid = Number(f[1]);
      cpu.set(pid, (Number(f[11]) + Number(f[12])) / tick);
      kids.set(ppid, [...(kids.get(ppid) ?? []), pid]);
    } catch { /* gone */ }
  }
  let total = 0;
  const stack = [root];
  while (stack.length) {
    const p = stack.pop()!;
    total += cpu.get(p) ?? 0;
    stack.push(...(kids.get(p) ?? []));
  }
  return total;
}

/** `segflow_<name>{…}` values from Prometheus text, summed over the series whose labels contain `filter`. */
function sum(text: string, name: string, filter = ''): number {
  let v = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`segflow_${name}{`) && !line.startsWith(`segflow_${name} `)) continue;
    if (filter && !line.includes(filter)) continue;
    v += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
  }
  return v;
}
function series(text: string, name: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) if (line.startsWith(`segflow_${name}{`)) out[line.slice(line.indexOf('{'), line.lastIndexOf(' '))] = Number(line.slice(line.lastIndexOf(' ') + 1));
  return out;
}

interface Row { graph: string; startS: number; cameraFps: number; labelsFps: number; p50: number; p99: number; networkRuns: number; segDrops: number; otherDrops: number; wsDrops: number; cpuMsPerFrame: number }

async function runOnce(graph: string, file: string, url: string): Promise<Row> {
  const [wsPort, mPort] = [await freePort(), await freePort()];
  const t0 = performance.now();
  const child: ChildProcess = spawn(process.execPath, [path.join(ROOT, 'bin', 'segflow.js'), 'run', file, '--set', `camera.url=${url}`, '--set', `browser.port=${wsPort}`, '--metrics-port', String(mPort)], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const scrape = () => fetch(`http://127.0.0.1:${mPort}/metrics`).then((r) => r.text(), () => '');
  try {
    await waitFor(`${graph}: websocket-sink`, () => fetch(`http://127.0.0.1:${wsPort}/health`).then((r) => r.ok, () => false));
    const lat: { at: number; ms: number }[] = [];
    const ws = new WebSocket(`ws://127.0.0.1:${wsPort}/ws?stream=cam0`);
    ws.on('message', (data: Buffer, bin: boolean) => {
      if (!bin) return;
      const at = epochNowMs();
      const m = decodeMessage(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      if (m.type === MsgType.labels) lat.push({ at: performance.now(), ms: at - m.captureTimeMs });
    });
    ws.on('error', () => {});
    await waitFor(`${graph}: first labels`, () => lat.length > 0);
    const startS = (performance.now() - t0) / 1000;
    await sleep(WARMUP * 1000);
    const m0 = await scrape();
    const c0 = treeCpuS(child.pid!);
    const w0 = performance.now();
    await sleep(SECONDS * 1000);
    const m1 = await scrape();
    const c1 = treeCpuS(child.pid!);
    const w1 = performance.now();
    ws.terminate();
    const secs = (w1 - w0) / 1000;
    const inWindow = lat.filter((x) => x.at >= w0 && x.at <= w1).map((x) => x.ms);
    const frames = sum(m1, 'rtsp_frames_total') - sum(m0, 'rtsp_frames_total');
    const d0 = series(m0, 'edge_drops_total');
    const d1 = series(m1, 'edge_drops_total');
    let segDrops = 0;
    let otherDrops = 0;
    for (const [k, v] of Object.entries(d1)) {
      const d = v - (d0[k] ?? 0);
      if (/→segment\.frame/.test(k)) segDrops += d;
      else otherDrops += d;
    }
    return {
      graph, startS, cameraFps: frames / secs, labelsFps: inWindow.length / secs, p50: pct(inWindow, 50), p99: pct(inWindow, 99),
      networkRuns: sum(m1, 'segmenter_path_total') - sum(m0, 'segmenter_path_total'), segDrops, otherDrops,
      wsDrops: sum(m1, 'ws_dropped_total') - sum(m0, 'ws_dropped_total'), cpuMsPerFrame: ((c1 - c0) * 1000) / frames,
    };
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${stderr.split('\n').slice(-10).join('\n')}`);
  } finally {
    child.kill('SIGINT');
    await Promise.race([new Promise((r) => child.once('exit', r)), sleep(10_000)]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

const port = await freePort();
const server = spawn('/usr/bin/python3', [SERVER, String(port), path.join(ROOT, 'samples', 'synthetic-road.mp4')], { stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise<void>((resolve, reject) => {
  server.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
  server.once('exit', () => reject(new Error('RTSP server exited')));
});
const dir = mkdtempSync(path.join(os.tmpdir(), 'segflow-bench-live-'));
const oldFile = path.join(dir, 'rtsp-live-monolithic.yaml');
writeFileSync(oldFile, OLD);
const rows: Row[] = [];
try {
  for (let i = 0; i < PAIRS; i++) {
    for (const [graph, file] of [['monolithic (before)', oldFile], ['decomposed (graphs/rtsp-live.yaml)', path.join(ROOT, 'graphs', 'rtsp-live.yaml')]] as const) {
      const r = await runOnce(graph, file, `rtsp://127.0.0.1:${port}/cam`);
      rows.push(r);
      console.error(JSON.stringify(r));
    }
  }
} finally {
  server.kill('SIGKILL');
}
const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '–');
console.log(`${SECONDS} s windows after ${WARMUP} s warm-up, /cam 30 fps, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}\n`);
console.log('| graph | start → first labels s | camera fps | labels fps (WebSocket) | latency p50 / p99 ms | network runs/s | drops: segmenter queue / other edges / ws client | CPU ms per camera frame |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.graph} | ${f(r.startS)} | ${f(r.cameraFps)} | ${f(r.labelsFps)} | ${f(r.p50, 0)} / ${f(r.p99, 0)} | ${f(r.networkRuns / SECONDS)} | ${r.segDrops} / ${r.otherDrops} / ${r.wsDrops} | ${f(r.cpuMsPerFrame)} |`);
