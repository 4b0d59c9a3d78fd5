/**
 * A program's side of a websocket-sink stream (docs/websocket-protocol.md): `subscribe()` connects,
 * subscribes and yields one `MaskFrame` per labels message — class ids decoded (raw or RLE), the
 * stream's class names and palette as last announced, the JPEG frame of the same seq when the
 * stream sends video, and how many frames this client has missed so far (a slow reader loses
 * frames; the server says how many). Iteration ends when the stream ends (`end`, close 1001) or
 * the signal aborts; any other close, a refused upgrade (401 token, 404 stream, 503 full) or a
 * message that does not decode throws, naming the URL and why. No reconnect loop: a caller that
 * wants one calls `subscribe` again. Used by `segflow subscribe`; exported by the package.
 */
import type WebSocket from 'ws';
import { decodeClassIds, decodeMessage, Flags, MsgType, PROTOCOL_VERSION } from '../../codecs/ws-protocol.ts';

export interface MaskFrame {
  readonly stream: string;
  readonly seq: number;
  readonly width: number;
  readonly height: number;
  /** One class id a pixel, row-major (`classes[id]` names it). */
  readonly classIds: Uint8Array;
  readonly classes: readonly string[];
  readonly palette: readonly (readonly [number, number, number])[];
  /** The segmenter ran the whole network on this frame (not carried from an earlier one). */
  readonly keyframe: boolean;
  /** The first frame after a start, reconnect or move: temporal state was reset. */
  readonly discontinuity: boolean;
  readonly ptsMs: number;
  /** Wall-clock ms (Unix epoch) the live source received the frame; NaN for file sources. */
  readonly captureTimeMs: number;
  /** Wall-clock ms (Unix epoch) the server sent it. */
  readonly sendTimeMs: number;
  /** The frame's JPEG (same seq), when the stream sends video. */
  readonly jpeg?: Uint8Array | undefined;
  /** Frames this client did not get since it connected (the server's `dropped` notices). */
  readonly missed: number;
}

export interface SubscribeOptions {
  /** The stream's name; default: the `stream` in the URL's query, else the server's only stream. */
  readonly stream?: string | undefined;
  /** Sent as `Authorization: Bearer …` (the sink's `token`). */
  readonly token?: string | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Ms to wait for the connection and the server's hello. @default 10000 */
  readonly connectTimeoutMs?: number | undefined;
}

/** `ws://host:port[/ws][?stream=NAME]` or `http://…` (the viewer page's address) → the WebSocket URL and stream. */
export function streamUrl(url: string, stream?: string): { url: string; stream: string | undefined } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TypeError(`${url}: expected ws://HOST:PORT/ws?stream=NAME (or the viewer's http:// address)`);
  }
  if (u.protocol === 'http:' || u.protocol === 'https:') u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new TypeError(`${url}: expected a ws:// (or http://) address, got ${u.protocol}`);
  const name = stream ?? (u.searchParams.get('stream') || undefined);
  u.pathname = '/ws';
  u.search = '';
  if (name) u.searchParams.set('stream', name);
  return { url: u.toString(), stream: name };
}

/** The streams a server has (GET /streams), for a URL without one. */
async function onlyStream(wsUrl: string, token: string | undefined, signal: AbortSignal | undefined): Promise<string> {
  const u = new URL(wsUrl);
  u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
  u.pathname = '/streams';
  const r = await fetch(u, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: signal ?? null }).catch((e: Error & { cause?: { code?: string; message?: string } }) => {
    throw new Error(`${u.origin}: cannot reach the server (${e.cause?.code ?? e.cause?.message ?? e.message}); expected a running graph with a websocket-sink there`);
  });
  if (!r.ok) throw new Error(`${u.origin}/streams: HTTP ${r.status}${r.status === 401 ? ' (a token is needed: --token)' : ''}`);
  const names = ((await r.json()) as { streams?: { name: string }[] }).streams?.map((s) => s.name) ?? [];
  if (names.length !== 1) throw new Error(`${u.origin} serves ${names.length ? `${names.length} streams (${names.join(', ')})` : 'no stream yet'}; name one: ?stream=NAME`);
  return names[0]!;
}

export async function* subscribe(url: string, o: SubscribeOptions = {}): AsyncGenerator<MaskFrame, void, undefined> {
  const at = streamUrl(url, o.stream);
  const stream = at.stream ?? await onlyStream(at.url, o.token, o.signal);
  const wsUrl = streamUrl(at.url, stream).url;
  // Loaded here, not at the package's import (`import 'segflow'` loads no network module).
  const WS = (await import('ws')).default;
  const ws: WebSocket = new WS(wsUrl, { headers: o.token ? { authorization: `Bearer ${o.token}` } : {}, maxPayload: 64 << 20 });
  // Messages arrive faster than a slow consumer takes them: they wait here, and the server, not
  // this queue, drops frames for a reader that falls behind (the socket is paused meanwhile).
  const queue: { data: Buffer; binary: boolean }[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  let failure: Error | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  const fail = (e: Error) => {
    failure ??= e;
    notify();
  };
  ws.on('message', (data: Buffer, binary: boolean) => {
    queue.push({ data, binary });
    if (queue.length > 64 && !ws.isPaused) ws.pause();
    notify();
  });
  ws.on('unexpected-response', (_req, res) => fail(new Error(`${wsUrl}: the server refused the subscription: HTTP ${res.statusCode}${res.statusCode === 401 ? ' (wrong or missing token)' : res.statusCode === 404 ? ` (no stream ${stream} there)` : res.statusCode === 503 ? ' (too many clients)' : ''}`)));
  ws.on('error', (e: Error & { code?: string }) => fail(new Error(`${wsUrl}: ${e.code === 'ECONNREFUSED' ? `cannot reach the server (ECONNREFUSED); expected a running graph with a websocket-sink there` : e.message}`)));
  ws.on('close', (code, reason) => {
    if (code === 1001) ended = true;
    else fail(new Error(`${wsUrl}: closed by the server (${code}${reason.length ? `: ${reason.toString()}` : ''})`));
    notify();
  });
  const abort = () => {
    ended = true;
    ws.terminate();
    notify();
  };
  o.signal?.addEventListener('abort', abort, { once: true });
  const timer = setTimeout(() => fail(new Error(`${wsUrl}: no hello from the server within ${o.connectTimeoutMs ?? 10_000} ms`)), o.connectTimeoutMs ?? 10_000);
  let classes: readonly string[] = [];
  let palette: readonly (readonly [number, number, number])[] = [];
  let missed = 0;
  let hello = false;
  let jpeg: { seq: number; data: Uint8Array } | undefined;
  try {
    for (;;) {
      const m = queue.shift();
      if (!m) {
        if (o.signal?.aborted) return;
        if (failure && !ended) throw failure;
        if (ended) return;
        if (ws.isPaused) ws.resume();
        await new Promise<void>((r) => (wake = r));
        continue;
      }
      if (!m.binary) {
        const msg = JSON.parse(m.data.toString('utf8')) as { type?: string; version?: number; classes?: string[]; palette?: [number, number, number][]; total?: number; message?: string };
        if (msg.type === 'hello') {
          if (msg.version !== PROTOCOL_VERSION) throw new Error(`${wsUrl}: the server speaks protocol version ${msg.version}; this client knows ${PROTOCOL_VERSION}`);
          hello = true;
          clearTimeout(timer);
        }
        if ((msg.type === 'hello' || msg.type === 'classes') && msg.classes?.length) {
          classes = msg.classes;
          palette = msg.palette ?? [];
        } else if ((msg.type === 'dropped' || msg.type === 'end') && typeof msg.total === 'number') missed = msg.total;
        else if (msg.type === 'error') throw new Error(`${wsUrl}: the server says: ${msg.message}`);
        continue;
      }
      if (!hello) throw new Error(`${wsUrl}: a binary message before the server's hello`);
      const d = decodeMessage(new Uint8Array(m.data.buffer, m.data.byteOffset, m.data.byteLength));
      if (d.type === MsgType.jpeg) {
        jpeg = { seq: d.seq, data: d.payload };
        continue;
      }
      yield {
        stream, seq: d.seq, width: d.width, height: d.height, classIds: decodeClassIds(d), classes, palette,
        keyframe: (d.flags & Flags.keyframe) !== 0, discontinuity: (d.flags & Flags.discontinuity) !== 0,
        ptsMs: d.ptsMs, captureTimeMs: d.captureTimeMs, sendTimeMs: d.sendTimeMs,
        jpeg: jpeg?.seq === d.seq ? jpeg.data : undefined, missed,
      };
      jpeg = undefined;
    }
  } finally {
    clearTimeout(timer);
    o.signal?.removeEventListener('abort', abort);
    if (ws.readyState === WS.CONNECTING || ws.readyState === WS.OPEN) ws.terminate();
  }
}
