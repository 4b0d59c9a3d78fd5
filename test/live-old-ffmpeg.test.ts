/**
 * The camera path on an ffmpeg older than 5 (Ubuntu 22.04's 4.4; here the static build that
 * @ffmpeg-installer bundles as the fallback when no ffmpeg is installed): its concat demuxer takes
 * no `option` lines, so rtsp-source cannot hand it the URL on stdin (test/live-faults.test.ts) and
 * puts it on the command line as before, saying once that a password there is visible to local
 * users. Real GStreamer RTSP server, real (old) ffmpeg; the binary is chosen before any node opens.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import ava from 'ava';
import { registry } from '../nodes/index.ts';
import { concatTakesOptions } from '../nodes/rtsp-source.ts';
import { cameraGraph, ffmpegsFor, metric, ROOT, RTSP_SERVER, requireGstreamer, runLive, startRtspServer, testFrameSink, waitFor } from './helpers/live.ts';
import { needsShared } from './helpers/shared.ts';

const OLD = path.join(ROOT, 'node_modules', '@ffmpeg-installer', 'linux-x64', 'ffmpeg');
const test = needsShared(ava, RTSP_SERVER);

const reg = new Map([...registry, [testFrameSink.type, testFrameSink]]);

test('live-old-ffmpeg › the installed ffmpeg (≥ 5) takes ffconcat option lines; the bundled 2018 build does not', (t) => {
  t.true(concatTakesOptions('/usr/bin/ffmpeg'), 'ffmpeg 5+: the URL goes on stdin');
  if (!existsSync(OLD)) return t.pass(`skipped the old build: ${OLD} is not installed on this platform`);
  t.false(concatTakesOptions(OLD));
});

test.serial('live-old-ffmpeg › with an ffmpeg < 5 the URL is on its command line, frames flow, and the log says the password is visible', async (t) => {
  if (!existsSync(OLD)) return t.pass(`skipped: ${OLD} is not installed on this platform`);
  requireGstreamer();
  process.env.FFMPEG_PATH = OLD; // read once, when the first node opens (src/media/ffmpeg.ts)
  const server = await startRtspServer();
  const url = server.url('/cam').replace('rtsp://', 'rtsp://viewer:hunter2@'); // the test server ignores credentials
  const run = runLive({ yaml: cameraGraph(url) }, [], reg);
  try {
    await waitFor('frames through the old ffmpeg', () => metric(run.metrics, 'rtsp_frames_total', { node: 'camera' }) > 10, 30_000);
    t.true(run.log.some((l) => /password in rtsp:\/\/viewer:\*\*\*@.* is visible to local users/.test(l)), run.log.join('\n'));
    t.false(run.log.some((l) => l.includes('hunter2')), 'our own log masks it');
    // The old route: the URL (password and all) on the old ffmpeg's command line, as before.
    t.true(ffmpegsFor(server.port).some((f) => f.argv[0] === OLD && f.argv.includes(url)), 'the old ffmpeg runs with the URL on its command line');
  } finally {
    await run.stop().catch(() => undefined);
    await server.stop();
  }
});
