/**
 * websocket-sink — publishes label maps (and optionally the video) as a named
 * stream over WebSocket, with a browser viewer on the same port.
 *
 * Ports: in `labels`; optional in `frame` (the video: the runtime joins it to
 * the labels by source and seq, and the frame of each labels packet is sent
 * first as a JPEG, so video is sent at most at the labels' rate; labels whose
 * frame was dropped go without it); sink. Every websocket-sink in the process
 * that names the same host:port shares one server (src/ws/server.ts); each
 * publishes its `stream`. Clients connect to `ws://host:port/ws?stream=NAME`
 * and get a `hello` JSON message, then binary frame messages (format and
 * versioning in docs/websocket-protocol.md); `http://host:port/` is the
 * viewer, `/streams` lists streams, `/health` is open. Each client has a
 * bounded queue: a slow client loses frames (counted in `ws_dropped_total`,
 * and told with a `dropped` message); it never slows the pipeline or other
 * clients. Nothing is encoded while a stream has no subscribers. When the
 * stream ends, each client gets what is still queued for it (for up to
 * `drainTimeoutMs`), then an `end` message counting the frames it never got,
 * then the close (1001).
 *
 * Options: `port`, `host` (default 127.0.0.1), `stream` (name), `token`
 * (when set, required as `?token=` or `Authorization: Bearer` by the page,
 * /streams and the WebSocket), `allowedOrigins` (browser origins allowed
 * besides the page's own; default none: same-origin only; `["*"]` = any),
 * `allowedHosts` (Host header names accepted besides IP addresses, localhost
 * and `host`: the DNS-rebinding check; `name` or `name:port`, `["*"]` = any),
 * `maxClients`, `maxQueuedMessagesPerClient` (frames waiting per client
 * before the oldest is dropped), `maxBufferedBytesPerClient` (unsent socket
 * bytes above which frames queue), `maxMessageBytes` (larger incoming
 * messages close the connection with 1009), `jpegQuality` (1..100),
 * `drainTimeoutMs` (at the end of the stream: time to send what is queued,
 * then time for the close), and the
 * limits on peers that hold connections without using them:
 * `subscribeTimeoutMs`, `pingIntervalMs`, `maxUnsubscribedPerIp`,
 * `maxHttpConnections`, `requestTimeoutMs`. Every refusal (bad request,
 * foreign Host or Origin, token, limits, timeouts, a handler error) is
 * counted in `ws_refused_total{port,reason}`. Threat model: docs/security.md.
 * The messages for each label map are made by src/codecs/ws-messages.ts
 * (encodeLabelsGroup); this node owns the server and the stream.
 *
 * ```yaml
 * browser: { type: websocket-sink, options: { port: 8090, stream: cam0 }, in: { labels: segment.labels, frame: small.frame } }
 * ```
 */
import { z } from 'zod';
import { liveOrigin } from '../src/core/live-clock.ts';
import { defineNode } from '../src/core/node.ts';
import type { Frame, Labels } from '../src/core/packet.ts';
import { serial } from '../src/core/runtime/queue.ts';
import { encodeLabelsGroup } from '../src/codecs/ws-messages.ts';
import { HOST_PATTERN } from '../src/net/ws/http-guard.ts';
import type { Stream } from '../src/net/ws/server.ts';

const options = z.strictObject({
  port: z.number().int().min(1).max(65535).describe('TCP port of the HTTP/WebSocket server'),
  host: z.string().min(1).default('127.0.0.1').describe('interface to bind (0.0.0.0 exposes it to the network)'),
  stream: z.string().regex(/^[A-Za-z0-9][\w.-]{0,63}$/, 'expected a stream name of letters, digits, _ . - (≤ 64)').default('default').describe('stream name clients subscribe to'),
  token: z.string().min(8, 'expected a token of at least 8 characters').optional().describe('shared secret required by the page and the WebSocket'),
  allowedOrigins: z.array(z.union([z.literal('*'), z.url({ protocol: /^https?$/ }).transform((u) => new URL(u).origin)], { error: 'expected an origin such as http://viewer.example:8080, or *' })).default([])
    .describe('browser origins (scheme://host[:port]) allowed besides the page itself; empty = same-origin only, ["*"] = any'),
  allowedHosts: z.array(z.string().regex(HOST_PATTERN, 'expected a host name, name:port or *')).default([])
    .describe('Host header values accepted besides IP addresses, localhost and the bind host (DNS-rebinding check); ["*"] = any'),
  maxClients: z.number().int().min(1).max(10_000).default(64).describe('WebSocket clients per server'),
  maxQueuedMessagesPerClient: z.number().int().min(1).max(1000).default(4).describe('frames waiting per client before the oldest is dropped'),
  maxBufferedBytesPerClient: z.number().int().min(1024).default(1 << 20).describe('unsent socket bytes per client above which frames queue'),
  maxMessageBytes: z.number().int().min(64).max(1 << 24).default(4096).describe('largest message accepted from a client (bytes)'),
  jpegQuality: z.number().int().min(1).max(100).default(75).describe('JPEG quality of the video frames'),
  drainTimeoutMs: z.number().int().min(0).max(600_000).default(2000).describe('when the stream ends: how long frames queued for slow clients may still be sent, and then how long their close may take (ms)'),
  subscribeTimeoutMs: z.number().int().min(100).max(600_000).default(10_000).describe('a WebSocket that has not subscribed by then is closed (ms)'),
  pingIntervalMs: z.number().int().min(100).max(600_000).default(15_000).describe('ping period; a client that has not answered the previous ping is closed (ms)'),
  maxUnsubscribedPerIp: z.number().int().min(1).max(10_000).default(16).describe('WebSockets one address may hold before subscribing'),
  maxHttpConnections: z.number().int().min(1).max(100_000).default(512).describe('TCP connections besides the WebSocket clients; more are dropped at once'),
  requestTimeoutMs: z.number().int().min(100).max(600_000).default(10_000).describe('time a connection has to send its request headers (ms); then 408 and closed'),
});

export const websocketSink = defineNode({
  type: 'websocket-sink',
  description: 'Stream label maps (and JPEG video) to browsers over WebSocket',
  role: 'sink',
  inputs: { labels: 'labels', frame: 'frame' },
  optionalInputs: ['frame'],
  // Frames wait for their labels (the segmenter's latency, in frames, is far below 64).
  join: { ports: ['labels', 'frame'], keepUnmatched: ['labels'], maxWaiting: 64 },
  outputs: {},
  options,
  async open(ctx) {
    const o = ctx.options;
    const tags = { node: ctx.name, stream: o.stream };
    const { acquireServer } = await import('../src/net/ws/server.ts'); // ws loads when a node is opened
    const server = await acquireServer({
      host: o.host, port: o.port, token: o.token, allowedOrigins: o.allowedOrigins, allowedHosts: o.allowedHosts, maxClients: o.maxClients, maxMessageBytes: o.maxMessageBytes,
      maxUnsubscribedPerIp: o.maxUnsubscribedPerIp, subscribeTimeoutMs: o.subscribeTimeoutMs, pingIntervalMs: o.pingIntervalMs, maxHttpConnections: o.maxHttpConnections, requestTimeoutMs: o.requestTimeoutMs,
      // Counted in the run whose sink opened the server (every sink on a port shares it).
      onRefused: (reason) => ctx.metrics.count('ws_refused_total', { port: String(o.port), reason }, 1, 'Requests, connections and sockets the WebSocket server turned away, by reason.'),
    });
    let released: Promise<void> | undefined;
    const video = ctx.wired.has('frame');
    ctx.metrics.count('ws_dropped_total', tags, 0, 'Frames dropped for slow WebSocket clients.');
    ctx.metrics.count('ws_frames_sent_total', tags, 0, 'Frames written to WebSocket clients (summed over clients).');
    ctx.metrics.count('ws_bytes_sent_total', tags, 0, 'Bytes written to WebSocket clients.');
    ctx.metrics.gauge('ws_clients', tags, 0, 'WebSocket clients subscribed to a stream.');
    let stream: Stream;
    try {
      stream = server.addStream(o.stream, {
        maxQueuedMessagesPerClient: o.maxQueuedMessagesPerClient,
        maxBufferedBytesPerClient: o.maxBufferedBytesPerClient,
        drainTimeoutMs: o.drainTimeoutMs,
        get video() {
          return video;
        },
        onDrop: (n) => ctx.metrics.count('ws_dropped_total', tags, n),
        onClients: (n) => ctx.metrics.gauge('ws_clients', tags, n),
        onSent: (bytes) => {
          ctx.metrics.count('ws_frames_sent_total', tags);
          ctx.metrics.count('ws_bytes_sent_total', tags, bytes);
        },
      });
    } catch (e) {
      await server.release();
      throw e;
    }
    const s = stream;
    ctx.log(`stream '${o.stream}' on http://${o.host}:${server.port}/ (ws://${o.host}:${server.port}/ws?stream=${o.stream})`);

    const publish = async (l: Labels, f: Frame | undefined): Promise<void> => {
      s.setClasses(l.classNames, l.palette);
      if (s.clients.size === 0) return s.skipped(l.width, l.height);
      const origin = liveOrigin(ctx.metrics, l.source);
      const capture = origin === undefined ? NaN : origin + l.ptsMs;
      const { group, sendTimeMs } = await encodeLabelsGroup(l, f, { jpegQuality: o.jpegQuality, captureTimeMs: capture });
      if (!Number.isNaN(capture)) ctx.metrics.gauge('ws_capture_to_send_ms', tags, Math.round((sendTimeMs - capture) * 10) / 10, 'Last frame: ms from camera receipt to WebSocket send.');
      s.publish(group, l.width, l.height);
    };

    return {
      // Frames whose labels were dropped upstream are dropped by the join.
      process: ({ joined }) => joined.pipe(serial(ctx.queue('labels'), async ({ labels, frame }) => {
        await publish(labels, frame);
        return labels;
      })),
      close() {
        released ??= server.release(s);
        return released;
      },
    };
  },
});
