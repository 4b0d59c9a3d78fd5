/**
 * The decomposed live graph (graphs/rtsp-live.yaml: keyframe-scheduler → two-branch-segmenter on key
 * frames in its own executor behind a freshest queue → label-propagation `live` on the main thread)
 * against the real reference RTSP server (GStreamer, 30 fps): every camera frame that reaches the
 * propagation gets labels at camera rate with bounded latency and every drop counted; non-key frames
 * never reach the network; after a camera drop the propagation resets and the scheduler forces a key
 * frame. Load-sensitive bounds are generous: the machine is shared.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ava from 'ava';
import { liveOrigin } from '../src/core/live-clock.ts';
import type { Labels } from '../src/core/packet.ts';
import type { Metrics } from '../src/core/runtime/metrics.ts';
import { ffmpegPaths } from '../src/media/ffmpeg.ts';
import { freePort, metric, percentile, requireGstreamer, ROOT, RTSP_SERVER, runLive, sleep, startRtspServer, waitFor, type LiveRun } from './helpers/live.ts';
import { needsShared } from './helpers/shared.ts';

const test = needsShared(ava, RTSP_SERVER);
const GRAPH = path.join(ROOT, 'graphs', 'rtsp-live.yaml');
const camera = { node: 'camera' };

test.before(() => requireGstreamer());

const out = (m: Metrics, node: string, port: string) => metric(m, 'node_output_packets_total', { node, port });
const drops = (m: Metrics) => Object.fromEntries([...m.edges.values()].map((e) => [e.name, e.drops]));
/** The labels the browser sink finished (one per frame it sent). */
const sent = (run: LiveRun) => run.done.filter((d) => d.sink === 'browser').map((d) => ({ l: d.p as Labels, at: d.at }));

test.serial('rtsp-live (decomposed) › every camera frame labelled at camera rate, bounded latency, drops counted; non-key frames never reach the network', async (t) => {
  const server = await startRtspServer();
  const wsPort = await freePort();
  const run = runLive({ file: GRAPH }, [`camera.url=${server.url('/cam')}`, `browser.port=${wsPort}`]);
  try {
    await waitFor('first labels out', () => sent(run).length > 0, 30_000);
    await sleep(1000); // the model warms up
    const frames0 = metric(run.metrics, 'rtsp_frames_total', camera);
    const sent0 = sent(run).length;
    const t0 = performance.now();
    await sleep(8000);
    const secs = (performance.now() - t0) / 1000;
    const cameraFps = (metric(run.metrics, 'rtsp_frames_total', camera) - frames0) / secs;
    const window = sent(run).slice(sent0);
    const origin = liveOrigin(run.metrics, 'camera')!;
    const latency = window.map((s) => s.at - (origin + s.l.ptsMs));
    await run.stop();
    const m = run.metrics;
    const keysIn = out(m, 'keys', 'frame');
    const keyFrames = out(m, 'keys', 'keyframes');
    const toCarry = m.edges.get('keys.frame→carry.frame')!;
    const toSegment = m.edges.get('keys.keyframes→segment.frame')!;
    const full = metric(m, 'segmenter_path_total', { node: 'segment', path: 'full' });
    const labelled = out(m, 'carry', 'labels');
    const unlabelled = metric(m, 'propagation_unlabelled_total', { node: 'carry' });
    t.log(`camera ${cameraFps.toFixed(1)} fps; labels to the browser ${(window.length / secs).toFixed(1)} fps; latency camera receipt → sent p50 ${percentile(latency, 50).toFixed(0)} ms, p99 ${percentile(latency, 99).toFixed(0)} ms`);
    t.log(`frames through the scheduler ${keysIn}, key frames ${keyFrames}, network runs ${full}; labelled ${labelled}, unlabelled ${unlabelled}; drops ${JSON.stringify(drops(m))}`);
    t.log(`segment node: ${m.node('segment').frames} frames timed, p50 ${m.node('segment').percentile(50).toFixed(1)} ms, p99 ${m.node('segment').percentile(99).toFixed(1)} ms`);
    t.true(cameraFps > 20, `camera ${cameraFps.toFixed(1)} fps; expected ≈ 30`);
    // Every frame the scheduler passed on reached the propagation or was dropped on its edge (counted), and
    // every frame that reached it was labelled: none left waiting but the few in flight when the run stopped.
    const reached = toCarry.delivered;
    t.is(reached + toCarry.drops + toCarry.depth, keysIn, 'keys → carry: delivered + dropped + waiting = passed on');
    // (Unlabelled: only frames held past historyFrames while the first network run warms up, counted.)
    t.true(labelled + unlabelled <= reached && reached - labelled - unlabelled <= 3, `labelled ${labelled} + unlabelled ${unlabelled} of ${reached} frames that reached the propagation`);
    t.true(window.length > secs * 12, `labels at camera rate: ${window.length} in ${secs.toFixed(1)} s`);
    const seqs = window.map((s) => s.l.seq);
    t.true(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!), 'in order');
    t.true(percentile(latency, 99) < 1500, `latency p99 ${percentile(latency, 99).toFixed(0)} ms; expected bounded`);
    // Non-key frames never reach the network: only the scheduler's key frames go to the segmenter, and it ran the
    // whole network once per key frame it took (a freshest queue of one drops older key frames, counted).
    t.true(keyFrames < keysIn * 0.6, `key frames ${keyFrames} of ${keysIn}`);
    t.is(toSegment.delivered + toSegment.drops + toSegment.depth, keyFrames, 'keys → segment: every key frame delivered, dropped (counted) or waiting');
    t.true(toSegment.maxDepth <= 1);
    t.true(full <= toSegment.delivered && toSegment.delivered - full <= 1, `network runs ${full} = key frames delivered ${toSegment.delivered}`);
    for (const path of ['shallow', 'fused', 'propagated', 'features']) t.is(metric(m, 'segmenter_path_total', { node: 'segment', path }), 0, `no ${path} runs`);
    t.true(window.some((s) => s.l.path === 'propagated'), 'frames between key frames: labels carried by motion');
    // The segmenter's statistics cover every packet it took in.
    t.true(Math.abs(m.node('segment').frames - toSegment.delivered) <= 1, `segment timed ${m.node('segment').frames} of ${toSegment.delivered}`);
  } finally {
    await run.stop();
    await server.stop();
  }
});

test.serial('rtsp-live (decomposed) › a camera drop: propagation resets, the scheduler forces a key frame, every frame after it labelled', async (t) => {
  const server = await startRtspServer();
  const wsPort = await freePort();
  const run = runLive({ file: GRAPH }, [`camera.url=${server.url('/cam')}`, `browser.port=${wsPort}`, 'camera.reconnectInitialMs=200', 'camera.reconnectMaxMs=1000']);
  try {
    await waitFor('labels before the drop', () => sent(run).length > 20, 30_000);
    await server.kill();
    await waitFor('disconnect noticed', () => metric(run.metrics, 'rtsp_connected', camera) === 0, 10_000);
    await sleep(800); // the frames before the drop are all out
    const lastSeq = Math.max(...sent(run).map((s) => s.l.seq));
    const fullBefore = metric(run.metrics, 'segmenter_path_total', { node: 'segment', path: 'full' });
    await server.restart();
    const first = await waitFor('labels marked reconnect', () => sent(run).find((s) => s.l.discontinuity === 'reconnect'), 25_000);
    await waitFor('frames after the reconnect', () => sent(run).filter((s) => s.l.seq > first.l.seq).length >= 30, 15_000);
    const after = sent(run).filter((s) => s.l.seq > lastSeq);
    t.log(`first labels after the reconnect: seq ${first.l.seq} (${first.l.path}); ${after.length} labelled since; drops ${JSON.stringify(drops(run.metrics))}`);
    t.true(first.l.seq > lastSeq, 'seq keeps increasing across the reconnect');
    t.is(after[0]!.l.seq, first.l.seq, 'nothing went out between the drop and the first labels of the new picture: no old labels carried across it');
    t.is(first.l.path, 'full', 'the first frame after the drop: a forced key frame, with its own labels');
    t.true(metric(run.metrics, 'segmenter_path_total', { node: 'segment', path: 'full' }) > fullBefore);
    t.is(metric(run.metrics, 'propagation_unlabelled_total', { node: 'carry' }), 0);
    // Every frame after it that reached the propagation was labelled: gaps only where an edge dropped one (counted).
    const seqs = after.map((s) => s.l.seq);
    const gaps = seqs.slice(1).reduce((n, s, i) => n + (s - seqs[i]! - 1), 0);
    const edgeDrops = ['camera.frame→small.frame', 'small.frame→keys.frame', 'keys.frame→carry.frame', 'carry.labels→browser.labels'].reduce((n, e) => n + (run.metrics.edges.get(e)?.drops ?? 0), 0);
    t.true(gaps <= edgeDrops, `${gaps} frames missing after the reconnect, ${edgeDrops} dropped on edges`);
  } finally {
    await run.stop();
    await server.stop();
  }
});

test.serial('rtsp-live-every-frame › every frame a key frame: the network on as many as it takes (the rest dropped, counted), every frame labelled', async (t) => {
  const server = await startRtspServer();
  const wsPort = await freePort();
  const run = runLive({ file: path.join(ROOT, 'graphs', 'rtsp-live-every-frame.yaml') }, [`camera.url=${server.url('/cam')}`, `browser.port=${wsPort}`]);
  try {
    await waitFor('first labels out', () => sent(run).length > 0, 30_000);
    await sleep(6000);
    await run.stop();
    const m = run.metrics;
    const keysIn = out(m, 'keys', 'frame');
    const toSegment = m.edges.get('keys.keyframes→segment.frame')!;
    const toCarry = m.edges.get('keys.frame→carry.frame')!;
    const full = metric(m, 'segmenter_path_total', { node: 'segment', path: 'full' });
    const labelled = out(m, 'carry', 'labels') + metric(m, 'propagation_unlabelled_total', { node: 'carry' });
    t.log(`camera frames ${metric(m, 'rtsp_frames_total', camera)}, dropped before the scheduler ${m.edges.get('small.frame→keys.frame')!.drops + m.edges.get('camera.frame→small.frame')!.drops}; frames ${keysIn}; network runs ${full}, dropped before the network ${toSegment.drops}; labelled ${labelled}`);
    t.is(out(m, 'keys', 'keyframes'), keysIn, 'every frame is a key frame');
    t.is(toSegment.delivered + toSegment.drops + toSegment.depth, keysIn);
    t.true(full <= toSegment.delivered && toSegment.delivered - full <= 1);
    t.true(toCarry.delivered - labelled <= 3, `labelled ${labelled} of ${toCarry.delivered}`);
    // The frames the network did not take (dropped on its freshest edge, counted) were labelled too, by motion. (Not
    // `labelled > full`: where the network keeps up with the camera, nothing is dropped and the two are equal.)
    t.true(labelled >= full + toSegment.drops - 3, `labelled ${labelled}: the network's ${full} and the ${toSegment.drops} frames dropped before it`);
  } finally {
    await run.stop();
    await server.stop();
  }
});

test.serial('rtsp-live › a 4:3 camera is not squashed: 640x480 from the camera, labels and frames at 480x360 (aspect kept), the browser gets them', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'segflow-43-'));
  // A 4:3 H.264 camera picture (the server loops the file without re-encoding).
  const clip = path.join(dir, 'cam43.mp4');
  execFileSync(ffmpegPaths().ffmpeg, ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25', '-t', '3', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-pix_fmt', 'yuv420p', '-y', clip]);
  const server = await startRtspServer(clip);
  const wsPort = await freePort();
  const run = runLive({ file: GRAPH }, [`camera.url=${server.url('/file')}`, `browser.port=${wsPort}`]);
  try {
    await waitFor('first labels out', () => sent(run).length > 0, 30_000);
    const l = sent(run)[0]!.l;
    t.deepEqual([l.width, l.height], [480, 360], 'the model-size labels keep the camera\'s 4:3');
    t.true(run.log.some((s) => /connected: 640x480\b/.test(s)), `the camera scaled to 640x480, aspect kept: ${run.log.filter((s) => /connected/.test(s)).join(' | ')}`);
  } finally {
    await run.stop();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
