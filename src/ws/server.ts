/**
 * One HTTP + WebSocket server per host:port, shared by every websocket-sink in
 * the process; each sink publishes a named stream on it.
 *
 * Routes: `GET /health` (open: ok, client and stream counts), `GET /` (the
 * viewer page), `GET /viewer.js`, `GET /streams` (JSON list), and the
 * WebSocket upgrade on `/ws?stream=NAME` (or subscribe later with
 * `{"type":"subscribe","stream":NAME}`). With a token set, `/`, `/streams`
 * and `/ws` need `?token=` or `Authorization: Bearer`; a browser Origin must
 * be the page's own or in `allowedOrigins` (empty = any).
 *
 * Each client has its own bounded queue: a frame (its JPEG and labels) is
 * written straight to the socket while the socket's unsent bytes
 * (`ws.bufferedAmount`) stay under a bound, otherwise it waits in the queue;
 * when the queue is full the oldest frame is dropped, counted, and the client
 * is told with a `dropped` message before its next frame. So a slow client
 * never holds back the pipeline or other clients.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { PROTOCOL_VERSION, type ClassesMessage, type DroppedMessage, type HelloMessage, type ServerText } from './protocol.ts';

export interface ServerOptions {
  readonly host: string;
  readonly port: number;
  /** When set, required for the viewer page, /streams and the WebSocket upgrade. */
  readonly token?: string | undefined;
  /** Browser origins allowed to connect besides the page's own (empty = any). */
  readonly allowedOrigins: readonly string[];
  readonly maxClients: number;
  /** Larger incoming messages close the connection with 1009. */
  readonly maxMessageBytes: number;
}

export interface StreamOptions {
  /** Frames that may wait per client before the oldest is dropped. */
  readonly maxQueuedMessagesPerClient: number;
  /** Unsent bytes on a client's socket above which frames queue instead of being written. */
  readonly maxBufferedBytesPerClient: number;
  readonly video: boolean;
  /** Called with the number of frames dropped for a client. */
  readonly onDrop?: (count: number) => void;
  /** Called when a client connects or leaves. */
  readonly onClients?: (count: number) => void;
  /** Called per frame written to a client socket, with its bytes. */
  readonly onSent?: (bytes: number) => void;
}

type Palette = readonly (readonly [number, number, number])[];

interface Client {
  readonly ws: WebSocket;
  stream: Stream | undefined;
  readonly queue: Buffer[][];
  pendingDropped: number;
  droppedTotal: number;
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
  private readonly wss: WebSocketServer;
  private flushTimer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(readonly opts: ServerOptions, private readonly http: http.Server) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxMessageBytes, perMessageDeflate: false, clientTracking: false });
    http.on('request', (req, res) => this.onRequest(req, res));
    http.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
  }

  static listen(o: ServerOptions): Promise<SegflowServer> {
    const h = http.createServer();
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
    const diff = (['token', 'maxClients', 'maxMessageBytes'] as const).filter((k) => a[k] !== o[k]);
    if (a.allowedOrigins.join('\n') !== o.allowedOrigins.join('\n')) diff.push('allowedOrigins' as never);
    if (diff.length) throw new TypeError(`websocket server ${o.host}:${o.port}: every websocket-sink on one port must use the same ${diff.join(', ')}; expected the first sink's settings, got different ones`);
  }

  addStream(name: string, o: StreamOptions): Stream {
    if (this.streams.has(name)) throw new TypeError(`websocket server ${this.opts.host}:${this.opts.port}: stream '${name}' is already published; expected a unique stream name per port`);
    const s = new Stream(name, this, o);
    this.streams.set(name, s);
    return s;
  }

  /** Remove a stream, closing its subscribers; the last release closes the server. */
  async release(stream?: Stream): Promise<void> {
    if (stream && this.streams.get(stream.name) === stream) {
      this.streams.delete(stream.name);
      for (const c of stream.clients) c.ws.close(1001, 'stream ended');
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
    if (c.ws.readyState === WebSocket.OPEN) c.ws.send(JSON.stringify(m));
  }

  private authorized(req: http.IncomingMessage, url: URL): boolean {
    const want = this.opts.token;
    if (!want) return true;
    const auth = req.headers.authorization;
    const got = url.searchParams.get('token') ?? (auth?.startsWith('Bearer ') ? auth.slice(7).trim() : undefined);
    if (!got) return false;
    // Compare digests so the comparison takes the same time whatever the length.
    return timingSafeEqual(digest(got), digest(want));
  }

  private originAllowed(req: http.IncomingMessage): boolean {
    const origin = req.headers.origin;
    if (!origin || this.opts.allowedOrigins.length === 0) return true;
    if (req.headers.host && (origin === `http://${req.headers.host}` || origin === `https://${req.headers.host}`)) return true;
    return this.opts.allowedOrigins.includes(origin);
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const send = (status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', ...extra });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'expected GET\n', { allow: 'GET, HEAD' });
    if (url.pathname === '/health') {
      return send(200, 'application/json', JSON.stringify({ ok: true, clients: this.clients.size, streams: this.streams.size }) + '\n');
    }
    if (url.pathname === '/favicon.ico') return send(204, 'image/x-icon', '');
    if (url.pathname === '/viewer.js') return send(200, 'text/javascript; charset=utf-8', asset('viewer.js'));
    if (url.pathname !== '/' && url.pathname !== '/streams' && url.pathname !== '/index.html') return send(404, 'text/plain', 'not found; expected /, /streams, /health or /ws\n');
    if (!this.authorized(req, url)) {
      return send(401, 'text/plain', 'token required: add ?token=... or an Authorization: Bearer header\n', { 'www-authenticate': 'Bearer realm="segflow"' });
    }
    if (url.pathname === '/streams') {
      const list = [...this.streams.values()].map((s) => ({ name: s.name, clients: s.clients.size, video: s.opts.video, classes: s.classes, width: s.width, height: s.height, frames: s.published }));
      return send(200, 'application/json', JSON.stringify({ version: PROTOCOL_VERSION, streams: list }) + '\n');
    }
    send(200, 'text/html; charset=utf-8', asset('viewer.html'), {
      'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' blob: data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'",
    });
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'http://localhost');
    const refuse = (status: number, text: string, msg: string) => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(msg)}\r\n\r\n${msg}`);
    };
    if (url.pathname !== '/ws') return refuse(404, 'Not Found', 'expected the WebSocket at /ws\n');
    if (!this.originAllowed(req)) return refuse(403, 'Forbidden', `origin ${req.headers.origin} is not allowed\n`);
    if (!this.authorized(req, url)) return refuse(401, 'Unauthorized', 'token required: add ?token=... or an Authorization: Bearer header\n');
    if (this.clients.size >= this.opts.maxClients) return refuse(503, 'Service Unavailable', `too many clients (${this.opts.maxClients})\n`);
    const name = url.searchParams.get('stream');
    if (name !== null && !this.streams.has(name)) return refuse(404, 'Not Found', `no stream '${name}'; expected one of: ${[...this.streams.keys()].join(', ')}\n`);
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, name));
  }

  private onConnection(ws: WebSocket, name: string | null): void {
    if (this.closed) return void ws.terminate();
    const c: Client = { ws, stream: undefined, queue: [], pendingDropped: 0, droppedTotal: 0 };
    this.clients.add(c);
    const subscribe = (n: string) => {
      const s = this.streams.get(n);
      if (!s) {
        this.sendText(c, { type: 'error', message: `no stream '${n}'; expected one of: ${[...this.streams.keys()].join(', ')}` });
        return;
      }
      this.leave(c);
      c.stream = s;
      s.clients.add(c);
      s.opts.onClients?.(s.clients.size);
      this.sendText(c, s.hello());
    };
    ws.on('message', (data: RawData, isBinary: boolean) => {
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
    });
    ws.on('error', () => ws.terminate());
    ws.on('close', () => {
      this.leave(c);
      this.clients.delete(c);
    });
    if (name !== null) subscribe(name);
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

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function sameClasses(a: readonly string[], ap: Palette, b: readonly string[], bp: Palette): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]) && JSON.stringify(ap) === JSON.stringify(bp);
}
