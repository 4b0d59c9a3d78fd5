/**
 * One HTTP + WebSocket server per host:port, shared by every websocket-sink in
 * the process; each sink publishes a named stream on it.
 *
 * Routes: `GET /health` (open: ok, client and stream counts), `GET /` (the
 * viewer page), `GET /viewer.js`, `GET /streams` (JSON list), and the
 * WebSocket upgrade on `/ws?stream=NAME` (or subscribe later with
 * `{"type":"subscribe","stream":NAME}`). With a token set, `/`, `/streams`
 * and `/ws` need `?token=` or `Authorization: Bearer` (scheme in any case).
 *
 * Before any route, every request and upgrade passes the checks of
 * ./http-guard.ts: a parsable target (else 400), a Host naming this server
 * (DNS rebinding; else 403), and no foreign browser origin (a WebSocket Origin
 * or a cross-site GET; `allowedOrigins` widens it, default same-origin only).
 * No handler can throw out: a throw is answered 400 (or the socket closed) and
 * counted. Sockets that do not subscribe within `subscribeTimeoutMs`, or do not
 * answer a ping within `pingIntervalMs`, are closed; one address may hold at
 * most `maxUnsubscribedPerIp` unsubscribed sockets; plain HTTP connections are
 * capped (`maxHttpConnections`) and must send their request within
 * `requestTimeoutMs`. A client that keeps sending messages (or pings) while 64
 * of our replies (or pongs) to it wait unread is closed with 1008 (`not_reading`,
 * `ping_flood`). Refusals are counted by reason (`onRefused`).
 *
 * Each client has its own bounded queue: a frame (its JPEG and labels) is
 * written straight to the socket while the socket's unsent bytes
 * (`ws.bufferedAmount`) stay under a bound, otherwise it waits in the queue;
 * when the queue is full the oldest frame is dropped, counted, and the client
 * is told with a `dropped` message before its next frame. So a slow client
 * never holds back the pipeline or other clients. When a stream ends, its
 * clients get what is still queued for them (for up to `drainTimeoutMs`),
 * then an `end` message counting the frames they never got (dropped, or
 * still queued), then a close with 1001; a client that has not answered the
 * close after another `drainTimeoutMs` (at least 500 ms) is cut off.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { bearerToken, crossSiteRequest, hostAllowed, originAllowed, parseTarget, show } from './http-guard.ts';
import { PROTOCOL_VERSION, type ClassesMessage, type DroppedMessage, type EndMessage, type HelloMessage, type ServerText } from '../../codecs/ws-protocol.ts';
import { sameClassNames } from '../../core/packet.ts';

export interface ServerOptions {
  readonly host: string;
  readonly port: number;
  /** When set, required for the viewer page, /streams and the WebSocket upgrade. */
  readonly token?: string | undefined;
  /** Browser origins allowed besides the page's own (empty = same-origin only; `*` = any). */
  readonly allowedOrigins: readonly string[];
  /** Host header values accepted besides IP literals, localhost and the bind host (`name`, `name:port`, `*`). */
  readonly allowedHosts: readonly string[];
  readonly maxClients: number;
  /** Larger incoming messages close the connection with 1009. */
  readonly maxMessageBytes: number;
  /** WebSocket sockets one remote address may hold before subscribing. */
  readonly maxUnsubscribedPerIp: number;
  /** A socket that has not subscribed by then is closed (1008). */
  readonly subscribeTimeoutMs: number;
  /** Ping period; a client that has not answered the previous ping is closed. */
  readonly pingIntervalMs: number;
  /** TCP connections besides the WebSocket clients (plain HTTP, upgrades in progress); more are dropped at once. */
  readonly maxHttpConnections: number;
  /** A request (headers included) must arrive within this, else 408 and closed. */
  readonly requestTimeoutMs: number;
  /** Called once per refused request, dropped connection or closed socket, with the reason; not compared between sinks. */
  readonly onRefused?: ((reason: RefusalReason) => void) | undefined;
}

/** Why a request, connection or socket was turned away (the `reason` label of ws_refused_total). */
export type RefusalReason =
  | 'bad_request' | 'handler_error' | 'client_error' | 'method' | 'not_found' | 'host' | 'origin' | 'token'
  | 'full' | 'unsubscribed_per_ip' | 'connection_limit' | 'subscribe_timeout' | 'ping_timeout' | 'not_reading' | 'ping_flood';

export interface StreamOptions {
  /** Frames that may wait per client before the oldest is dropped. */
  readonly maxQueuedMessagesPerClient: number;
  /** Unsent bytes on a client's socket above which frames queue instead of being written. */
  readonly maxBufferedBytesPerClient: number;
  readonly video: boolean;
  /** When the stream ends: how long its clients' queued frames may still be sent, and then how long the close may take (ms). */
  readonly drainTimeoutMs: number;
  /** Called with the number of frames dropped for a client (also those still queued when the stream ended). */
  readonly onDrop?: (count: number) => void;
  /** Called when a client connects or leaves. */
  readonly onClients?: (count: number) => void;
  /** Called per frame written to a client socket, with its bytes. */
  readonly onSent?: (bytes: number) => void;
}

type Palette = readonly (readonly [number, number, number])[];

interface Client {
  readonly ws: WebSocket;
  readonly ip: string;
  /** Answered the last ping (or sent something) since it was sent. */
  alive: boolean;
  subscribeTimer: NodeJS.Timeout | undefined;
  stream: Stream | undefined;
  readonly queue: Buffer[][];
  pendingDropped: number;
  droppedTotal: number;
  /** Text messages handed to the socket and not yet written to the kernel (the client is not reading them). */
  unreadTexts: number;
  /** Pongs (answers to its pings) handed to the socket and not yet written to the kernel. */
  unreadPongs: number;
}

const assets = new Map<string, Buffer>();
/** The viewer's static files, read on first use. */
function asset(name: 'viewer.html' | 'viewer.js'): Buffer {
  let b = assets.get(name);
  if (!b) assets.set(name, (b = readFileSync(new URL(`./${name}`, import.meta.url))));
  return b;
}
const FLUSH_INTERVAL_MS = 20;
/** How long closing waits for clients to answer the close handshake. */
const CLOSE_GRACE_MS = 500;
/**
 * A client that sends while this many of our text replies wait unread (and its socket is backed
 * up) is closed (1008): each message it sends costs us a reply. A burst to a reading client is fine.
 */
const MAX_UNREAD_TEXTS = 64;
/**
 * The same for pings: a client that pings while this many of our pongs wait unread (and its socket
 * is backed up) is closed (1008, counted as ping_flood). ws's own limit (60 pending automatic pongs)
 * cut off such a client with no code, reason or count, and also a reading client that sent a burst.
 */
const MAX_UNREAD_PONGS = 64;

/** A named stream on a server; a sink publishes frames to its subscribers. */
export class Stream {
  readonly clients = new Set<Client>();
  classes: readonly string[] = [];
  palette: Palette = [];
  published = 0;
  width = 0;
  height = 0;
  constructor(readonly name: string, readonly server: SegflowServer, readonly opts: StreamOptions) {}

  /** Class names and palette; subscribers hear about a change. */
  setClasses(classes: readonly string[], palette: Palette): void {
    if (sameClasses(this.classes, this.palette, classes, palette)) return;
    this.classes = classes;
    this.palette = palette;
    const msg: ClassesMessage = { type: 'classes', classes, palette };
    const text = JSON.stringify(msg);
    for (const c of this.clients) if (c.ws.readyState === WebSocket.OPEN) c.ws.send(text);
  }

  /** Offer one frame's messages (sent together, dropped together) to every subscriber. */
  publish(messages: Buffer[], width: number, height: number): void {
    this.skipped(width, height);
    for (const c of this.clients) this.server.offer(c, messages);
  }

  /** A frame went by with nobody subscribed (counted for /streams, nothing encoded). */
  skipped(width: number, height: number): void {
    this.published++;
    this.width = width;
    this.height = height;
  }

  hello(): HelloMessage {
    return { type: 'hello', version: PROTOCOL_VERSION, stream: this.name, classes: this.classes, palette: this.palette, video: this.opts.video, server: 'segflow' };
  }
}

const servers = new Map<string, { server: Promise<SegflowServer>; refs: number }>();

/** The server for host:port, started on first use; call `release()` once per acquire. */
export async function acquireServer(o: ServerOptions): Promise<SegflowServer> {
  const key = `${o.host}:${o.port}`;
  const entry = servers.get(key);
  if (entry) {
    entry.refs++;
    try {
      const s = await entry.server;
      s.checkSameOptions(o);
      return s;
    } catch (e) {
      entry.refs--;
      throw e;
    }
  }
  const created = { server: SegflowServer.listen(o), refs: 1 };
  servers.set(key, created);
  try {
    return await created.server;
  } catch (e) {
    servers.delete(key);
    throw e;
  }
}

export class SegflowServer {
  private readonly streams = new Map<string, Stream>();
  private readonly clients = new Set<Client>();
  /** Unsubscribed WebSocket sockets per remote address. */
  private readonly unsubscribed = new Map<string, number>();
  private readonly wss: WebSocketServer;
  private flushTimer: NodeJS.Timeout | undefined;
  private readonly pingTimer: NodeJS.Timeout;
  private closed = false;
  /** Refusals by reason since the server started (also reported through `onRefused`). */
  readonly refused = new Map<RefusalReason, number>();

  private constructor(readonly opts: ServerOptions, private readonly http: http.Server) {
    // Pongs are ours to send (onConnection): each one counted until written, so a ping flood is bounded and named.
    this.wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxMessageBytes, perMessageDeflate: false, clientTracking: false, autoPong: false });
    http.maxConnections = opts.maxClients + opts.maxHttpConnections;
    http.on('request', (req, res) => this.onRequest(req, res));
    http.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
    http.on('clientError', (err, socket) => this.onClientError(err as NodeJS.ErrnoException, socket));
    http.on('drop', () => this.refuse('connection_limit'));
    this.pingTimer = setInterval(() => this.pingAll(), opts.pingIntervalMs);
    this.pingTimer.unref();
  }

  static listen(o: ServerOptions): Promise<SegflowServer> {
    const h = http.createServer({
      headersTimeout: o.requestTimeoutMs,
      requestTimeout: o.requestTimeoutMs,
      // Node checks the two timeouts above only this often (default 30 s).
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(o.requestTimeoutMs / 4))),
    });
    const s = new SegflowServer(o, h);
    return new Promise((resolve, reject) => {
      h.once('error', (e: NodeJS.ErrnoException) => {
        reject(new Error(`websocket server: cannot listen on ${o.host}:${o.port}: ${e.code === 'EADDRINUSE' ? 'port already in use' : e.message}; expected a free port`));
      });
      h.listen(o.port, o.host, () => resolve(s));
    });
  }

  get port(): number {
    return (this.http.address() as { port: number }).port;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  checkSameOptions(o: ServerOptions): void {
    const a = this.opts;
    const diff = (Object.keys(a) as (keyof ServerOptions)[]).filter((k) => k !== 'onRefused' && JSON.stringify(a[k]) !== JSON.stringify(o[k]));
    if (diff.length) throw new TypeError(`websocket server ${o.host}:${o.port}: every websocket-sink on one port must use the same ${diff.join(', ')}; expected the first sink's settings, got different ones`);
  }

  addStream(name: string, o: StreamOptions): Stream {
    if (this.streams.has(name)) throw new TypeError(`websocket server ${this.opts.host}:${this.opts.port}: stream '${name}' is already published; expected a unique stream name per port`);
    const s = new Stream(name, this, o);
    this.streams.set(name, s);
    return s;
  }

  /** Remove a stream, ending it for its subscribers (endStream); the last release closes the server. */
  async release(stream?: Stream): Promise<void> {
    if (stream && this.streams.get(stream.name) === stream) {
      this.streams.delete(stream.name);
      await this.endStream(stream);
    }
    const key = `${this.opts.host}:${this.opts.port}`;
    const entry = servers.get(key);
    if (entry && --entry.refs > 0) return;
    servers.delete(key);
    await this.close();
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.flushTimer);
    clearInterval(this.pingTimer);
    // Say goodbye (1001) to everyone; whoever has not answered shortly is cut off.
    const open = [...this.clients].filter((c) => c.ws.readyState !== WebSocket.CLOSED);
    for (const c of open) if (c.ws.readyState === WebSocket.OPEN) c.ws.close(1001, 'server closing');
    await Promise.race([
      Promise.all(open.map((c) => new Promise<void>((resolve) => (c.ws.readyState === WebSocket.CLOSED ? resolve() : c.ws.once('close', () => resolve()))))),
      new Promise<void>((resolve) => setTimeout(resolve, CLOSE_GRACE_MS).unref()),
    ]);
    for (const c of this.clients) c.ws.terminate();
    this.clients.clear();
    this.wss.close();
    await new Promise<void>((resolve) => {
      this.http.close(() => resolve());
      this.http.closeAllConnections();
    });
  }

  /**
   * The stream's clients get what is queued for them (bounded by drainTimeoutMs), an `end` message
   * saying how many frames they never got, and a close (1001); whoever has not answered the close
   * within another drainTimeoutMs (at least CLOSE_GRACE_MS) is cut off. Closing them at once lost
   * the queued frames and any drops not yet announced, without a word.
   */
  private async endStream(s: Stream): Promise<void> {
    const clients = [...s.clients];
    // A client that switched to another stream meanwhile is not this stream's to end.
    const open = () => clients.filter((c) => c.stream === s && c.ws.readyState === WebSocket.OPEN);
    const wait = async (done: () => boolean, ms: number) => {
      const until = performance.now() + ms;
      while (!done() && performance.now() < until) await new Promise<void>((resolve) => setTimeout(resolve, FLUSH_INTERVAL_MS));
    };
    // Queued frames go out as the socket takes them (flush on write, and the flush timer).
    await wait(() => open().every((c) => c.queue.length === 0), s.opts.drainTimeoutMs);
    const ending = open();
    for (const c of ending) {
      const unsent = c.queue.length;
      c.queue.length = 0;
      if (unsent) {
        c.droppedTotal += unsent;
        s.opts.onDrop?.(unsent);
      }
      const count = c.pendingDropped + unsent;
      c.pendingDropped = 0;
      this.sendText(c, { type: 'end', stream: s.name, count, total: c.droppedTotal } satisfies EndMessage);
      c.ws.close(1001, count ? `stream ended; ${count} frames not sent` : 'stream ended');
    }
    await wait(() => ending.every((c) => c.ws.readyState === WebSocket.CLOSED), Math.max(CLOSE_GRACE_MS, s.opts.drainTimeoutMs));
    for (const c of ending) if (c.ws.readyState !== WebSocket.CLOSED) c.ws.terminate();
  }

  /** Write a frame to a client now if its socket keeps up, else queue it (bounded, oldest dropped). */
  offer(c: Client, group: Buffer[]): void {
    const s = c.stream;
    if (!s || c.ws.readyState !== WebSocket.OPEN) return;
    if (c.queue.length === 0 && c.ws.bufferedAmount <= s.opts.maxBufferedBytesPerClient) {
      this.write(c, group);
      return;
    }
    c.queue.push(group);
    let dropped = 0;
    while (c.queue.length > s.opts.maxQueuedMessagesPerClient) {
      c.queue.shift();
      dropped++;
    }
    if (dropped) {
      c.pendingDropped += dropped;
      c.droppedTotal += dropped;
      s.opts.onDrop?.(dropped);
    }
    this.flushTimer ??= setInterval(() => this.flushAll(), FLUSH_INTERVAL_MS);
  }

  private write(c: Client, group: Buffer[]): void {
    let bytes = 0;
    for (let i = 0; i < group.length; i++) {
      const m = group[i]!;
      bytes += m.length;
      // The callback fires once the bytes reached the kernel: a good moment to send more.
      c.ws.send(m, { binary: true }, i === group.length - 1 ? () => this.flush(c) : undefined);
    }
    c.stream?.opts.onSent?.(bytes);
  }

  private flush(c: Client): void {
    const s = c.stream;
    if (!s) return;
    while (c.queue.length && c.ws.readyState === WebSocket.OPEN && c.ws.bufferedAmount <= s.opts.maxBufferedBytesPerClient) {
      if (c.pendingDropped) {
        this.sendText(c, { type: 'dropped', count: c.pendingDropped, total: c.droppedTotal } satisfies DroppedMessage);
        c.pendingDropped = 0;
      }
      this.write(c, c.queue.shift()!);
    }
  }

  private flushAll(): void {
    let waiting = false;
    for (const c of this.clients) {
      if (c.queue.length) this.flush(c);
      if (c.queue.length) waiting = true;
    }
    if (!waiting) {
      clearInterval(this.flushTimer);
      this.flushTimer = undefined;
    }
  }

  private sendText(c: Client, m: ServerText): void {
    if (c.ws.readyState !== WebSocket.OPEN) return;
    c.unreadTexts++;
    c.ws.send(JSON.stringify(m), () => c.unreadTexts--);
  }

  private authorized(req: http.IncomingMessage, query: URLSearchParams): boolean {
    const want = this.opts.token;
    if (!want) return true;
    const got = query.get('token') ?? bearerToken(req.headers.authorization);
    if (!got) return false;
    // Compare digests so the comparison takes the same time whatever the length.
    return timingSafeEqual(digest(got), digest(want));
  }

  /** Count a refusal (by reason) and tell the sink that opened the server. */
  private refuse(reason: RefusalReason): void {
    this.refused.set(reason, (this.refused.get(reason) ?? 0) + 1);
    try {
      this.opts.onRefused?.(reason);
    } catch { /* counting must not break serving */ }
  }

  /** Malformed HTTP (parser errors, oversized headers) and request timeouts: answer if possible, close, count. */
  private onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    this.refuse('client_error');
    if (err.code !== 'ECONNRESET' && socket.writable) {
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
      socket.write(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    }
    socket.destroy();
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    try {
      this.handleRequest(req, res);
    } catch (e) {
      // A bug of ours reached by some request: that request fails, the server and the run go on.
      this.refuse('handler_error');
      if (!res.headersSent) {
        res.writeHead(400, { 'content-type': 'text/plain', connection: 'close' });
        res.end(`bad request: ${show((e as Error)?.message ?? e)}\n`);
      } else {
        res.destroy();
      }
    }
  }

  private handleRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const send = (status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', ...extra });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const target = parseTarget(req.url);
    if (!target) {
      this.refuse('bad_request');
      return send(400, 'text/plain', 'bad request target; expected a path such as /streams\n', { connection: 'close' });
    }
    if (!hostAllowed(req.headers.host, this.opts.host, this.port, this.opts.allowedHosts)) {
      this.refuse('host');
      return send(403, 'text/plain', `host ${show(req.headers.host)} is not allowed; expected ${this.hostHint()}\n`);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      this.refuse('method');
      return send(405, 'text/plain', 'expected GET\n', { allow: 'GET, HEAD' });
    }
    const cross = crossSiteRequest(req, this.opts.allowedOrigins);
    if (cross) {
      this.refuse('origin');
      return send(403, 'text/plain', `${cross}; expected a request from the viewer page itself or an origin in allowedOrigins\n`);
    }
    const { pathname, query } = target;
    if (pathname === '/health') {
      return send(200, 'application/json', JSON.stringify({ ok: true, clients: this.clients.size, streams: this.streams.size }) + '\n');
    }
    if (pathname === '/favicon.ico') return send(204, 'image/x-icon', '');
    if (pathname === '/viewer.js') return send(200, 'text/javascript; charset=utf-8', asset('viewer.js'));
    if (pathname !== '/' && pathname !== '/streams' && pathname !== '/index.html') {
      this.refuse('not_found');
      return send(404, 'text/plain', 'not found; expected /, /streams, /health or /ws\n');
    }
    if (!this.authorized(req, query)) {
      this.refuse('token');
      return send(401, 'text/plain', 'token required: add ?token=... or an Authorization: Bearer header\n', { 'www-authenticate': 'Bearer realm="segflow"' });
    }
    if (pathname === '/streams') {
      const list = [...this.streams.values()].map((s) => ({ name: s.name, clients: s.clients.size, video: s.opts.video, classes: s.classes, width: s.width, height: s.height, frames: s.published }));
      return send(200, 'application/json', JSON.stringify({ version: PROTOCOL_VERSION, streams: list }) + '\n');
    }
    send(200, 'text/html; charset=utf-8', asset('viewer.html'), {
      'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' blob: data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'",
    });
  }

  private hostHint(): string {
    const names = new Set(['127.0.0.1', 'localhost', '[::1]', this.opts.host.includes(':') && !this.opts.host.startsWith('[') ? `[${this.opts.host}]` : this.opts.host]);
    return `${[...names].map((n) => `${n}:${this.port}`).join(', ')}, another IP address of this machine with that port, or an entry of allowedHosts`;
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    try {
      this.handleUpgrade(req, socket, head);
    } catch (e) {
      this.refuse('handler_error');
      if (socket.writable) socket.end(rawResponse(400, 'Bad Request', `bad request: ${show((e as Error)?.message ?? e)}\n`), () => socket.destroy());
      else socket.destroy();
    }
  }

  private handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const refuse = (reason: RefusalReason, status: number, text: string, msg: string) => {
      this.refuse(reason);
      // Destroyed once written: a peer that never reads or closes cannot keep the socket.
      socket.end(rawResponse(status, text, msg), () => socket.destroy());
    };
    const target = parseTarget(req.url);
    if (!target) return refuse('bad_request', 400, 'Bad Request', 'bad request target; expected /ws?stream=NAME\n');
    if (!hostAllowed(req.headers.host, this.opts.host, this.port, this.opts.allowedHosts)) return refuse('host', 403, 'Forbidden', `host ${show(req.headers.host)} is not allowed; expected ${this.hostHint()}\n`);
    if (target.pathname !== '/ws') return refuse('not_found', 404, 'Not Found', 'expected the WebSocket at /ws\n');
    if (!originAllowed(req, this.opts.allowedOrigins)) return refuse('origin', 403, 'Forbidden', `origin ${show(req.headers.origin)} is not allowed; expected the page's own origin or one in allowedOrigins\n`);
    if (!this.authorized(req, target.query)) return refuse('token', 401, 'Unauthorized', 'token required: add ?token=... or an Authorization: Bearer header\n');
    if (this.clients.size >= this.opts.maxClients) return refuse('full', 503, 'Service Unavailable', `too many clients (${this.opts.maxClients})\n`);
    const name = target.query.get('stream');
    if (name !== null && !this.streams.has(name)) return refuse('not_found', 404, 'Not Found', `no stream ${show(name)}; expected one of: ${[...this.streams.keys()].join(', ')}\n`);
    const ip = socket instanceof net.Socket ? socket.remoteAddress ?? '?' : '?';
    if (name === null && (this.unsubscribed.get(ip) ?? 0) >= this.opts.maxUnsubscribedPerIp) {
      return refuse('unsubscribed_per_ip', 503, 'Service Unavailable', `too many sockets from ${ip} that have not subscribed (${this.opts.maxUnsubscribedPerIp}); connect with /ws?stream=NAME\n`);
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      try {
        this.onConnection(ws, name, ip);
      } catch {
        this.refuse('handler_error');
        ws.terminate();
      }
    });
  }

  private onConnection(ws: WebSocket, name: string | null, ip: string): void {
    if (this.closed) return void ws.terminate();
    const c: Client = { ws, ip, alive: true, subscribeTimer: undefined, stream: undefined, queue: [], pendingDropped: 0, droppedTotal: 0, unreadTexts: 0, unreadPongs: 0 };
    this.clients.add(c);
    this.unsubscribed.set(ip, (this.unsubscribed.get(ip) ?? 0) + 1);
    c.subscribeTimer = setTimeout(() => {
      this.refuse('subscribe_timeout');
      this.closeSoon(c, 1008, `no subscribe within ${this.opts.subscribeTimeoutMs} ms`);
    }, this.opts.subscribeTimeoutMs);
    const subscribe = (n: string) => {
      const s = this.streams.get(n);
      if (!s) {
        this.sendText(c, { type: 'error', message: `no stream ${show(n)}; expected one of: ${[...this.streams.keys()].join(', ')}` });
        return;
      }
      this.leave(c);
      this.subscribed(c);
      c.stream = s;
      s.clients.add(c);
      s.opts.onClients?.(s.clients.size);
      this.sendText(c, s.hello());
    };
    ws.on('pong', () => (c.alive = true));
    ws.on('ping', (data: Buffer) => {
      if (ws.readyState !== WebSocket.OPEN) return;
      // A client that pings without reading our pongs would have us buffer them without bound.
      if (c.unreadPongs >= MAX_UNREAD_PONGS && ws.bufferedAmount > 0) {
        this.refuse('ping_flood');
        return this.closeSoon(c, 1008, 'not reading pongs (ping flood)');
      }
      c.unreadPongs++;
      ws.pong(data, false, () => c.unreadPongs--);
    });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (ws.readyState !== WebSocket.OPEN) return;
      // A client that sends without reading our replies would have us buffer them without bound.
      if (c.unreadTexts >= MAX_UNREAD_TEXTS && ws.bufferedAmount > 0) {
        this.refuse('not_reading');
        return this.closeSoon(c, 1008, 'not reading replies');
      }
      c.alive = true;
      try {
        onMessage(data, isBinary);
      } catch (e) {
        this.refuse('handler_error');
        this.sendText(c, { type: 'error', message: `could not handle that message: ${show((e as Error)?.message ?? e)}` });
      }
    });
    const onMessage = (data: RawData, isBinary: boolean) => {
      if (isBinary) return this.sendText(c, { type: 'error', message: 'expected a JSON text message such as {"type":"subscribe","stream":"cam0"}, got binary data' });
      let m: unknown;
      try {
        m = JSON.parse(String(data));
      } catch {
        return this.sendText(c, { type: 'error', message: 'expected JSON text, got something that does not parse' });
      }
      const sub = m as { type?: unknown; stream?: unknown };
      if (sub && sub.type === 'subscribe' && typeof sub.stream === 'string') return subscribe(sub.stream);
      this.sendText(c, { type: 'error', message: `expected {"type":"subscribe","stream":NAME}, got type ${JSON.stringify(sub?.type)}` });
    };
    ws.on('error', () => ws.terminate());
    ws.on('close', () => {
      this.leave(c);
      this.subscribed(c);
      this.clients.delete(c);
    });
    if (name !== null) subscribe(name);
  }

  /** The client no longer counts as unsubscribed (it subscribed, or left). */
  private subscribed(c: Client): void {
    if (c.subscribeTimer === undefined) return;
    clearTimeout(c.subscribeTimer);
    c.subscribeTimer = undefined;
    const n = (this.unsubscribed.get(c.ip) ?? 1) - 1;
    if (n > 0) this.unsubscribed.set(c.ip, n);
    else this.unsubscribed.delete(c.ip);
  }

  /** Close with a reason; cut off whoever does not answer the close promptly. */
  private closeSoon(c: Client, code: number, reason: string): void {
    if (c.ws.readyState === WebSocket.OPEN) c.ws.close(code, reason);
    setTimeout(() => c.ws.terminate(), CLOSE_GRACE_MS).unref();
  }

  /** Each period: close clients that did not answer the last ping, ping the others. */
  private pingAll(): void {
    for (const c of this.clients) {
      if (c.ws.readyState !== WebSocket.OPEN) continue;
      if (!c.alive) {
        this.refuse('ping_timeout');
        c.ws.terminate();
        continue;
      }
      c.alive = false;
      try {
        c.ws.ping();
      } catch {
        c.ws.terminate();
      }
    }
  }

  private leave(c: Client): void {
    const s = c.stream;
    if (!s) return;
    s.clients.delete(c);
    c.stream = undefined;
    c.queue.length = 0;
    s.opts.onClients?.(s.clients.size);
  }
}

function rawResponse(status: number, text: string, body: string): string {
  return `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function sameClasses(a: readonly string[], ap: Palette, b: readonly string[], bp: Palette): boolean {
  return sameClassNames(a, b) && JSON.stringify(ap) === JSON.stringify(bp);
}
