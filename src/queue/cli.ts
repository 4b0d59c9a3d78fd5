/**
 * The command line of fleet processing (src/cli.ts hands these over when it
 * sees `--queue`; loaded lazily, so BullMQ is only loaded for them):
 *
 *   segflow process FILES… --out DIR --queue redis://HOST:PORT[/DB] [--graph FILE] [--set …] [--chunk-frames N] [--attempts N] [--no-wait]
 *   segflow worker --queue redis://HOST:PORT[/DB] [--concurrency N] [--lock-ms MS] [--metrics-port N]
 *   segflow status --queue redis://HOST:PORT[/DB] [--json]
 *
 * Inputs, `--out` and `--graph` must be absolute paths: every worker opens them
 * on its own machine.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { UsageError } from '../errors.ts';
import { serveMetrics } from '../metrics-server.ts';
import { QUEUE_NAME } from './jobs.ts';
import { parseRedisUrl, type RedisTarget } from './redis-url.ts';
import { formatQueueStatus, queueStatus } from './status.ts';
import { submit } from './submit.ts';
import { startQueueWorker } from './worker.ts';

const DEFAULT_GRAPH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'graphs', 'dashcam-offline.yaml');

export const QUEUE_USAGE = `  segflow process <absolute files or folders...> --out /ABS/DIR --queue redis://[:password@]HOST:PORT[/DB]
                  [--graph /ABS/FILE] [--set ...] [--chunk-frames N] [--attempts N] [--no-wait]
  segflow worker --queue redis://HOST:PORT[/DB] [--concurrency N] [--lock-ms MS] [--metrics-port N]
  segflow status --queue redis://HOST:PORT[/DB] [--json]`;

type Opts = NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>;

function parse(args: string[], options: Opts) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\nusage:\n${QUEUE_USAGE}`);
  }
}

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
    } else process.exit(130);
  };
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  return { stop, release, dispose: () => { process.off('SIGINT', on); process.off('SIGTERM', on); } };
}

function help(): number {
  process.stdout.write(`usage:\n${QUEUE_USAGE}\n`);
  return 0;
}

export async function cmdQueueProcess(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    queue: { type: 'string' }, out: { type: 'string', short: 'o' }, graph: { type: 'string', short: 'g' }, set: { type: 'string', multiple: true },
    'chunk-frames': { type: 'string' }, attempts: { type: 'string' }, 'no-wait': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    overwrite: { type: 'boolean' }, jobs: { type: 'string', short: 'j' },
  });
  if (values.help) return help();
  if (values.overwrite) throw new UsageError('process --queue: --overwrite does not apply (a job never replaces a complete output); remove the output folder to redo a file');
  if (values.jobs !== undefined) throw new UsageError('process --queue: --jobs does not apply; start more workers (segflow worker --queue …, --concurrency N)');
  if (!positionals.length) throw new UsageError(`process --queue: expected files or folders\nusage:\n${QUEUE_USAGE}`);
  if (!values.out) throw new UsageError(`process --queue: expected --out /ABS/DIR\nusage:\n${QUEUE_USAGE}`);
  const t = target(values.queue);
  const sig = signals();
  // The submitter holds nothing: a second Ctrl-C leaves at once, even while Redis is away.
  sig.release.signal.addEventListener('abort', () => process.exit(130));
  try {
    const r = await submit({
      target: t, inputs: positionals, out: values.out as string, graph: values.graph as string | undefined, defaultGraph: DEFAULT_GRAPH,
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

export async function cmdQueueWorker(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    queue: { type: 'string' }, concurrency: { type: 'string' }, 'lock-ms': { type: 'string' }, 'metrics-port': { type: 'string' }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return help();
  const t = target(values.queue);
  const concurrency = int('--concurrency', values.concurrency, 1, 1, 64);
  const lockMs = int('--lock-ms', values['lock-ms'], 30_000, 1000, 3_600_000);
  const mp = values['metrics-port'] !== undefined ? int('--metrics-port', values['metrics-port'], 0, 0, 65535) : undefined;
  const sig = signals();
  try {
    const w = await startQueueWorker({ target: t, concurrency, lockMs, defaultGraph: DEFAULT_GRAPH, stop: sig.stop.signal, release: sig.release.signal });
    const server = mp !== undefined ? await serveMetrics(() => w.metrics, mp) : undefined;
    if (server) process.stderr.write(`metrics on http://127.0.0.1:${(server.address() as { port: number }).port}/metrics\n`);
    await w.done;
    server?.close();
    // A Redis connection still retrying (Redis away) must not keep the process alive.
    setTimeout(() => process.exit(process.exitCode ?? 0), 3000).unref();
    return sig.release.signal.aborted ? 130 : 0;
  } finally {
    sig.dispose();
  }
}

export async function cmdQueueStatus(argv: string[]): Promise<number> {
  const { values } = parse(argv, { queue: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
  if (values.help) return help();
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
