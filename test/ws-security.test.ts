/**
 * Security of the websocket-sink server and the metrics server, from the
 * outside: raw requests over real TCP sockets, real ws clients, a real graph.
 * The fuzz and the half-open-request tests run the graph in a child process,
 * so a crash is seen as its exit and its fds are its own (/proc/PID/fd).
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import test from 'ava';
import fc from 'fast-check';
import { parseGraph } from '../src/core/graph/loader.ts';
import { serveMetrics } from '../src/net/metrics-server.ts';
import { Metrics } from '../src/core/runtime/metrics.ts';
import { chromium } from 'playwright-core';
import { CHROMIUM, freePort, metric, requireChromium, runLive, sleep, testRegistry, waitFor, wsClient } from './helpers/live.ts';

const LIVE = pathToFileURL(path.join(path.dirname(fileURLToPath(import.meta.url)), 'helpers', 'live.ts')).href;
const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

function graph(port: number, sink = '', fps = 20): string {
  return `version: 1
nodes:
  src:  { type: test-labels, options: { fps: ${fps} } }
  sink: { type: websocket-sink, options: { port: ${port}, stream: s1${sink ? ', ' + sink : ''} }, in: { labels: src.labels } }
`;
}

interface RawReply {
  /** Status code of the first response line; undefined when the server closed without one. */
  status: number | undefined;
  head: string;
}

/** Write `data` on a fresh TCP connection; resolve with the response head (or nothing) and destroy the socket. */
function raw(port: number, data: string | Buffer, timeoutMs = 3000): Promise<RawReply> {
  return new Promise((resolve) => {
    let got = '';
    const s = net.connect(port, '127.0.0.1');
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(got);
      resolve({ status: m ? Number(m[1]) : undefined, head: got.split('\r\n\r\n')[0]! });
    };
    const timer = setTimeout(done, timeoutMs);
    s.on('connect', () => s.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data));
    s.on('data', (d) => {
      got += d.toString('latin1');
      if (got.includes('\r\n\r\n')) done();
    });
    s.on('error', done);
    s.on('close', done);
  });
}

function request(method: string, target: string, headers: Record<string, string>): string {
  return `${method} ${target} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
}
const wsHeaders = (port: number, extra: Record<string, string> = {}) => ({
  Host: `127.0.0.1:${port}`, Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Key': KEY, 'Sec-WebSocket-Version': '13', ...extra,
});
const get = (port: number, target: string, extra: Record<string, string> = {}) => raw(port, request('GET', target, { Host: `127.0.0.1:${port}`, Connection: 'close', ...extra }));
const upgrade = (port: number, target: string, extra: Record<string, string> = {}) => raw(port, request('GET', target, wsHeaders(port, extra)));

const healthy = (port: number) => get(port, '/health').then((r) => r.status === 200);

interface ServerProcess {
  readonly pid: number;
  alive(): boolean;
  fds(): number;
  stderr(): string;
  /** SIGTERM; resolves with the exit code and the ws_refused_total counters by reason. */
  stop(): Promise<{ code: number | null; signal: string | null; refused: Record<string, number> }>;
}

/** Run `yaml` (test registry) in a child process; resolves once its websocket-sink answers /health. */
async function serverProcess(yaml: string, port: number): Promise<ServerProcess> {
  const code = `
import { runLive, testRegistry } from ${JSON.stringify(LIVE)};
const run = runLive({ yaml: process.argv[1] }, [], testRegistry);
run.result.catch((e) => { console.error('graph failed:', e); process.exit(3); });
process.on('SIGTERM', async () => {
  await run.stop();
  const m = run.metrics.counters.get('ws_refused_total') ?? new Map();
  process.stdout.write('REFUSED ' + JSON.stringify(Object.fromEntries(m)) + '\\n', () => process.exit(0));
});`;
  const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code, yaml], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => p.once('exit', (c, s) => resolve({ code: c, signal: s })));
  const alive = () => p.exitCode === null && p.signalCode === null;
  await waitFor('server process /health', async () => {
    if (!alive()) throw new Error(`server process exited: ${err}`);
    return healthy(port);
  }, 60_000, 200);
  return {
    pid: p.pid!,
    alive,
    fds: () => readdirSync(`/proc/${p.pid}/fd`).length,
    stderr: () => err,
    async stop() {
      if (alive()) p.kill('SIGTERM');
      const e = await exited;
      const line = /REFUSED (.*)/.exec(out)?.[1];
      const refused: Record<string, number> = {};
      for (const [k, v] of Object.entries(line ? (JSON.parse(line) as Record<string, number>) : {})) refused[/reason="([^"]+)"/.exec(k)![1]!] = v;
      return { ...e, refused };
    },
  };
}

test('ws security › the new options have safe defaults and are validated when the graph loads', (t) => {
  const sink = parseGraph(graph(8090), 'g.yaml', testRegistry).nodes.find((n) => n.name === 'sink')!;
  t.like(sink.options, { host: '127.0.0.1', allowedOrigins: [], allowedHosts: [], subscribeTimeoutMs: 10_000, pingIntervalMs: 15_000, maxUnsubscribedPerIp: 16, maxHttpConnections: 512, requestTimeoutMs: 10_000 });
  t.deepEqual(parseGraph(graph(8090, 'allowedOrigins: ["http://A.example:81/path", "*"]'), 'g.yaml', testRegistry).nodes.find((n) => n.name === 'sink')!.options.allowedOrigins, ['http://a.example:81', '*']);
  t.throws(() => parseGraph(graph(8090, 'allowedOrigins: ["ftp://x"]'), 'g.yaml', testRegistry), { message: /sink\.options\.allowedOrigins\.0: expected an origin such as http:\/\/viewer\.example:8080, or \*/ });
  t.throws(() => parseGraph(graph(8090, 'allowedHosts: ["a b"]'), 'g.yaml', testRegistry), { message: /sink\.options\.allowedHosts\.0: expected a host name, name:port or \*/ });
  t.throws(() => parseGraph(graph(8090, 'subscribeTimeoutMs: 0'), 'g.yaml', testRegistry), { message: /sink\.options\.subscribeTimeoutMs/ });
  t.throws(() => parseGraph(graph(8090, 'maxUnsubscribedPerIp: -1'), 'g.yaml', testRegistry), { message: /sink\.options\.maxUnsubscribedPerIp/ });
});

test.serial('ws security › fuzzed request lines and headers never crash the server; GET //[ is a 400', async (t) => {
  const port = await freePort();
  const server = await serverProcess(graph(port, 'requestTimeoutMs: 1500'), port);
  try {
    const statuses = new Map<string, number>();
    // The exact request of issue 18 (it killed the run), plain and as an upgrade, and with a valid Host.
    const exact = await raw(port, 'GET //[ HTTP/1.1\r\nHost: x\r\n\r\n');
    t.is(exact.status, 400, exact.head);
    t.is((await upgrade(port, '//[', { Host: 'x' })).status, 400);
    t.is((await get(port, '//[')).status, 400);
    t.is((await upgrade(port, '//[')).status, 400);
    t.true(server.alive() && (await healthy(port)), 'alive after GET //[');

    // Mostly well-formed requests with odd parts, so most reach our handlers rather than Node's parser.
    const safe = [...'/?%#[]:@!$&\'()*+,;=~-._azAZ09\xff'];
    const control = [...' \t\x00\x7f\r\n'];
    const text = (max: number, bad = false) => fc.string({ unit: fc.constantFrom(...safe, ...(bad ? control : [])), maxLength: max });
    const target = fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom('//[', '//', '/%', '/%zz', '/%E0%A4%A', '/ws?stream=%', '/ws?stream=%ff%fe', '/ws?token=%', '/ws?stream=s1', '/ws?stream=s1&stream=s2',
        '/ws?__proto__=1&constructor=x', '/ws', '/streams', '/health', '/', '*', 'http://[', 'http://x/ws', '/\xff', '/..', '/../../etc/passwd', '', '?', '/#', '/ws#x',
        '/%00', `/streams?token=${'a'.repeat(5000)}`, `/${'a'.repeat(9000)}`) },
      { weight: 4, arbitrary: text(40).map((s) => '/' + s) },
      { weight: 2, arbitrary: fc.tuple(fc.constantFrom('/ws', '/streams', '/', '/health'), text(30)).map(([p, q]) => `${p}?${q}`) },
      { weight: 1, arbitrary: text(40, true) },
    );
    const header = fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom<[string, string]>(
        ['Host', `127.0.0.1:${port}`], ['Host', `localhost:${port}`], ['Host', 'x'], ['Host', ''], ['Host', '['], ['Host', '[::1'], ['Host', `evil.example:${port}`], ['Host', '127.0.0.1:99999999'],
        ['Upgrade', 'websocket'], ['Upgrade', 'WebSocket'], ['Upgrade', 'h2c'], ['Upgrade', ''], ['Connection', 'Upgrade'], ['Connection', 'upgrade, keep-alive'], ['Connection', 'close'],
        ['Sec-WebSocket-Key', KEY], ['Sec-WebSocket-Key', ''], ['Sec-WebSocket-Key', '=='], ['Sec-WebSocket-Key', 'x'.repeat(100)],
        ['Sec-WebSocket-Version', '13'], ['Sec-WebSocket-Version', '8'], ['Sec-WebSocket-Version', 'x'], ['Sec-WebSocket-Extensions', 'permessage-deflate; client_max_window_bits=%'],
        ['Origin', 'http://evil.example'], ['Origin', 'null'], ['Origin', ''], ['Origin', `http://127.0.0.1:${port}`], ['Origin', 'http://['], ['Origin', '%'],
        ['Authorization', 'bearer x'], ['Authorization', 'Bearer'], ['Authorization', 'BEARER   '], ['Authorization', 'Basic %%%'], ['Authorization', `bearer ${'x'.repeat(10_000)}`],
        ['Sec-Fetch-Site', 'cross-site'], ['Sec-Fetch-Site', 'same-site'], ['Sec-Fetch-Mode', 'navigate'], ['Sec-Fetch-Dest', 'document'], ['Sec-Fetch-Site', '\xff'],
        ['Content-Length', '5'], ['Content-Length', '-1'], ['Content-Length', 'abc'], ['Content-Length', '99999999999999999999'], ['Transfer-Encoding', 'chunked'],
        ['Transfer-Encoding', 'chunked, chunked'], ['X-Big', 'b'.repeat(20_000)], ['Cookie', ';;;=%'],
      ) },
      { weight: 3, arbitrary: fc.tuple(fc.stringMatching(/^[A-Za-z0-9-]{1,12}$/), text(30)) },
      { weight: 1, arbitrary: fc.tuple(text(12, true), text(30, true)) },
    );
    const req = fc.record({
      method: fc.oneof({ weight: 6, arbitrary: fc.constant('GET') }, fc.constantFrom('HEAD', 'POST', 'DELETE', 'OPTIONS', 'PUT', 'CONNECT', 'PRI', 'G E T', '')),
      target,
      version: fc.oneof({ weight: 6, arbitrary: fc.constant('HTTP/1.1') }, fc.constantFrom('HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1x', '')),
      host: fc.integer({ min: 0, max: 9 }).map((n) => n > 0),
      upgrade: fc.boolean(),
      headers: fc.array(header, { maxLength: 6 }),
      body: fc.oneof({ weight: 4, arbitrary: fc.constant('') }, fc.constantFrom('hello', '0\r\n\r\n')),
    });
    let cases = 0;
    await fc.assert(fc.asyncProperty(req, async (r) => {
      const headers: [string, string][] = [...(r.host ? [['Host', `127.0.0.1:${port}`] as [string, string]] : []), ...(r.upgrade ? Object.entries(wsHeaders(port)).slice(1) : []), ...r.headers];
      const wire = `${r.method} ${r.target} ${r.version}\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n${r.body}`;
      const reply = await raw(port, wire, 2500);
      const key = String(reply.status ?? 'closed');
      if (process.env.FUZZ_DEBUG && reply.status === 400) console.log(JSON.stringify(wire.slice(0, 300)), reply.head.slice(0, 100));
      statuses.set(key, (statuses.get(key) ?? 0) + 1);
      if (++cases % 50 === 0 && !(await healthy(port))) return false;
      return server.alive() && reply.status !== 500;
    }), { numRuns: 600, seed: Number(process.env.FUZZ_SEED ?? 18) });

    t.true(server.alive(), server.stderr());
    t.true(await healthy(port), '/health answers after the fuzz');
    const c = wsClient(`ws://127.0.0.1:${port}/ws?stream=s1`);
    await waitFor('a viewer gets frames after the fuzz', () => c.labels.length >= 3);
    c.close();
    const end = await server.stop();
    t.log(`${cases} fuzzed requests: statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}; refused by reason ${JSON.stringify(end.refused)}`);
    t.is(end.code, 0, `exit ${end.code} ${end.signal}: ${server.stderr()}`);
    t.true((end.refused.bad_request ?? 0) >= 4, 'the //[ requests were counted as bad requests');
    t.is(end.refused.handler_error ?? 0, 0, 'no handler threw (the guards run before anything that could)');
  } finally {
    await server.stop();
  }
});

test.serial('ws security › fuzzed WebSocket messages each get one answer; the socket and the stream live on', async (t) => {
  const port = await freePort();
  // Long subscribe timeout: the socket stays unsubscribed for most of the fuzz, however slow the machine.
  const run = runLive({ yaml: graph(port, 'subscribeTimeoutMs: 600000') }, [], testRegistry);
  try {
    await waitFor('server', () => healthy(port));
    const c = wsClient(`ws://127.0.0.1:${port}/ws`);
    await c.opened;
    const json = fc.oneof(
      fc.record({ type: fc.constantFrom('subscribe', 'SUBSCRIBE', 'hello', '__proto__', ''), stream: fc.oneof(fc.constantFrom('s1', 'nope', '__proto__', 'constructor', 'toString', ''), fc.string({ maxLength: 100 }), fc.integer(), fc.constant(null)) }, { requiredKeys: [] }),
      fc.jsonValue({ maxDepth: 3 }),
    ).map((v) => JSON.stringify(v) ?? 'null');
    const msg = fc.oneof(
      { weight: 3, arbitrary: json.map((s) => ({ text: s.slice(0, 4000) })) },
      { weight: 1, arbitrary: fc.string({ maxLength: 200 }).map((s) => ({ text: s })) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => ({ binary: b })) },
    );
    let sent = 0;
    await fc.assert(fc.asyncProperty(msg, async (m) => {
      const before = c.texts.filter((x) => x.type === 'error' || x.type === 'hello').length;
      if ('binary' in m) c.ws.send(m.binary, { binary: true });
      else c.ws.send(m.text);
      sent++;
      await waitFor('an answer', () => c.texts.filter((x) => x.type === 'error' || x.type === 'hello').length === before + 1, 5000, 5);
      return c.ws.readyState === c.ws.OPEN;
    }), { numRuns: 300, seed: 18 });
    const hellos = c.texts.filter((x) => x.type === 'hello').length;
    t.log(`${sent} fuzzed messages: ${hellos} hellos, ${c.texts.filter((x) => x.type === 'error').length} error replies`);
    c.ws.send(JSON.stringify({ type: 'subscribe', stream: 's1' }));
    const n = c.labels.length;
    await waitFor('frames after the fuzz', () => c.labels.length > n + 2);
    t.is(metric(run.metrics, 'ws_refused_total', { port: String(port), reason: 'handler_error' }), 0);
    c.close();
  } finally {
    await run.stop();
  }
});

test.serial('ws security › cross-origin pages are refused by default; same-origin and non-browser clients are not', async (t) => {
  const port = await freePort();
  const run = runLive({ yaml: graph(port) }, [], testRegistry);
  try {
    await waitFor('server', () => healthy(port));
    const self = `http://127.0.0.1:${port}`;
    // WebSocket: the video and masks. A foreign Origin is refused, the page's own is accepted, none (a tool) is accepted.
    t.is((await upgrade(port, '/ws?stream=s1', { Origin: 'http://evil.example' })).status, 403);
    t.is((await upgrade(port, '/ws?stream=s1', { Origin: 'null' })).status, 403);
    t.is((await upgrade(port, '/ws?stream=s1', { Origin: `http://localhost:${port}` })).status, 403, 'another origin of the same machine is another origin');
    t.is((await upgrade(port, '/ws?stream=s1', { Origin: self })).status, 101);
    t.is((await upgrade(port, '/ws?stream=s1')).status, 101);
    await t.throwsAsync(wsClient(`ws://127.0.0.1:${port}/ws?stream=s1`, { origin: 'http://evil.example' }).opened, { message: 'HTTP 403' });
    const own = wsClient(`ws://127.0.0.1:${port}/ws?stream=s1`, { origin: self });
    await waitFor('same-origin frames', () => own.labels.length > 0);
    own.close();
    // HTTP GETs: a CORS request from another origin, and a no-cors one (<img>, fetch no-cors) that only Sec-Fetch-Site gives away.
    t.is((await get(port, '/streams', { Origin: 'http://evil.example' })).status, 403);
    t.is((await get(port, '/streams', { 'Sec-Fetch-Site': 'cross-site', 'Sec-Fetch-Mode': 'no-cors', 'Sec-Fetch-Dest': 'image' })).status, 403);
    t.is((await get(port, '/streams', { 'Sec-Fetch-Site': 'same-site', 'Sec-Fetch-Mode': 'cors', 'Sec-Fetch-Dest': 'empty' })).status, 403);
    t.is((await get(port, '/streams', { Origin: self, 'Sec-Fetch-Site': 'same-origin' })).status, 200);
    t.is((await get(port, '/streams')).status, 200);
    // A link to the viewer page from elsewhere still opens it (the other site cannot read a navigation).
    t.is((await get(port, '/', { 'Sec-Fetch-Site': 'cross-site', 'Sec-Fetch-Mode': 'navigate', 'Sec-Fetch-Dest': 'document' })).status, 200);
    t.is((await get(port, '/', { 'Sec-Fetch-Site': 'cross-site', 'Sec-Fetch-Mode': 'navigate', 'Sec-Fetch-Dest': 'iframe' })).status, 403);
    t.is(metric(run.metrics, 'ws_refused_total', { port: String(port), reason: 'origin' }), 8);
  } finally {
    await run.stop();
  }
});

/** What a page's script could get from the stream server: WebSocket frames, a CORS fetch of /streams. */
const PROBE = (wsUrl: string, streamsUrl: string) => `<!doctype html><script>
window.probe = { opened: false, messages: 0, closeCode: null, streams: null };
const ws = new WebSocket(${JSON.stringify(wsUrl)});
ws.onopen = () => { probe.opened = true; };
ws.onmessage = () => { probe.messages++; };
ws.onclose = (e) => { probe.closeCode = e.code; };
fetch(${JSON.stringify(streamsUrl)}).then((r) => r.text()).then((t) => { probe.streams = t; }, (e) => { probe.streams = 'error: ' + e.message; });
</script>`;

test.serial('ws security › in Chromium: a page on another origin, and a DNS-rebound page, cannot read the stream', async (t) => {
  requireChromium();
  const port = await freePort();
  const run = runLive({ yaml: graph(port) }, [], testRegistry);
  // The attacker's page, on another port of the same machine (another origin).
  const attacker = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(PROBE(`ws://127.0.0.1:${port}/ws?stream=s1`, `http://127.0.0.1:${port}/streams`)));
  await new Promise<void>((r) => attacker.listen(0, '127.0.0.1', () => r()));
  const other = (attacker.address() as net.AddressInfo).port;
  // evil.example resolves to 127.0.0.1: what a DNS-rebinding attack achieves after the page has loaded. Chromium's
  // Private Network Access checks are turned off: other browsers (Firefox, Safari) have none, so the server must refuse by itself.
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--host-resolver-rules=MAP evil.example 127.0.0.1', '--disable-background-networking', '--no-first-run',
      '--disable-features=PrivateNetworkAccessSendPreflights,PrivateNetworkAccessRespectPreflightResults,BlockInsecurePrivateNetworkRequests,LocalNetworkAccessChecks'],
  });
  try {
    await waitFor('server', () => healthy(port));
    const probe = async (page: import('playwright-core').Page) => {
      // Settled: the socket was closed or frames arrived, and the fetch answered or failed.
      await page.waitForFunction(() => ((window as any).probe.closeCode !== null || (window as any).probe.messages > 0) && (window as any).probe.streams !== null, undefined, { timeout: 15_000 });
      await sleep(500);
      return page.evaluate(() => (window as any).probe as { opened: boolean; messages: number; closeCode: number; streams: string });
    };
    const cross = await browser.newPage();
    await cross.goto(`http://127.0.0.1:${other}/`);
    const c = await probe(cross);
    t.log(`page on http://127.0.0.1:${other}: ${JSON.stringify(c)}`);
    t.false(c.opened, 'the WebSocket from another origin must not open');
    t.is(c.messages, 0);
    t.regex(c.streams, /^error/);

    // The rebound page: its document came from the attacker (served here by the test), its requests reach our server as evil.example:PORT.
    const rebound = await browser.newPage();
    await rebound.route(`http://evil.example:${port}/`, (r) => r.fulfill({ status: 200, contentType: 'text/html', body: PROBE(`ws://evil.example:${port}/ws?stream=s1`, '/streams') }));
    await rebound.goto(`http://evil.example:${port}/`);
    const r = await probe(rebound);
    t.log(`refused so far: ${JSON.stringify(Object.fromEntries(run.metrics.counters.get('ws_refused_total') ?? []))}`);
    t.log(`rebound page on http://evil.example:${port}: ${JSON.stringify(r)}`);
    t.false(r.opened, 'the rebound page must not open the WebSocket');
    t.is(r.messages, 0);
    t.regex(r.streams, /^host "evil\.example:\d+" is not allowed/);

    // The viewer's own origin still works.
    const own = await browser.newPage();
    await own.goto(`http://127.0.0.1:${port}/`);
    await own.waitForFunction(() => (window as any).segflowViewer?.labels > 3, undefined, { timeout: 15_000 });
    t.true(metric(run.metrics, 'ws_refused_total', { port: String(port), reason: 'origin' }) >= 2);
    t.true(metric(run.metrics, 'ws_refused_total', { port: String(port), reason: 'host' }) >= 2);
  } finally {
    await browser.close();
    attacker.close();
    await run.stop();
  }
});

test.serial('ws security › allowedOrigins widens the default: listed origins, or * for any', async (t) => {
  const port = await freePort();
  const run = runLive({ yaml: graph(port, 'allowedOrigins: ["http://good.example/"]') }, [], testRegistry);
  try {
    await waitFor('server', () => healthy(port));
    t.is((await upgrade(port, '/ws?stream=s1', { Origin: 'http://good.example' })).status, 101);
    t.is((await get(port, '/streams', { Origin: 'http://good.example', 'Sec-Fetch-Site': 'cross-site' })).status, 200);
    t.is((await upgrade(port, '/ws?stream=s1', { Origin: 'http://evil.example' })).status, 403);
  } finally {
    await run.stop();
  }
  const port2 = await freePort();
  const any = runLive({ yaml: graph(port2, 'allowedOrigins: ["*"]') }, [], testRegistry);
  try {
    await waitFor('server', () => healthy(port2));
    t.is((await upgrade(port2, '/ws?stream=s1', { Origin: 'http://evil.example' })).status, 101);
  } finally {
    await any.stop();
  }
});

test.serial('ws security › DNS rebinding: a Host that does not name this server is refused', async (t) => {
  const port = await freePort();
  const run = runLive({ yaml: graph(port, 'allowedHosts: ["cam.example"]') }, [], testRegistry);
  try {
    await waitFor('server', () => healthy(port));
    const evil = { Host: `evil.example:${port}`, Origin: `http://evil.example:${port}` };
    // Host and Origin agree, so the Origin check alone would call this same-origin.
    t.is((await get(port, '/streams', evil)).status, 403);
    t.is((await get(port, '/health', evil)).status, 403);
    t.is((await upgrade(port, '/ws?stream=s1', evil)).status, 403);
    t.is((await get(port, '/streams', { Host: `127.0.0.1:${port + 1}` })).status, 403, 'wrong port');
    t.is((await get(port, '/streams', { Host: 'localhost' })).status, 403, 'no port is port 80');
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`, `10.1.2.3:${port}`, 'cam.example', `cam.example:${port}`]) {
      t.is((await get(port, '/streams', { Host: host })).status, 200, host);
    }
    t.is((await upgrade(port, '/ws?stream=s1', { Host: `localhost:${port}`, Origin: `http://localhost:${port}` })).status, 101);
    t.is((await upgrade(port, '/ws?stream=s1', { Host: 'cam.example', Origin: 'http://cam.example' })).status, 101);
    t.is(metric(run.metrics, 'ws_refused_total', { port: String(port), reason: 'host' }), 5);
  } finally {
    await run.stop();
  }
});

/** A raw WebSocket handshake that is then left silent (never sends, never answers pings); `closed` resolves when the server drops it. */
function silentSocket(port: number, target: string): Promise<{ status: number | undefined; closed: Promise<number>; socket: net.Socket }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(request('GET', target, wsHeaders(port))));
    let got = '';
    let answered = false;
    const closed = new Promise<number>((r) => s.once('close', () => r(performance.now())));
    s.on('error', () => {});
    s.on('data', (d) => {
      if (answered) return;
      got += d.toString('latin1');
      if (got.includes('\r\n\r\n')) {
        answered = true;
        resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(got)?.[1]), closed, socket: s });
      }
    });
    s.once('close', () => answered || resolve({ status: undefined, closed, socket: s }));
  });
}

test.serial('ws security › 20 sockets that never subscribe cannot lock out viewers: per-address limit and subscribe timeout', async (t) => {
  const port = await freePort();
  const run = runLive({ yaml: graph(port, 'maxClients: 20, subscribeTimeoutMs: 1000, pingIntervalMs: 60000') }, [], testRegistry);
  try {
    await waitFor('server', () => healthy(port));
    const t0 = performance.now();
    const silent = await Promise.all(Array.from({ length: 20 }, () => silentSocket(port, '/ws')));
    const statuses = silent.map((s) => s.status);
    t.is(statuses.filter((s) => s === 101).length, 16, JSON.stringify(statuses));
    t.is(statuses.filter((s) => s === 503).length, 4, 'the 17th and later unsubscribed sockets from one address are refused');
    // A viewer gets in at once, while the silent sockets are still there.
    const viewer = wsClient(`ws://127.0.0.1:${port}/ws?stream=s1`);
    await waitFor('viewer frames', () => viewer.labels.length > 0);
    const closedAt = await Promise.all(silent.filter((s) => s.status === 101).map((s) => s.closed));
    const after = (Math.max(...closedAt) - t0) / 1000;
    t.log(`16 silent sockets closed ${((Math.min(...closedAt) - t0) / 1000).toFixed(2)}–${after.toFixed(2)} s after connecting (subscribeTimeoutMs 1000)`);
    t.true(after < 5, `silent sockets closed after ${after.toFixed(2)} s`);
    const h = await waitFor('/health back to the viewer alone', async () => {
      const r = await fetch(`http://127.0.0.1:${port}/health`).then((x) => x.json() as Promise<{ clients: number }>);
      return r.clients === 1 ? r : undefined;
    }, 5000);
    t.is(h.clients, 1);
    t.is(metric(run.metrics, 'ws_refused_total', { port: String(port), reason: 'subscribe_timeout' }), 16);
    t.is(metric(run.metrics, 'ws_refused_total', { port: String(port), reason: 'unsubscribed_per_ip' }), 4);
    viewer.close();
  } finally {
    await run.stop();
  }
});

test.serial('ws security › subscribed sockets that never answer a ping are closed; a locked-out viewer gets in', async (t) => {
  const port = await freePort();
  const run = runLive({ yaml: graph(port, 'maxClients: 20, pingIntervalMs: 700') }, [], testRegistry);
  try {
    await waitFor('server', () => healthy(port));
    const viewer = wsClient(`ws://127.0.0.1:${port}/ws?stream=s1`);
    await waitFor('viewer frames', () => viewer.labels.length > 0);
    const t0 = performance.now();
    const silent = await Promise.all(Array.from({ length: 19 }, () => silentSocket(port, '/ws?stream=s1')));
    t.deepEqual(silent.map((s) => s.status), Array(19).fill(101));
    await t.throwsAsync(wsClient(`ws://127.0.0.1:${port}/ws?stream=s1`).opened, { message: 'HTTP 503' }, 'full');
    const closedAt = await Promise.all(silent.map((s) => s.closed));
    const after = (Math.max(...closedAt) - t0) / 1000;
    t.log(`19 sockets that never answer pings closed ${after.toFixed(2)} s after connecting (pingIntervalMs 700)`);
    t.true(after < 6, `closed after ${after.toFixed(2)} s`);
    const late = wsClient(`ws://127.0.0.1:${port}/ws?stream=s1`);
    await waitFor('the late viewer gets frames', () => late.labels.length > 0);
    // The first viewer (its ws library answers pings) was never cut off.
    const n = viewer.labels.length;
    await waitFor('the first viewer still gets frames', () => viewer.labels.length > n + 3);
    t.is(viewer.ws.readyState, viewer.ws.OPEN);
    t.is(metric(run.metrics, 'ws_refused_total', { port: String(port), reason: 'ping_timeout' }), 19);
    viewer.close();
    late.close();
  } finally {
    await run.stop();
  }
});

test.serial('ws security › 3,000 half-sent HTTP requests do not hold 3,000 fds; the viewer keeps its stream', async (t) => {
  const port = await freePort();
  const server = await serverProcess(graph(port, 'requestTimeoutMs: 2000', 30), port);
  const sockets: net.Socket[] = [];
  try {
    const viewer = wsClient(`ws://127.0.0.1:${port}/ws?stream=s1`);
    await waitFor('viewer frames', () => viewer.labels.length > 0);
    await sleep(300);
    const fd0 = server.fds();
    let peak = fd0;
    const sampler = setInterval(() => (peak = Math.max(peak, server.fds())), 50);
    let closedByServer = 0;
    let timedOut408 = 0;
    const t0 = performance.now();
    const got0 = viewer.labels.length;
    for (let i = 0; i < 3000; i++) {
      const s = net.connect(port, '127.0.0.1', () => s.write(`GET /streams HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Slow: `));
      s.on('error', () => {});
      s.on('data', (d) => { if (d.toString('latin1').startsWith('HTTP/1.1 408')) timedOut408++; });
      s.on('close', () => closedByServer++);
      sockets.push(s);
      if (i % 200 === 199) await sleep(20);
    }
    const opened = (performance.now() - t0) / 1000;
    await waitFor('every half-sent request closed by the server', () => closedByServer === 3000, 20_000, 100);
    const allGone = (performance.now() - t0) / 1000;
    const fdBack = await waitFor('fds back', () => (server.fds() <= fd0 + 2 ? server.fds() : 0), 10_000, 100).catch(() => server.fds());
    clearInterval(sampler);
    const viewerGot = viewer.labels.length - got0;
    const secs = (performance.now() - t0) / 1000;
    const seqs = viewer.labels.slice(got0).map((m) => m.seq);
    const gaps = seqs.slice(1).filter((s, i) => s !== seqs[i]! + 1).length;
    t.true(await healthy(port), '/health answers afterwards');
    const end = await server.stop();
    t.log(`3000 half-sent requests opened in ${opened.toFixed(2)} s; server fds ${fd0} → peak ${peak} → ${fdBack}; all closed by the server after ${allGone.toFixed(2)} s (${timedOut408} answered 408, the rest dropped at the cap); viewer ${(viewerGot / secs).toFixed(1)} fps meanwhile (source 30), ${gaps} seq gaps; refused ${JSON.stringify(end.refused)}`);
    t.true(peak <= fd0 + 64 + 512 + 8, `peak fds ${peak}; expected at most maxClients + maxHttpConnections above ${fd0}`);
    t.true(fdBack <= fd0 + 2, `fds ${fd0} → ${fdBack}`);
    t.true(viewerGot / secs > 30 * 0.6, `viewer ${(viewerGot / secs).toFixed(1)} fps`);
    t.is(gaps, 0);
    t.true((end.refused.connection_limit ?? 0) > 1000, 'connections over the cap were dropped at once');
    t.true((end.refused.client_error ?? 0) > 0, 'held requests timed out');
    t.is(end.code, 0);
    viewer.close();
  } finally {
    for (const s of sockets) s.destroy();
    await server.stop();
  }
});

test.serial('ws security › Authorization scheme is case-insensitive', async (t) => {
  const port = await freePort();
  const token = 'case-token-1234';
  const run = runLive({ yaml: graph(port, `token: ${token}`) }, [], testRegistry);
  try {
    await waitFor('server', () => healthy(port));
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
      t.is((await get(port, '/streams', { Authorization: `${scheme} ${token}` })).status, 200, scheme);
      t.is((await upgrade(port, '/ws?stream=s1', { Authorization: `${scheme}  ${token} ` })).status, 101, scheme);
    }
    const lower = wsClient(`ws://127.0.0.1:${port}/ws?stream=s1`, { headers: { authorization: `bearer ${token}` } });
    t.like(await lower.hello(), { type: 'hello', stream: 's1' });
    lower.close();
    for (const bad of [`Basic ${token}`, `Bearer${token}`, `bearer wrong-token-99`, 'bearer', '']) {
      t.is((await get(port, '/streams', { Authorization: bad })).status, 401, bad);
      t.is((await upgrade(port, '/ws?stream=s1', { Authorization: bad })).status, 401, bad);
    }
  } finally {
    await run.stop();
  }
});

test.serial('ws security › metrics server: GET and HEAD only, bad targets 400, foreign Host 403, never throws', async (t) => {
  const m = new Metrics();
  m.count('frames_total', { node: 'a' }, 3, 'frames');
  const server: http.Server = await serveMetrics(() => m, 0);
  const port = (server.address() as net.AddressInfo).port;
  try {
    t.is((await get(port, '/metrics')).status, 200);
    t.is((await get(port, '/metrics?x=%zz')).status, 200);
    const body = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
    t.regex(body, /frames_total\{node="a"\} 3/);
    // The process's own, read at the scrape: this test process's figures, as /proc and V8 say them.
    const val = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(body)?.[1]);
    t.true(val('process_resident_memory_bytes') > 20e6 && val('process_resident_memory_bytes') < 4e9, body);
    t.true(Math.abs(val('process_resident_memory_bytes') - process.memoryUsage().rss) < 64e6);
    t.true(val('process_open_fds') >= 3 && Math.abs(val('process_open_fds') - readdirSync('/proc/self/fd').length) < 8, body);
    t.true(val('process_cpu_user_seconds_total') > 0);
    t.true(val('nodejs_heap_size_used_bytes') > 0 && val('nodejs_heap_size_used_bytes') <= val('nodejs_heap_size_total_bytes'));
    t.true(Math.abs(val('process_start_time_seconds') - (Date.now() / 1000 - process.uptime())) < 2);
    for (const name of ['process_resident_memory_bytes', 'process_open_fds', 'nodejs_external_memory_bytes']) t.is(body.split('\n').filter((l) => l === `# TYPE ${name} gauge`).length, 1, name);
    const head = await raw(port, request('HEAD', '/metrics', { Host: `127.0.0.1:${port}` }));
    t.is(head.status, 200);
    for (const method of ['DELETE', 'POST', 'PUT', 'PATCH', 'OPTIONS']) {
      const r = await raw(port, request(method, '/metrics', { Host: `127.0.0.1:${port}`, 'Content-Length': '0' }));
      t.is(r.status, 405, method);
      t.regex(r.head, /allow: GET, HEAD/i);
    }
    t.is((await raw(port, 'GET //[ HTTP/1.1\r\nHost: x\r\n\r\n')).status, 400);
    t.is((await get(port, '//[')).status, 400);
    t.is((await get(port, '/metrics', { Host: `evil.example:${port}` })).status, 403);
    t.is((await get(port, '/metrics', { 'Sec-Fetch-Site': 'cross-site', 'Sec-Fetch-Mode': 'no-cors' })).status, 403);
    t.is((await get(port, '/nope')).status, 404);
    const statuses = new Set<number | undefined>();
    await fc.assert(fc.asyncProperty(
      fc.constantFrom('GET', 'HEAD', 'DELETE', 'X'), fc.oneof(fc.string({ maxLength: 30 }).map((x) => '/' + x), fc.constantFrom('/metrics', '/health', '/metrics?%', '//[', '/%zz')), fc.constantFrom(`127.0.0.1:${port}`, 'x', '[', ''),
      async (method, target, host) => {
        const r = await raw(port, `${method} ${target} HTTP/1.1\r\nHost: ${host}\r\n\r\n`, 2000);
        statuses.add(r.status);
        return r.status !== 500 && (r.status !== 200 || method === 'GET' || method === 'HEAD');
      },
    ), { numRuns: 150, seed: 18 });
    t.is((await get(port, '/health')).status, 200, 'still serving after the fuzz');
    t.log(`metrics server fuzz statuses: ${[...statuses].join(', ')}`);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test.serial('ws security › metrics server: close() ends a connection whose request never finishes (it held the process after Ctrl-C)', async (t) => {
  const server: http.Server = await serveMetrics(() => new Metrics(), 0);
  const port = (server.address() as net.AddressInfo).port;
  // A scraper stuck mid-request (or a slowloris): headers begun, never ended.
  const sock = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
  sock.write(`GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`);
  let sockClosed = false;
  sock.on('error', () => {});
  sock.once('close', () => (sockClosed = true));
  await waitFor('the server to see the connection', () => new Promise<boolean>((resolve) => server.getConnections((_e, n) => resolve(n > 0))), 5000);
  let serverClosed = false;
  server.close(() => (serverClosed = true));
  try {
    await waitFor('the stuck connection closed and the server closed', () => sockClosed && serverClosed, 5000);
    t.pass();
  } finally {
    sock.destroy();
  }
});

test.serial('ws security › metrics server: a port in use is an error naming the metrics server, the address and what to do', async (t) => {
  const taken: http.Server = await serveMetrics(() => new Metrics(), 0);
  const port = (taken.address() as net.AddressInfo).port;
  try {
    const err = await t.throwsAsync(serveMetrics(() => new Metrics(), port));
    t.is(err!.message, `metrics server: cannot listen on 127.0.0.1:${port}: port already in use; expected a free port for --metrics-port`);
  } finally {
    taken.close();
  }
});
