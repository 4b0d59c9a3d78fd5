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
 * at every packet. Now a new epoch holds the name and an older one sending again is refused
 * (counted); still sending a second later, it is a second live sender: the zmq-source warns once
 * naming the source and both epochs. The refused one takes over, marked `resume`, when the holder
 * ends (its end is then not the stream's end) or goes quiet.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ava from 'ava';
import { chromium, type Browser } from 'playwright-core';
import { SameNameSenders } from '../src/net/zmq/same-name-senders.ts';
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
    await waitFor('two checks of /streams', () => streamsGets.length - getsAtEnd >= 2, 60_000, 50);
    const watchedMs = performance.now() - endedAt;
    t.is(sockets.length, socketsAtEnd, 'no WebSocket reconnect loop while the stream is gone');
    // Counted from the state read at the end (a slow machine may read it after the first check).
    const polls = (await viewerState(page)).endPolls - atEnd.endPolls;
    t.true(polls >= 2 && polls <= Math.floor(watchedMs / 2000) + 1, `${polls} checks of /streams in ${watchedMs.toFixed(0)} ms`);
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

interface Sender {
  readonly p: ChildProcess;
  readonly exited: Promise<void>;
  stderr(): string;
}

/** A real sender process: test-labels named `cam` (so source `cam`) → zmq-sink publishing to `endpoint` (connects). */
function sender(endpoint: string, frames: number): Sender {
  const yaml = `version: 1
nodes:
  cam: { type: test-labels, options: { fps: 20, frames: ${frames}, width: 32, height: 24 } }
  out: { type: zmq-sink, options: { endpoint: "${endpoint}", pattern: pub, bind: false }, in: { labels: cam.labels } }
`;
  // No process.exit on success: the sink's socket lingers until its end-of-stream message is out.
  const code = `
import { runLive, testRegistry } from ${JSON.stringify(LIVE)};
const run = runLive({ yaml: process.argv[1] }, [], testRegistry);
run.result.catch((e) => { console.error('graph failed:', e); process.exit(3); });
process.on('SIGTERM', () => run.stop().finally(() => process.exit(0)));`;
  const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code, yaml], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
  return { p, exited, stderr: () => err };
}

test('subscribe-hunt3 › zmq: two live publishers of one source name are a conflict, not restarts: warned once, the newer keeps the name, the other is refused until the newer ends or goes quiet', async (t) => {
  const zport = await freePort();
  const wsPort = await freePort();
  const endpoint = `tcp://127.0.0.1:${zport}`;
  const run = runLive({ yaml: `version: 1
nodes:
  in:      { type: zmq-source, options: { endpoint: "${endpoint}", pattern: sub, bind: true, quietSenderMs: 4000 } }
  browser: { type: websocket-sink, options: { port: ${wsPort}, stream: s1 }, in: { labels: in.labels } }
` }, [], testRegistry);
  let ended = false;
  void run.result.then(() => (ended = true), () => (ended = true));
  const senders: Sender[] = [];
  const sunk = () => run.done.filter((d) => d.sink === 'browser').map((d) => d.p);
  const m = (name: string) => metric(run.metrics, name, { node: 'in' });
  const logged = (re: RegExp) => run.log.filter((l) => re.test(l));
  const alive = (s: Sender, what: string) => {
    if (s.p.exitCode !== null || s.p.signalCode !== null) throw new Error(`${what} exited early: ${s.stderr()}`);
    return true;
  };
  try {
    await waitFor('the receiver', () => healthy(wsPort), 30_000, 100);
    // A: the first sender, until killed.
    const a = sender(endpoint, 0);
    senders.push(a);
    await waitFor('packets of the first sender', () => alive(a, 'sender A') && sunk().length >= 10, 60_000, 100);
    // B: the same graph again (same source name), 200 label maps (10 s) and its end. B holds the name from its
    // first packet on (a restart, as far as can be told then); A, sending again, is refused, then warned about.
    const b = sender(endpoint, 200);
    senders.push(b);
    await waitFor('the conflict warning', () => logged(/WARNING: two live senders publish source 'cam'/).length > 0, 60_000, 100);
    t.is(m('zmq_sender_restarts_total'), 1, 'B\'s first packet: one restart, not one per switch');
    const refusedA = m('zmq_conflict_refused_total');
    await waitFor('A refused', () => m('zmq_conflict_refused_total') >= refusedA + 20, 60_000, 100);
    // B ends while A is live: A takes the stream over, the run goes on.
    await waitFor('A takes over at B\'s end', () => logged(/source 'cam': sender \S+ ended; the refused sender \S+ takes it over/).length > 0, 60_000, 100);
    t.is(logged(/end of stream from sender \S+ is not the stream's end/).length, 1);
    await b.exited;
    const i = sunk().length;
    await waitFor('A after B ended', () => alive(a, 'sender A') && sunk().length >= i + 10, 60_000, 100);
    t.false(ended, 'B\'s end was not the end of the stream');

    // C: a third one of the same name holds it; A is refused again, counted, not warned again. Then C is
    // killed (no end): once it has been quiet for quietSenderMs, A takes over again.
    const c = sender(endpoint, 300);
    senders.push(c);
    await waitFor('the second conflict', () => alive(c, 'sender C') && m('zmq_sender_conflicts_total') >= 2, 60_000, 100);
    t.is(logged(/WARNING: two live senders/).length, 1, 'warned once per source name');
    c.p.kill('SIGKILL');
    await c.exited;
    await waitFor('A takes over from quiet C', () => logged(/source 'cam': sender \S+ sent nothing for 4000 ms; the refused sender \S+ takes it over/).length > 0, 60_000, 100);
    const k = sunk().length;
    await waitFor('A after C', () => alive(a, 'sender A') && sunk().length >= k + 15, 60_000, 100);
    await run.stop();
    // The stream as the graph saw it: A, B, A again (resume), C, A again (resume): five marked starts, each
    // followed by one sender's rising seqs. Before, every switch between two senders was a restart.
    const all = sunk();
    const starts = all.flatMap((p, x) => (x === 0 || p.discontinuity ? [x] : []));
    const segments = starts.map((x, n) => all.slice(x, starts[n + 1]));
    const marks = segments.map((seg) => seg[0]!.discontinuity);
    t.log(`${all.length} packets: ${segments.map((seg) => `${seg[0]!.discontinuity}@${seg[0]!.seq}..${seg.at(-1)!.seq}`).join(' ')}; `
      + `${m('zmq_conflict_refused_total')} refused, ${m('zmq_sender_conflicts_total')} conflicts, ${m('zmq_sender_restarts_total')} restarts`);
    t.is(segments.length, 5);
    t.regex(String(marks[1]), /^(start|restart)$/, 'B\'s first packet');
    t.is(marks[2], 'resume', 'A after B');
    t.regex(String(marks[3]), /^(start|restart)$/, 'C\'s first packet');
    t.is(marks[4], 'resume', 'A after C');
    t.true(segments.every((seg) => seg.every((p, x) => x === 0 || p.seq > seg[x - 1]!.seq)), 'one sender\'s numbering in each');
    t.true(segments[2]![0]!.seq > segments[0]!.at(-1)!.seq && segments[4]![0]!.seq > segments[2]!.at(-1)!.seq, 'A\'s numbering goes on');
    t.is(m('zmq_sender_restarts_total'), 2, 'B and C');
    t.is(m('zmq_sender_conflicts_total'), 2);
    t.log(run.log.filter((l) => /WARNING|takes it over|stream's end|restarted/.test(l)).join('\n'));
  } finally {
    for (const s of senders) if (s.p.exitCode === null && s.p.signalCode === null) s.p.kill('SIGKILL');
    await run.stop().catch(() => {});
  }
});

test('subscribe-hunt3 › SameNameSenders: a new epoch holds the name; an older one sending again is refused, a conflict once live; it takes over when the holder ends or goes quiet', (t) => {
  let now = 0;
  const conflicts: string[] = [];
  const takeOvers: string[] = [];
  const g = new SameNameSenders({
    quietMs: 1000,
    liveAfterMs: 500,
    now: () => now,
    onConflict: (source, kept, refused, first) => conflicts.push(`${source}:${kept}>${refused}:${first}`),
    onTakeOver: (source, from, to, why) => takeOvers.push(`${source}:${from}>${to}:${why}`),
  });
  const feed = (epochs: string, source = 'cam') => [...epochs].map((e) => g.packet(source, e === '-' ? undefined : e)[0]).join('');
  // A, then B for good (a restart): every packet passes, nothing said.
  t.is(feed('aaabbb'), 'aaaaaa');
  // A sends again: refused (B, the newer, holds the name); not yet a conflict: it may be A's last packets.
  t.is(feed('abab'), 'rara');
  t.deepEqual(conflicts, []);
  // Still sending half a second later: a live second sender, warned (first), counted.
  now = 500;
  t.is(feed('ab'), 'ra');
  t.deepEqual(conflicts, ['cam:b>a:true']);
  // Packets without an epoch pass (nothing to tell them apart by); other names are apart.
  t.is(feed('-'), 'a');
  t.is(g.packet('other', 'x'), 'accept');
  // B ends while A is live: A goes on with the stream (not the end).
  t.is(g.end('b'), 'ignore');
  t.deepEqual(takeOvers, ['cam:b>a:ended']);
  t.is(feed('a'), 'a');
  // C joins (a restart, as far as can be told): A is refused, and live again half a second later (not warned again).
  t.is(feed('ca'), 'ar');
  now = 1000;
  t.is(feed('ca'), 'ar');
  t.deepEqual(conflicts, ['cam:b>a:true', 'cam:c>a:false']);
  t.is(g.conflicts, 2);
  // C goes quiet: A takes over after 1 s of it, not before.
  now = 1999;
  t.is(feed('a'), 'r');
  now = 2001;
  t.is(feed('a'), 'a');
  t.deepEqual(takeOvers, ['cam:b>a:ended', 'cam:c>a:quiet']);
  // C had only stalled: now it is the one refused, and its end is not the stream's.
  t.is(feed('ca'), 'ra');
  t.is(g.end('c'), 'ignore');
  t.is(g.end('a'), 'end', 'the holder ends with no live refused sender');
  t.is(g.end(undefined), 'end');
  t.is(g.end('zz'), 'end', 'an unknown sender\'s end: as before');
  // A quick restart: Y holds the name, X's last packets are refused but never a conflict; Y's end is the end.
  t.is(feed('xxyxy', 'cam2'), 'aaara');
  now = 2200;
  t.is(feed('y', 'cam2'), 'a');
  t.is(g.end('y'), 'end');
  t.is(g.conflicts, 2);
});
