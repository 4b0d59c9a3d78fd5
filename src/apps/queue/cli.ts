/**
 * The command line of fleet processing. src/cli.ts's command table declares and
 * parses the options (and prints `--help`), and hands these over when it sees
 * `--queue` (and for `status`); loaded lazily, so BullMQ and ioredis are only
 * loaded for them:
 *
 *   segflow process FILES… --out DIR --queue redis://HOST:PORT[/DB] [--graph FILE] [--set …] [--chunk-frames N] [--attempts N] [--no-wait]
 *   segflow worker --queue redis://HOST:PORT[/DB] [--concurrency N] [--lock-ms MS] [--metrics-port N]
 *   segflow status --queue redis://HOST:PORT[/DB] [--json]
 *
 * Inputs, `--out` and `--graph` must be absolute paths: every worker opens them
 * on its own machine.
 */
import path from 'node:path';
import { Queue } from 'bullmq';
import { UsageError } from '../../core/errors.ts';
import type { Registry } from '../../core/graph/loader.ts';
import { serveMetrics } from '../../net/metrics-server.ts';
import { PACKAGE_ROOT } from '../../core/package-root.ts';
import { QUEUE_NAME } from './jobs.ts';
import { parseRedisUrl, type RedisTarget } from './redis-url.ts';
import { formatQueueStatus, queueStatus } from './status.ts';
import { submit } from './submit.ts';
import { forceExit, forceExitOnSignal } from '../signals.ts';
import { startQueueWorker } from './worker.ts';

const DEFAULT_GRAPH = path.join(PACKAGE_ROOT, 'graphs', 'dashcam-offline.yaml');

/** Option values as src/cli.ts's command table parsed them. */
type Values = Record<string, string | boolean | string[] | boolean[] | undefined>;

function target(s: unknown): RedisTarget {
  try {
    return parseRedisUrl(String(s ?? ''));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function int(flag: string, s: unknown, def: number, min: number, max: number): number {
  if (s === undefined) return def;
  const n = Number(s);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${flag}: expected an integer ${min}..${max}, got '${String(s)}'`);
  return n;
}

/** SIGINT/SIGTERM: the first aborts `stop`, the second `release`, the third exits. */
function signals(): { stop: AbortController; release: AbortController; dispose(): void } {
  const stop = new AbortController();
  const release = new AbortController();
  let n = 0;
  const on = (sig: NodeJS.Signals) => {
    n++;
    if (n === 1) stop.abort(new Error(sig));
    else if (n === 2) {
      process.stderr.write(`${sig}: releasing the current jobs to the queue\n`);
      release.abort(new Error(sig));
    } else forceExit(sig);
  };
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  return { stop, release, dispose: () => { process.off('SIGINT', on); process.off('SIGTERM', on); if (n > 0) forceExitOnSignal(); } };
}

/** `segflow process … --queue`: the options src/cli.ts parsed (it refuses those that do not apply). */
export async function cmdQueueProcess(values: Values, positionals: string[], registry: Registry): Promise<number> {
  if (!positionals.length) throw new UsageError(`process --queue: expected files or folders\n(segflow process --help)`);
  if (!values.out) throw new UsageError(`process --queue: expected --out /ABS/DIR\n(segflow process --help)`);
  const t = target(values.queue);
  const sig = signals();
  // The submitter holds nothing: a second Ctrl-C leaves at once, even while Redis is away.
  sig.release.signal.addEventListener('abort', () => process.exit(130));
  try {
    const r = await submit({
      target: t, inputs: positionals, out: values.out as string, graph: values.graph as string | undefined, defaultGraph: DEFAULT_GRAPH, registry,
      sets: (values.set as string[] | undefined) ?? [], chunkFrames: int('--chunk-frames', values['chunk-frames'], 0, 0, 1_000_000),
      attempts: int('--attempts', values.attempts, 3, 1, 100), wait: values['no-wait'] !== true, signal: sig.stop.signal, tty: process.stderr.isTTY === true,
    }).catch((e: unknown) => {
      if (e instanceof TypeError) throw new UsageError(e.message);
      throw e;
    });
    if (values['no-wait']) {
      process.stdout.write(`submitted: ${r.added} files added, ${r.already} already done, ${r.queued} already queued, ${r.skipped} skipped; \`segflow status --queue ${t.display}\` to follow\n`);
      return r.failed ? 1 : 0;
    }
    process.stdout.write(`${r.done} done, ${r.failed} failed, ${r.waiting} still queued in ${r.seconds.toFixed(1)} s; summary: ${r.summary}\n`);
    if (sig.stop.signal.aborted) return 130;
    return r.failed ? 1 : 0;
  } finally {
    sig.dispose();
  }
}

/** `segflow worker --queue …`; `log` replaces the text lines on stderr (--log json). */
export async function cmdQueueWorker(values: Values, registry: Registry, log?: (m: string) => void): Promise<number> {
  const t = target(values.queue);
  const concurrency = int('--concurrency', values.concurrency, 1, 1, 64);
  const lockMs = int('--lock-ms', values['lock-ms'], 30_000, 1000, 3_600_000);
  const mp = values['metrics-port'] !== undefined ? int('--metrics-port', values['metrics-port'], 0, 0, 65535) : undefined;
  const sig = signals();
  try {
    const w = await startQueueWorker({ target: t, concurrency, lockMs, defaultGraph: DEFAULT_GRAPH, registry, stop: sig.stop.signal, release: sig.release.signal, ...(log ? { log } : {}) });
    const server = mp !== undefined ? await serveMetrics(() => w.metrics, mp) : undefined;
    if (server) (log ?? ((m: string) => process.stderr.write(m + '\n')))(`metrics on http://127.0.0.1:${(server.address() as { port: number }).port}/metrics`);
    await w.done;
    server?.close();
    // A Redis connection still retrying (Redis away) must not keep the process alive.
    setTimeout(() => process.exit(process.exitCode ?? 0), 3000).unref();
    return sig.release.signal.aborted ? 130 : 0;
  } finally {
    sig.dispose();
  }
}

export async function cmdQueueStatus(values: Values): Promise<number> {
  const t = target(values.queue);
  const queue = new Queue(QUEUE_NAME, { connection: { ...t.options, maxRetriesPerRequest: 1, retryStrategy: () => null } });
  queue.on('error', () => {});
  try {
    const s = await queueStatus(queue).catch((e: Error) => {
      throw new Error(`status: cannot read the queue at ${t.display}: ${e.message}`);
    });
    process.stdout.write(values.json ? JSON.stringify(s, null, 2) + '\n' : formatQueueStatus(s));
    return 0;
  } finally {
    await queue.close().catch(() => {});
  }
}
