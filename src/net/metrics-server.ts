/**
 * Serves Prometheus text on /metrics (and /), and `{"ok":true}` on /health;
 * 127.0.0.1 unless a host is given.
 *
 * Read-only and hardened like the WebSocket server (src/ws/http-guard.ts):
 * only GET and HEAD (others 405), the target parsed without `new URL` (bad
 * targets 400), a Host that names this server (DNS rebinding; else 403),
 * requests from browser pages on other sites refused (403), at most
 * `maxConnections` connections that must send their request within
 * `requestTimeoutMs`; no request can throw out of the handler (400 instead).
 * `close()` ends every connection at once, so no client holds the process.
 *
 * Besides the run's own metrics, the process's, read at each scrape under the names Prometheus
 * clients use (so a long run's growth shows on any dashboard): resident memory, CPU seconds, open
 * file descriptors, V8 heap (this thread's), memory outside it (Buffers: frames), start time.
 */
import { readdirSync } from 'node:fs';
import http from 'node:http';
import type { Metrics } from '../core/runtime/metrics.ts';
import { crossSiteRequest, hostAllowed, parseTarget, show } from './ws/http-guard.ts';

export interface MetricsServerOptions {
  /** Host header values accepted besides IP addresses, localhost and the bind host. */
  readonly allowedHosts?: readonly string[];
  /** @default 64 */
  readonly maxConnections?: number;
  /** @default 10000 (ms) */
  readonly requestTimeoutMs?: number;
}

export async function serveMetrics(metrics: () => Metrics, port: number, host = '127.0.0.1', o: MetricsServerOptions = {}): Promise<http.Server> {
  const requestTimeoutMs = o.requestTimeoutMs ?? 10_000;
  const server = http.createServer({
    headersTimeout: requestTimeoutMs,
    requestTimeout: requestTimeoutMs,
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(requestTimeoutMs / 4))),
  }, (req, res) => {
    const send = (status: number, type: string, body: string, extra: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...extra });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    try {
      const target = parseTarget(req.url);
      if (!target) return send(400, 'text/plain', 'bad request target; expected /metrics or /health\n', { connection: 'close' });
      const boundPort = (server.address() as { port: number }).port;
      if (!hostAllowed(req.headers.host, host, boundPort, o.allowedHosts ?? [])) return send(403, 'text/plain', `host ${show(req.headers.host)} is not allowed; expected 127.0.0.1:${boundPort} or localhost:${boundPort}\n`);
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'expected GET or HEAD\n', { allow: 'GET, HEAD' });
      const cross = crossSiteRequest(req, []);
      if (cross) return send(403, 'text/plain', `${cross}\n`);
      if (target.pathname === '/metrics' || target.pathname === '/') return send(200, 'text/plain; version=0.0.4', metrics().prometheus() + processMetrics());
      if (target.pathname === '/health') return send(200, 'application/json', '{"ok":true}\n');
      send(404, 'text/plain', 'not found; expected /metrics or /health\n');
    } catch (e) {
      if (!res.headersSent) send(400, 'text/plain', `bad request: ${show((e as Error)?.message ?? e)}\n`, { connection: 'close' });
      else res.destroy();
    }
  });
  server.maxConnections = o.maxConnections ?? 64;
  // Closing ends every connection too: a scrape in progress, or a client that never finishes its request (the
  // request timeout is not checked once the server is closing), would otherwise keep the process from exiting.
  const close = server.close.bind(server);
  server.close = ((cb?: (err?: Error) => void) => {
    close(cb);
    server.closeAllConnections();
    return server;
  }) as typeof server.close;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      reject(new Error(`metrics server: cannot listen on ${host}:${port}: ${e.code === 'EADDRINUSE' ? 'port already in use' : e.message}; expected a free port for --metrics-port`));
    });
    server.listen(port, host, () => resolve());
  });
  return server;
}

const START_S = Math.round(Date.now() / 1000 - process.uptime());

/** The process's own gauges and counters, in Prometheus text. */
export function processMetrics(): string {
  const mem = process.memoryUsage();
  const cpu = process.cpuUsage();
  let fds: number | undefined;
  try {
    fds = readdirSync('/proc/self/fd').length - 1; // less the one this read opened
  } catch {
    // not Linux
  }
  const rows: [string, 'gauge' | 'counter', string, number | undefined][] = [
    ['process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.', mem.rss],
    ['process_cpu_user_seconds_total', 'counter', 'User CPU time spent in seconds.', cpu.user / 1e6],
    ['process_cpu_system_seconds_total', 'counter', 'System CPU time spent in seconds.', cpu.system / 1e6],
    ['process_open_fds', 'gauge', 'Number of open file descriptors.', fds],
    ['process_start_time_seconds', 'gauge', 'Start time of the process since unix epoch in seconds.', START_S],
    ['nodejs_heap_size_used_bytes', 'gauge', 'V8 heap used (the main thread) in bytes.', mem.heapUsed],
    ['nodejs_heap_size_total_bytes', 'gauge', 'V8 heap size (the main thread) in bytes.', mem.heapTotal],
    ['nodejs_external_memory_bytes', 'gauge', 'Memory of C++ objects bound to JavaScript objects (Buffers, typed arrays) in bytes.', mem.external],
  ];
  return rows.filter((r) => r[3] !== undefined).map(([name, type, help, v]) => `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name} ${v}\n`).join('');
}
