import { mkdirSync } from 'node:fs';
import path from 'node:path';
import ava from 'ava';
import { chromium } from 'playwright-core';
import { CHROMIUM, freePort, requireChromium, requireGstreamer, ROOT, RTSP_SERVER, runLive, startRtspServer, waitFor } from './helpers/live.ts';
import { needsShared } from './helpers/shared.ts';

const test = needsShared(ava, RTSP_SERVER);

test.before(() => {
  requireGstreamer();
  requireChromium();
});

interface CanvasStats {
  width: number;
  height: number;
  /** Share of pixels equal (±3 per channel) to a palette colour. */
  paletteShare: number;
  /** Palette entries covering at least 0.5 % of the canvas. */
  classesSeen: number;
  /** Distinct colours, quantised to 4 bits per channel. */
  distinctColours: number;
}

test.serial('viewer › draws masks', async (t) => {
  const server = await startRtspServer();
  const wsPort = await freePort();
  const token = 'viewer-token-42';
  const run = runLive({ file: path.join(ROOT, 'graphs', 'rtsp-live.yaml') }, [`camera.url=${server.url('/file')}`, `browser.port=${wsPort}`, `browser.token=${token}`]);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
  try {
    await waitFor('websocket-sink', () => fetch(`http://127.0.0.1:${wsPort}/health`).then((r) => r.ok, () => false), 30_000, 100);
    const page = await browser.newPage({ viewport: { width: 900, height: 420 } });
    const consoleErrors: string[] = [];
    page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    // The token in the page URL is passed on to /streams and the WebSocket.
    await page.goto(`http://127.0.0.1:${wsPort}/?token=${token}&alpha=1`);
    await page.waitForFunction(() => (window as any).segflowViewer.drawn >= 20, undefined, { timeout: 25_000 });
    const stats = (alpha: number) => page.evaluate((a: number): CanvasStats => {
      const input = document.getElementById('alpha') as HTMLInputElement;
      input.value = String(a);
      input.dispatchEvent(new Event('input'));
      const c = document.getElementById('view') as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      const pal: number[][] = (window as any).segflowViewer.palette;
      const hits = new Array(pal.length).fill(0);
      const colours = new Set<number>();
      let onPalette = 0;
      for (let i = 0; i < d.length; i += 4) {
        colours.add(((d[i]! >> 4) << 8) | ((d[i + 1]! >> 4) << 4) | (d[i + 2]! >> 4));
        const k = pal.findIndex((p) => Math.abs(p[0]! - d[i]!) <= 3 && Math.abs(p[1]! - d[i + 1]!) <= 3 && Math.abs(p[2]! - d[i + 2]!) <= 3);
        if (k >= 0) {
          onPalette++;
          hits[k]++;
        }
      }
      const n = d.length / 4;
      return { width: c.width, height: c.height, paletteShare: onPalette / n, classesSeen: hits.filter((h) => h / n >= 0.005).length, distinctColours: colours.size };
    }, alpha);
    const opaque = await stats(100);
    mkdirSync(path.join(ROOT, 'out'), { recursive: true });
    const shot = path.join(ROOT, 'out', 'viewer-test.png');
    await stats(50);
    await page.screenshot({ path: shot });
    const videoOnly = await stats(0);
    const state = await page.evaluate(() => {
      const s = (window as any).segflowViewer;
      return { labels: s.labels, jpegs: s.jpegs, latencyMs: s.latencyMs, mediaLatencyMs: s.mediaLatencyMs, fps: s.fps, errors: s.errors, legend: document.querySelectorAll('#legend li').length, statsText: document.getElementById('stats')!.textContent };
    });
    t.log(`canvas ${opaque.width}x${opaque.height}; mask only: ${(opaque.paletteShare * 100).toFixed(1)} % palette pixels, ${opaque.classesSeen} classes; video only: ${(videoOnly.paletteShare * 100).toFixed(1)} % palette pixels, ${videoOnly.distinctColours} colours; screenshot ${shot}`);
    t.log(`viewer: ${state.labels} label maps, ${state.jpegs} JPEG frames, "${state.statsText}"`);
    t.is(opaque.width, 480);
    t.is(opaque.height, 270); // the 640x360 test camera, its longer side at 480: aspect kept
    t.true(opaque.paletteShare > 0.95, 'at full opacity the mask covers the canvas in palette colours');
    t.true(opaque.classesSeen >= 2, `expected at least 2 classes drawn, got ${opaque.classesSeen}`);
    t.true(videoOnly.paletteShare < 0.5, 'with the mask off the video shows');
    t.true(videoOnly.distinctColours > 50, 'the video frame is drawn (many colours)');
    t.true(state.jpegs > 0 && state.labels >= 20);
    t.is(state.legend, 11);
    t.true(Number.isFinite(state.latencyMs) && Number.isFinite(state.mediaLatencyMs) && state.mediaLatencyMs > 0);
    t.deepEqual(state.errors, []);
    t.deepEqual(consoleErrors, []);
  } finally {
    await browser.close();
    await run.stop();
    await server.stop();
  }
});
