/**
 * Three faults of the live path, each against a real GStreamer RTSP server and a real ffmpeg:
 * a wrong path (404) or a refused password (401) ends the run at once with a clear error instead
 * of being retried; the camera password never reaches ffmpeg's command line (/proc/PID/cmdline),
 * with reconnects still working; a Ctrl-C during `segflow run`'s start-up stops it cleanly.
 * Servers needing a password are small GStreamer scripts started here (GstRtspServer.RTSPAuth,
 * basic authentication), as the reference server (../shared/reference) has none.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import path from 'node:path';
import ava from 'ava';
import { registry } from '../nodes/index.ts';
import { cameraGraph, ffmpegsFor, freePort, metric, requireGstreamer, ROOT, RTSP_SERVER, runLive, sleep, startRtspServer, testFrameSink, waitFor } from './helpers/live.ts';
import { needsShared } from './helpers/shared.ts';

const test = needsShared(ava, RTSP_SERVER);
const PY = '/usr/bin/python3';

test.before(() => requireGstreamer());

const reg = new Map([...registry, [testFrameSink.type, testFrameSink]]);

/**
 * A GStreamer RTSP server serving a 30 fps test pattern at `mount`, with basic authentication
 * (user/password) when `auth` is given. `restart(mount)` starts it again on the same port, with
 * that mount (a camera that comes back without the stream at first: 404).
 */
async function startCamera(opts: { auth?: { user: string; password: string }; mount?: string } = {}) {
  const port = await freePort();
  let proc: ChildProcess | undefined;
  const script = (mount: string) => [
    'import sys, gi',
    "gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0')",
    'from gi.repository import Gst, GstRtspServer, GLib',
    'Gst.init(None)',
    `server = GstRtspServer.RTSPServer(address='127.0.0.1', service='${port}')`,
    'f = GstRtspServer.RTSPMediaFactory()',
    "f.set_launch('( videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=180,framerate=30/1 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! rtph264pay name=pay0 pt=96 config-interval=1 )')",
    'f.set_shared(True)',
    ...(opts.auth ? [
      'auth = GstRtspServer.RTSPAuth()',
      "token = GstRtspServer.RTSPToken.new(); token.set_string('media.factory.role', 'viewer')",
      `auth.add_basic(GstRtspServer.RTSPAuth.make_basic(${JSON.stringify(opts.auth.user)}, ${JSON.stringify(opts.auth.password)}), token)`,
      'server.set_auth(auth)',
      "f.add_role_from_structure(Gst.Structure.from_string('viewer, media.factory.access=(boolean)true, media.factory.construct=(boolean)true')[0])",
    ] : []),
    `server.get_mount_points().add_factory(${JSON.stringify(mount)}, f)`,
    'server.attach(None)',
    "print('ready', flush=True)",
    'GLib.MainLoop().run()',
  ].join('\n');
  const stop = () => new Promise<void>((resolve) => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return resolve();
    p.once('exit', () => resolve());
    p.kill('SIGKILL');
  });
  const start = async (mount: string) => {
    for (let attempt = 0; ; attempt++) {
      const p = spawn(PY, ['-c', script(mount)], { stdio: ['ignore', 'pipe', 'pipe'] });
      proc = p;
      let err = '';
      p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      const ready = await new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(false), 20_000);
        p.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && (clearTimeout(t), resolve(true)));
        p.once('exit', () => (clearTimeout(t), resolve(false)));
      });
      if (ready) return;
      await stop();
      // The port can linger for a moment after a kill; retry briefly.
      if (attempt >= 20) throw new Error(`GStreamer RTSP server did not start: ${err.trim().split('\n').slice(-3).join(' | ')}`);
      await sleep(250);
    }
  };
  await start(opts.mount ?? '/cam');
  return { port, url: (p: string, cred = '') => `rtsp://${cred}127.0.0.1:${port}${p}`, restart: start, stop };
}

test.serial('live-faults › a wrong stream path (404) ends the run at once with an error naming the camera and the path to check; not retried', async (t) => {
  const server = await startRtspServer();
  try {
    // maxReconnects 0 = retry forever: before the fix this run never ended.
    const url = server.url('/cam').replace('rtsp://', 'rtsp://admin:hunter2@').replace('/cam', '/stream9');
    const t0 = performance.now();
    const run = runLive({ yaml: cameraGraph(url) }, [], reg);
    const err = await t.throwsAsync(run.result);
    const ms = performance.now() - t0;
    t.log(`${ms.toFixed(0)} ms: ${err!.message}`);
    t.regex(err!.message, /^camera: rtsp:\/\/admin:\*\*\*@127\.0\.0\.1:\d+\/stream9: the camera has no stream at this path \(RTSP 404 Not Found\); check the path after host:port .*; not retried$/);
    t.is(metric(run.metrics, 'rtsp_reconnects_total', { node: 'camera' }), 0, 'ffmpeg started once');
    t.is(metric(run.metrics, 'rtsp_disconnects_total', { node: 'camera', reason: 'rtsp-404' }), 1);
    t.false([err!.message, ...run.log].some((l) => l.includes('hunter2')), 'the password is nowhere in the error or the log');
    t.true(ms < 30_000, `ended after ${ms.toFixed(0)} ms`);
    t.deepEqual(ffmpegsFor(server.port), [], 'no ffmpeg left');
  } finally {
    await server.stop();
  }
});

test.serial('live-faults › a refused password (401) ends the run at once, says to check the password, masks it; no password at all says to add one', async (t) => {
  const server = await startCamera({ auth: { user: 'alice', password: 'right-one' } });
  try {
    const run = runLive({ yaml: cameraGraph(server.url('/cam', 'alice:wrong-one@')) }, [], reg);
    const err = await t.throwsAsync(run.result);
    t.log(err!.message);
    t.regex(err!.message, /^camera: rtsp:\/\/alice:\*\*\*@127\.0\.0\.1:\d+\/cam: the camera refused the user name or password \(RTSP 401 Unauthorized\); check them in the URL .*; not retried$/);
    t.is(metric(run.metrics, 'rtsp_reconnects_total', { node: 'camera' }), 0, 'ffmpeg started once');
    t.false([err!.message, ...run.log].some((l) => l.includes('wrong-one')), 'the password is nowhere in the error or the log');

    const bare = runLive({ yaml: cameraGraph(server.url('/cam')) }, [], reg);
    const err2 = await t.throwsAsync(bare.result);
    t.regex(err2!.message, /^camera: rtsp:\/\/127\.0\.0\.1:\d+\/cam: the camera asks for a user name and password \(RTSP 401 Unauthorized\); put them in the URL: rtsp:\/\/USER:PASSWORD@host:port\/path; not retried$/);
    t.is(metric(bare.metrics, 'rtsp_reconnects_total', { node: 'camera' }), 0);
  } finally {
    await server.stop();
  }
});

test.serial('live-faults › a 403 Forbidden (a minimal RTSP server on a real socket) ends the run at once, not retried', async (t) => {
  // GstRtspServer answers 401 for an account without access; this one answers DESCRIBE with 403.
  let describes = 0;
  const socks = new Set<Socket>();
  const server = createServer((sock) => {
    socks.add(sock);
    sock.once('close', () => socks.delete(sock));
    let buf = '';
    sock.on('error', () => {});
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const req = buf.slice(0, end);
        buf = buf.slice(end + 4);
        const cseq = /^CSeq:\s*(\d+)/im.exec(req)?.[1] ?? '0';
        if (req.startsWith('DESCRIBE')) describes++;
        sock.write(req.startsWith('OPTIONS')
          ? `RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n\r\n`
          : `RTSP/1.0 403 Forbidden\r\nCSeq: ${cseq}\r\n\r\n`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  try {
    const port = (server.address() as AddressInfo).port;
    const run = runLive({ yaml: cameraGraph(`rtsp://bob:letmein@127.0.0.1:${port}/cam`) }, [], reg);
    const err = await t.throwsAsync(run.result);
    t.log(err!.message);
    t.regex(err!.message, /^camera: rtsp:\/\/bob:\*\*\*@127\.0\.0\.1:\d+\/cam: the camera refused access to this stream \(RTSP 403 Forbidden\); check that the account may view it, and the stream path; not retried$/);
    t.is(describes, 1, 'asked once');
    t.is(metric(run.metrics, 'rtsp_reconnects_total', { node: 'camera' }), 0);
    t.false([err!.message, ...run.log].some((l) => l.includes('letmein')));
  } finally {
    for (const sock of socks) sock.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test.serial('live-faults › the password reaches the camera but not ffmpeg\'s command line; a dropped camera and a 404 while it restarts are reconnected', async (t) => {
  const password = "s3cr:et/pa'ss";
  const server = await startCamera({ auth: { user: 'alice', password } });
  const run = runLive({ yaml: cameraGraph(server.url('/cam', `alice:${encodeURIComponent(password)}@`), ', reconnectInitialMs: 100, reconnectMaxMs: 400') }, [], reg);
  const frames = () => metric(run.metrics, 'rtsp_frames_total', { node: 'camera' });
  try {
    await waitFor('frames from the camera that needs the password', () => frames() > 10, 30_000);
    const [ff, ...more] = ffmpegsFor(server.port);
    t.truthy(ff, 'ffmpeg found by the masked URL on its command line');
    t.is(more.length, 0);
    const cmdline = ff!.argv.join(' ');
    t.log(`/proc/${ff!.pid}/cmdline: ${cmdline}`);
    for (const secret of [password, encodeURIComponent(password), 's3cr']) t.false(cmdline.includes(secret), `'${secret}' in ffmpeg's command line`);
    t.true(ff!.argv.includes(`comment=segflow rtsp-source rtsp://alice:***@127.0.0.1:${server.port}/cam`));

    // The camera dies, comes back first without its stream (404: still booting), then with it.
    await server.stop();
    await waitFor('disconnect noticed', () => metric(run.metrics, 'rtsp_connected', { node: 'camera' }) === 0, 15_000);
    await server.restart('/booting');
    await waitFor('a 404 from the restarting camera', () => run.log.some((l) => /disconnected \(error: Server returned 404 Not Found\)/.test(l)), 20_000);
    const before = frames();
    await server.stop();
    await server.restart('/cam');
    await waitFor('frames again after the restart', () => frames() > before + 10, 30_000);
    t.true(metric(run.metrics, 'rtsp_reconnects_total', { node: 'camera' }) >= 2);
    t.is(metric(run.metrics, 'rtsp_connected', { node: 'camera' }), 1);
    const again = ffmpegsFor(server.port);
    t.is(again.length, 1, 'one ffmpeg after the reconnects');
    t.false(again[0]!.argv.join(' ').includes('s3cr'));
    t.false(run.log.some((l) => l.includes('s3cr')), run.log.join('\n'));
    const res = await run.stop();
    t.true(res.interrupted);
  } finally {
    await run.stop().catch(() => undefined);
    await server.stop();
  }
  await waitFor('no ffmpeg left', () => ffmpegsFor(server.port).length === 0, 10_000);
});

test.serial('live-faults › Ctrl-C during `segflow run` start-up (before the handler, while the graph opens, at the first frames) stops it with no ffmpeg left', async (t) => {
  const server = await startRtspServer();
  try {
    // The moments: at once (Node still loading: killed by the signal, as any program), once the
    // metrics server is up (the graph opening, the model loading in its thread), once the camera
    // is connected. Each waits for its moment, not for a fixed time.
    const moments: [string, (out: string) => boolean][] = [
      ['at once', () => true],
      ['graph opening', (out) => /metrics on http:/.test(out)],
      ['camera connected', (out) => /camera: connected: /.test(out)],
    ];
    for (const [moment, ready] of moments) {
      const [wsPort, metricsPort] = [await freePort(), await freePort()];
      const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'segflow.js'), 'run', path.join(ROOT, 'graphs', 'rtsp-live.yaml'), '--set', `camera.url=${server.url('/cam').replace('rtsp://', 'rtsp://u:pw@')}`, '--set', `browser.port=${wsPort}`, '--metrics-port', String(metricsPort)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
      try {
        await waitFor(`${moment}\n${out}`, () => ready(out) || child.exitCode !== null, 60_000, 5);
        t.is(child.exitCode, null, `${moment}: exited before the signal\n${out}`);
        const sentAt = performance.now();
        child.kill('SIGINT');
        const end = await Promise.race([exited, sleep(30_000).then(() => undefined)]);
        t.truthy(end, `${moment}: still running 30 s after SIGINT\n${out}`);
        t.log(`SIGINT ${moment}: exit ${end?.code ?? end?.signal} ${(performance.now() - sentAt).toFixed(0)} ms later`);
        // A shell reports both as 130: killed by SIGINT (before the handler, or while the graph opens:
        // nothing to finish, and the model loading in its thread is not waited for) or exit 130 (a
        // graceful stop once the graph runs: summary printed).
        if (moment === 'at once') t.true(end?.code === 130 || end?.signal === 'SIGINT', `${moment}: exit ${end?.code} ${end?.signal}\n${out}`);
        else if (moment === 'graph opening') {
          t.is(end?.signal, 'SIGINT', `${moment}: exit ${end?.code} ${end?.signal}\n${out}`);
          t.regex(out, /SIGINT: stopping; the graph was still opening/);
        } else {
          t.is(end?.code, 130, `${moment}: exit ${end?.code} ${end?.signal}\n${out}`);
          t.regex(out, /interrupted: \d+ frames/);
        }
        t.false(out.includes(':pw@'), 'the password is not in the output');
        await waitFor('no ffmpeg left', () => ffmpegsFor(server.port).length === 0, 10_000);
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
    }
  } finally {
    await server.stop();
  }
});
