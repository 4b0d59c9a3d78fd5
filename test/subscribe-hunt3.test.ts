/**
 * Subscribe bug hunt, part 3 (session 12): two known faults of the subscribe path.
 *
 * The browser viewer ignored the WebSocket `end` message: when a stream ended it showed
 * "disconnected (1001); retrying…" and tried a new WebSocket every second, for ever (each one
 * refused: the stream, or the whole server, was gone). Now it shows a "stream ended" banner over
 * the last frame, opens no WebSocket while the stream is gone, asks /streams every `retry`
 * seconds whether it is back (a new run) and reconnects when it is; "reconnect now" asks at once.
 *
 * Two live zmq-sinks publishing one source name to one zmq-source interleaved, and each switch
 * between them looked like a restart (a new epoch): `restart` marks and "sender restarted" logs
 * at every packet. Now an epoch seen again after another took over is known to be a second live
 * sender: the zmq-source warns once naming the source and both epochs, keeps the first sender's
 * packets and refuses the other's (counted), until the first ends or goes quiet.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ava from 'ava';
import { chromium, type Browser } from 'playwright-core';
import { CHROMIUM, freePort, metric, requireChromium, runLive, sleep, testRegistry, waitFor, type LiveRun } from './helpers/live.ts';

const test = ava.serial;
const LIVE = pathToFileURL(path.join(path.dirname(fileURLToPath(import.meta.url)), 'helpers', 'live.ts')).href;

const healthy = (port: number) => fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false);

async function launch(): Promise<Browser> {
  requireChromium();
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

interface ViewerState {
  ended: { stream: string; count: number; total: number } | null;
  ends: number;
  endPolls: number;
  drawn: number;
  labels: number;
  banner: boolean;
  bannerText: string;
  status: string;
  dimmed: boolean;
}

const viewerState = (page: import('playwright-core').Page) => page.evaluate((): ViewerState => {
  const s = (window as any).segflowViewer;
  return {
    ended: s.ended, ends: s.ends, endPolls: s.endPolls, drawn: s.drawn, labels: s.labels,
    banner: !(document.getElementById('ended') as HTMLElement).hidden,
    bannerText: document.getElementById('endedText')!.textContent ?? '',
    status: document.getElementById('status')!.textContent ?? '',
    dimmed: document.getElementById('view')!.classList.contains('ended'),
  };
});

test('subscribe-hunt3 › viewer: an ended stream shows a banner, opens no WebSocket while gone, and reconnects when a new run serves it', async (t) => {
  const port = await freePort();
  const graph = `version: 1
nodes:
  src:     { type: test-labels, options: { fps: 15 } }
  browser: { type: websocket-sink, options: { port: ${port}, stream: s1 }, in: { labels: src.labels } }
`;
  let run: LiveRun | undefined = runLive({ yaml: graph }, [], testRegistry);
  const browser = await launch();
  try {
    await waitFor('websocket-sink', () => healthy(port), 30_000, 100);
    const page = await browser.newPage({ viewport: { width: 900, height: 420 } });
    const sockets: number[] = [];
    const streamsGets: number[] = [];
    page.on('websocket', () => sockets.push(performance.now()));
    page.on('request', (r) => r.url().endsWith('/streams') && streamsGets.push(performance.now()));
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await page.goto(`http://127.0.0.1:${port}/?stream=s1&retry=2`);
    await page.waitForFunction(() => (window as any).segflowViewer.drawn >= 5, undefined, { timeout: 30_000 });
    t.is(sockets.length, 1);

    // The run ends: the sink drains, sends `end` and closes with 1001; the server closes (its last stream).
    await run.stop();
    run = undefined;
    await page.waitForFunction(() => (window as any).segflowViewer.ended !== null, undefined, { timeout: 30_000 });
    const atEnd = await viewerState(page);
    t.log(`ended: ${JSON.stringify(atEnd)}`);
    t.true(atEnd.banner, 'the banner shows');
    t.regex(atEnd.bannerText, /stream s1 ended/);
    t.regex(atEnd.status, /s1 ended/);
    t.true(atEnd.dimmed, 'the last frame stays, dimmed');
    t.is(atEnd.ended?.stream, 's1');
    t.is(atEnd.ends, 1);
    // The server is gone. Watch a while (longer than the old 1 s retry, and than the 2 s check): no WebSocket
    // attempt at all, and /streams asked at the viewer's pace (at most one GET per 2 s, plus one).
    const endedAt = performance.now();
    const socketsAtEnd = sockets.length;
    const getsAtEnd = streamsGets.length;
    await page.waitForFunction((n) => (window as any).segflowViewer.endPolls >= n, 2, { timeout: 60_000 });
    const watchedMs = performance.now() - endedAt;
    t.is(sockets.length, socketsAtEnd, 'no WebSocket reconnect loop while the stream is gone');
    const gets = streamsGets.length - getsAtEnd;
    t.true(gets >= 2 && gets <= Math.floor(watchedMs / 2000) + 1, `${gets} GET /streams in ${watchedMs.toFixed(0)} ms`);
    t.true((await viewerState(page)).banner, 'still ended');

    // A new run serves the stream again on the same port: the viewer finds it and draws again.
    run = runLive({ yaml: graph }, [], testRegistry);
    await waitFor('the new run', () => healthy(port), 30_000, 100);
    const drawnBefore = atEnd.drawn;
    await page.waitForFunction((d) => { const s = (window as any).segflowViewer; return s.ended === null && s.drawn >= d + 5; }, drawnBefore, { timeout: 60_000 });
    const back = await viewerState(page);
    t.log(`back: ${JSON.stringify(back)}`);
    t.false(back.banner);
    t.false(back.dimmed);
    t.regex(back.status, /connected to s1/);
    t.is(sockets.length, socketsAtEnd + 1, 'one new WebSocket, once the stream was listed again');

    // "reconnect now": with checks an hour apart, only the button brings it back.
    await page.goto(`http://127.0.0.1:${port}/?stream=s1&retry=3600`);
    await page.waitForFunction(() => (window as any).segflowViewer.drawn >= 3, undefined, { timeout: 30_000 });
    await run.stop();
    run = undefined;
    await page.waitForFunction(() => (window as any).segflowViewer.ended !== null, undefined, { timeout: 30_000 });
    // Pressed while the server is gone: one check, still ended.
    await page.click('#reconnect');
    await page.waitForFunction(() => (window as any).segflowViewer.endPolls >= 1, undefined, { timeout: 30_000 });
    t.truthy((await viewerState(page)).ended);
    run = runLive({ yaml: graph }, [], testRegistry);
    await waitFor('the third run', () => healthy(port), 30_000, 100);
    t.truthy((await viewerState(page)).ended, 'no check due for an hour: still ended');
    const drawnThen = (await viewerState(page)).drawn;
    await page.click('#reconnect');
    await page.waitForFunction((d) => { const s = (window as any).segflowViewer; return s.ended === null && s.drawn >= d + 3; }, drawnThen, { timeout: 30_000 });
    t.regex((await viewerState(page)).status, /connected to s1/);
    t.deepEqual(pageErrors, []);
  } finally {
    await browser.close();
    await run?.stop().catch(() => {});
  }
});
