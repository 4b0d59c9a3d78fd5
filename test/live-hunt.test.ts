/**
 * Defects found by running the live graph (graphs/rtsp-live.yaml) against real RTSP servers that
 * misbehave; each test failed before its fix. Servers beyond the reference one (../shared/reference)
 * are small GStreamer scripts started here (python3-gi with gst-rtsp-server, as the reference needs).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import ava from 'ava';
import { freePort, metric, requireGstreamer, ROOT, RTSP_SERVER, runLive, startRtspServer } from './helpers/live.ts';
import { needsShared } from './helpers/shared.ts';

const test = needsShared(ava, RTSP_SERVER);
const GRAPH = path.join(ROOT, 'graphs', 'rtsp-live.yaml');
const PY = '/usr/bin/python3';

test.before(() => requireGstreamer());

/** A GStreamer RTSP server on a free port with one mount per `launch` entry (path → gst-launch description). */
async function startGstServer(mounts: Record<string, string>): Promise<{ url: (p: string) => string; stop: () => Promise<void> }> {
  const elements = [...new Set(Object.values(mounts).flatMap((l) => l.split('!').map((e) => e.replace(/[()]/g, '').trim().split(/\s+/)[0]!)))].filter((e) => e && !e.includes('/'));
  try {
    execFileSync(PY, ['-c', `import gi; gi.require_version('Gst','1.0'); from gi.repository import Gst; Gst.init(None); missing=[e for e in ${JSON.stringify(elements)} if not Gst.ElementFactory.find(e)]; assert not missing, missing`], { stdio: 'pipe', timeout: 20_000 });
  } catch (e) {
    throw new Error(`this test needs the GStreamer elements ${elements.join(', ')} (gstreamer1.0-plugins-good): ${String((e as { stderr?: Buffer }).stderr ?? e).trim().split('\n').pop()}`);
  }
  const port = await freePort();
  const script = [
    'import sys, gi',
    "gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0')",
    'from gi.repository import Gst, GstRtspServer, GLib',
    'Gst.init(None)',
    `server = GstRtspServer.RTSPServer(address='127.0.0.1', service='${port}')`,
    `for path, launch in ${JSON.stringify(Object.entries(mounts))}:`,
    '    f = GstRtspServer.RTSPMediaFactory(); f.set_launch(launch); f.set_shared(True)',
    '    server.get_mount_points().add_factory(path, f)',
    'server.attach(None)',
    "print('ready', flush=True)",
    'GLib.MainLoop().run()',
  ].join('\n');
  const proc: ChildProcess = spawn(PY, ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const ready = await new Promise<boolean>((resolve) => {
    const t = setTimeout(() => resolve(false), 20_000);
    proc.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && (clearTimeout(t), resolve(true)));
    proc.once('exit', () => (clearTimeout(t), resolve(false)));
  });
  const stop = () => new Promise<void>((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.once('exit', () => resolve());
    proc.kill('SIGKILL');
  });
  if (!ready) {
    await stop();
    throw new Error(`GStreamer RTSP server did not start: ${err.trim().split('\n').slice(-3).join(' | ')}`);
  }
  return { url: (p) => `rtsp://127.0.0.1:${port}${p}`, stop };
}

test.serial('live-hunt › a camera URL whose stream has no video track: the error says so (was "ffmpeg exited with code 1")', async (t) => {
  const server = await startGstServer({ '/audio': '( audiotestsrc is-live=true ! audioconvert ! alawenc ! rtppcmapay name=pay0 pt=8 )' });
  try {
    const wsPort = await freePort();
    const run = runLive({ file: GRAPH }, [`camera.url=${server.url('/audio')}`, `browser.port=${wsPort}`, 'camera.maxReconnects=1', 'camera.reconnectInitialMs=100']);
    const err = await t.throwsAsync(run.result);
    t.log(err!.message);
    t.regex(err!.message, /camera: rtsp:\/\/127\.0\.0\.1:\d+\/audio: no frames after 1 reconnects in a row; expected a reachable camera, got: no video track in the stream \(only audio pcm_alaw\)/);
    t.true(run.log.some((l) => /disconnected \(error: no video track in the stream \(only audio pcm_alaw\)\)/.test(l)), run.log.join('\n'));
    t.is(metric(run.metrics, 'rtsp_frames_total', { node: 'camera' }), 0);
  } finally {
    await server.stop();
  }
});

test.serial('live-hunt › a camera URL that points at an HTTP server: the error says the answer is not RTSP (was "Invalid data found when processing input")', async (t) => {
  const http = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>camera web page</html>\n'));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', () => resolve()));
  const port = (http.address() as AddressInfo).port;
  try {
    const run = runLive({ file: GRAPH }, [`camera.url=rtsp://admin:s3cret@127.0.0.1:${port}/stream1`, `browser.port=${await freePort()}`, 'camera.maxReconnects=1', 'camera.reconnectInitialMs=100']);
    const err = await t.throwsAsync(run.result);
    t.log(err!.message);
    t.regex(err!.message, /camera: rtsp:\/\/admin:\*\*\*@127\.0\.0\.1:\d+\/stream1: no frames after 1 reconnects in a row; expected a reachable camera, got: the server's answer is not RTSP \(ffmpeg: Invalid data found when processing input\); is this the camera's RTSP port \(usually 554\) and not its web port\?/);
    t.false([err!.message, ...run.log].some((l) => l.includes('s3cret')), 'the password is nowhere in the error or the log');
  } finally {
    http.closeAllConnections();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  }
});

test.serial('live-hunt › rtsps:// to a camera that speaks plain RTSP: the error says TLS failed and asks about the scheme (was "Input/output error")', async (t) => {
  const server = await startRtspServer();
  try {
    const run = runLive({ file: GRAPH }, [`camera.url=${server.url('/cam').replace('rtsp://', 'rtsps://')}`, `browser.port=${await freePort()}`, 'camera.maxReconnects=1', 'camera.reconnectInitialMs=100']);
    const err = await t.throwsAsync(run.result);
    t.log(err!.message);
    t.regex(err!.message, /camera: rtsps:\/\/127\.0\.0\.1:\d+\/cam: no frames after 1 reconnects in a row; expected a reachable camera, got: TLS failed \(.+\): does the camera take rtsps:\/\/ \(RTSP over TLS\) on this port, or plain rtsp:\/\/\?/);
  } finally {
    await server.stop();
  }
});
