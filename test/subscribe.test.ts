/**
 * `segflow subscribe` and the package's `subscribe()` (src/net/ws/client.ts) against a real
 * `segflow run` process: a realtime file decoder → the trained segmenter → a websocket-sink with a
 * token, on a free port. Per-frame lines (text and JSON: seq, size, class shares), the token from
 * the environment, a refused subscription (401, 404), Ctrl-C (130) and the stream's end (0).
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { streamUrl, subscribe } from '../src/net/ws/client.ts';
import { classShares } from '../src/apps/subscribe.ts';
import { BIN, ROOT, SAMPLE, spawnSegflow, tmpDir, watchChild } from './helpers/cli.ts';
import { freePort, waitFor } from './helpers/live.ts';
import { ffmpeg } from './helpers/videos.ts';

const TOKEN = 'tok-3f9a';
let port = 0;
let run: ReturnType<typeof spawnSegflow>;
let runW: ReturnType<typeof watchChild>;

function sub(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, 'subscribe', ...args], { cwd: ROOT, env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }));
  });
}

test.before(async () => {
  const dir = tmpDir('segflow-subscribe-');
  // 30 s at 10 fps, 160x96: the decoder reads it at its real pace.
  const clip = path.join(dir, 'road.mp4');
  await ffmpeg(['-stream_loop', '7', '-i', SAMPLE, '-vf', 'scale=160:96,fps=10', '-t', '30', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', clip]);
  port = await freePort();
  const graph = path.join(dir, 'ws.yaml');
  writeFileSync(graph, `version: 1
nodes:
  decode:  { type: decoder, options: { path: "${clip}", realtime: true } }
  segment: { type: two-branch-segmenter, options: { threads: 1 }, in: { frame: decode.frame } }
  browser: { type: websocket-sink, options: { port: ${port}, stream: road, token: ${TOKEN} }, in: { labels: segment.labels, frame: decode.frame } }
`);
  run = spawnSegflow(['run', graph]);
  runW = watchChild(run);
  await runW.until(/browser: stream 'road' on http/, 60_000).catch((e: Error) => {
    throw new Error(`${e.message}\n${runW.text()}`);
  });
});

test.after.always(() => {
  if (run.exitCode === null && run.signalCode === null) run.kill('SIGKILL');
});

test.serial('subscribe › --json: a line a frame (seq increasing, the size, class shares of CamVid names summing to 1), the token from SEGFLOW_WS_TOKEN; --frames N stops after N', async (t) => {
  const r = await sub([`ws://127.0.0.1:${port}/ws?stream=road`, '--frames', '5', '--json'], { SEGFLOW_WS_TOKEN: TOKEN });
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { stream: string; seq: number; width: number; height: number; keyframe: boolean; latencyMs: number; missed: number; shares: Record<string, number> });
  t.is(lines.length, 5);
  t.true(lines.every((l, i) => i === 0 || l.seq > lines[i - 1]!.seq));
  for (const l of lines) {
    t.like(l, { stream: 'road', width: 160, height: 96 });
    const sum = Object.values(l.shares).reduce((a, b) => a + b, 0);
    t.true(Math.abs(sum - 1) < 0.002, JSON.stringify(l.shares));
    t.true(Object.keys(l.shares).every((k) => ['Sky', 'Building', 'Pole', 'Road', 'Pavement', 'Tree', 'SignSymbol', 'Fence', 'Car', 'Pedestrian', 'Bicyclist'].includes(k)), JSON.stringify(l.shares));
    t.true(l.latencyMs >= 0 && l.latencyMs < 5000);
  }
});

test.serial('subscribe › the text lines, and the server\'s only stream found without ?stream=', async (t) => {
  const r = await sub([`http://127.0.0.1:${port}/`, '--frames', '3', '--token', TOKEN]);
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.is(lines.length, 3);
  for (const l of lines) t.regex(l, /^road #\d+ 160x96( key)?: (\w+ \d+%, ){0,4}\w+ \d+% \([\d.]+ ms\)$/);
});

test.serial('subscribe › refused: no token (401), a stream the server does not have (404), nobody there; a bad address is a usage error', async (t) => {
  const noToken = await sub([`ws://127.0.0.1:${port}/ws?stream=road`, '--frames', '1']);
  t.is(noToken.code, 1);
  t.is(noToken.stderr, `segflow: ws://127.0.0.1:${port}/ws?stream=road: the server refused the subscription: HTTP 401 (wrong or missing token)\n`);
  const noStream = await sub([`ws://127.0.0.1:${port}/ws?stream=rear`, '--frames', '1', '--token', TOKEN]);
  t.is(noStream.code, 1);
  t.regex(noStream.stderr, /HTTP 404 \(no stream rear there\)/);
  const nobody = await sub([`ws://127.0.0.1:${await freePort()}/ws?stream=road`]);
  t.is(nobody.code, 1);
  t.regex(nobody.stderr, /cannot reach the server \(ECONNREFUSED\)/);
  const bad = await sub(['ftp://x']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /expected a ws:\/\/ \(or http:\/\/\) address, got ftp:/);
});

test.serial('subscribe › the library: frames with decoded class ids, names and palette, the JPEG of the same seq; an abort ends the iteration', async (t) => {
  const stop = new AbortController();
  const got = [];
  for await (const f of subscribe(`ws://127.0.0.1:${port}`, { stream: 'road', token: TOKEN, signal: stop.signal })) {
    got.push(f);
    t.is(f.classIds.length, f.width * f.height);
    t.true(Math.max(...f.classIds) < f.classes.length);
    t.is(f.palette.length, f.classes.length);
    t.truthy(f.jpeg, 'the stream sends video: its JPEG comes with the labels');
    t.deepEqual([...f.jpeg!.subarray(0, 2)], [0xff, 0xd8]);
    if (got.length === 3) stop.abort();
  }
  t.is(got.length, 3);
});

/** `segflow subscribe` to the run's stream, in the background, once it has printed its first line. */
async function subscribed(): Promise<{ child: ReturnType<typeof spawnSegflow>; exit: Promise<number | null>; out: () => string; err: () => string }> {
  const child = spawnSegflow(['subscribe', `ws://127.0.0.1:${port}/ws?stream=road`, '--token', TOKEN]);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const w = watchChild(child);
  await waitFor('a line', () => out.includes('\n'), 30_000);
  return { child, exit: w.exit, out: () => out, err: () => w.text() };
}

test.serial('subscribe › Ctrl-C stops it (exit 130); the stream\'s end ends it (exit 0)', async (t) => {
  const c = await subscribed();
  c.child.kill('SIGINT');
  t.is(await c.exit, 130, c.err());
  // Until the end: the run stopped by Ctrl-C ends its stream (the sink says `end`, closes 1001).
  const d = await subscribed();
  run.kill('SIGINT');
  t.is(await d.exit, 0, d.err());
  t.regex(d.out(), /^road #\d+ 160x96/);
  await runW.exit;
});

test('subscribe › addresses: the viewer\'s http:// address, ws:// with or without /ws and ?stream=, a stream named apart', (t) => {
  t.deepEqual(streamUrl('http://10.0.0.5:8090/?stream=cam0&token=x'), { url: 'ws://10.0.0.5:8090/ws?stream=cam0', stream: 'cam0' });
  t.deepEqual(streamUrl('https://cams.example/'), { url: 'wss://cams.example/ws', stream: undefined });
  t.deepEqual(streamUrl('ws://127.0.0.1:8090/ws?stream=a', 'b'), { url: 'ws://127.0.0.1:8090/ws?stream=b', stream: 'b' });
  t.throws(() => streamUrl('127.0.0.1:8090'), { message: /expected a ws:\/\/ \(or http:\/\/\) address|expected ws:\/\/HOST:PORT/ });
  const f = { classIds: Uint8Array.from([0, 0, 2, 2, 2, 2, 7, 0]), classes: ['Sky', 'Building', 'Road'] } as never;
  t.deepEqual(classShares(f), [['Road', 0.5], ['Sky', 0.375], ['class 7', 0.125]]);
});
