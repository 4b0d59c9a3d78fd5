/**
 * segflow command line. Every command is built on the library API.
 *
 *   segflow run <graph> [--set node.option=value ...] [--var name=value ...] [--metrics-port N] [--overwrite]
 *               [--dispatch tcp://HOST:PORT [--stream-name NAME] [--min-workers N]]   (live: segmenters sharded over workers)
 *   segflow validate <graph> [--set ...]
 *   segflow graph <graph> --dot [--svg FILE]
 *   segflow process <files or folders...> --out DIR [--graph FILE] [--set ...] [--jobs N] [--overwrite] [--chunk-frames N] [--dispatch tcp://HOST:PORT]
 *   segflow worker --connect tcp://HOST:PORT        (segments chunks for a dispatching process; docs/zmq-protocol.md)
 *   segflow workers [--connect] tcp://HOST:PORT [--json]
 *   segflow process … --queue redis://HOST:PORT | worker --queue … | status --queue …   (fleet: src/queue/cli.ts)
 *   segflow eval --images DIR --labels DIR [--model NAME] [--engine onnx|tfjs] [--size HxW] [--json] [--report DIR]
 *
 * Exit codes: 0 ok, 1 a run or an input failed, 2 bad graph or command line, 130 interrupted.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { registry } from '../nodes/index.ts';
import { GraphError, UsageError } from './errors.ts';
import { toDot } from './graph/dot.ts';
import { loadGraphFile, type GraphDef } from './graph/loader.ts';
import { runGraph } from './graph/runner.ts';
import { serveMetrics } from './metrics-server.ts';
import { consoleProgress, processFiles } from './process.ts';
import { Metrics } from './runtime/metrics.ts';
import { formatStatus, requestStatus } from './zmq/dispatcher.ts';
import { startLiveDispatch } from './zmq/live-segmenter.ts';
import { DEFAULT_CHUNK_FRAMES, requireSegmenter, startDispatch } from './zmq/remote-segmenter.ts';
import { checkEndpoint } from './zmq/wire.ts';
import { runWorker } from './zmq/worker.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_GRAPH = path.join(ROOT, 'graphs', 'dashcam-offline.yaml');

const USAGE = `usage:
  segflow run <graph.yaml> [--set node.option=value ...] [--var name=value ...] [--metrics-port N] [--overwrite]
              [--dispatch tcp://HOST:PORT [--stream-name NAME] [--min-workers N]]
  segflow validate <graph.yaml> [--set ...] [--var ...]
  segflow graph <graph.yaml> [--dot] [--svg FILE]
  segflow process <files or folders...> --out DIR [--graph FILE] [--set ...] [--jobs N] [--overwrite]
                  [--chunk-frames N] [--dispatch tcp://HOST:PORT]
  segflow worker --connect tcp://HOST:PORT
  segflow workers [--connect] tcp://HOST:PORT [--json]
  segflow process <absolute files or folders...> --out /ABS/DIR --queue redis://HOST:PORT[/DB]
                  [--graph /ABS/FILE] [--set ...] [--chunk-frames N] [--attempts N] [--no-wait]
  segflow worker --queue redis://HOST:PORT[/DB] [--concurrency N] [--lock-ms MS] [--metrics-port N]
  segflow status --queue redis://HOST:PORT[/DB] [--json]
  segflow eval --images DIR --labels DIR [--model NAME] [--engine onnx|tfjs] [--size HxW] [--json] [--report DIR]
  segflow nodes`;

type Values = Record<string, string | boolean | string[] | boolean[] | undefined>;

function parse(args: string[], options: NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>): { values: Values; positionals: string[] } {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true }) as { values: Values; positionals: string[] };
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n${USAGE}`);
  }
}

const common = {
  set: { type: 'string', multiple: true },
  var: { type: 'string', multiple: true },
  overwrite: { type: 'boolean' },
  'metrics-port': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function vars(list: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of list ?? []) {
    const i = v.indexOf('=');
    if (i < 1) throw new UsageError(`--var ${v}: expected name=value`);
    out[v.slice(0, i)] = v.slice(i + 1);
  }
  return out;
}

/** `--overwrite` sets `overwrite: true` on every node that has that option. */
function overwriteSets(file: string, sets: string[], v: Record<string, string>): string[] {
  const def = loadGraphFile(file, registry, { sets, vars: v });
  return def.nodes.filter((n) => 'overwrite' in n.options).map((n) => `${n.name}.overwrite=true`);
}

/** `--chunk-frames N` reaches every decoder as `chunkFrames` (a discontinuity every N frames). */
function chunkSets(file: string, sets: string[], n: number): string[] {
  const def = loadGraphFile(file, registry, { sets, vars: { input: 'input.mp4', out: 'out' } });
  return def.nodes.filter((x) => x.type === 'decoder').map((x) => `${x.name}.chunkFrames=${n}`);
}

function endpoint(flag: string, s: string | boolean | string[] | boolean[] | undefined): string {
  try {
    return checkEndpoint(String(s ?? ''), flag);
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n${USAGE}`);
  }
}

function port(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`--metrics-port: expected a port 0..65535, got '${s}'`);
  return n;
}

function stopSignal(): { signal: AbortSignal; dispose: () => void } {
  const ac = new AbortController();
  let count = 0;
  const onSig = (sig: NodeJS.Signals) => {
    count++;
    if (count === 1) {
      process.stderr.write(`\n${sig}: stopping; finishing outputs (again to force)\n`);
      ac.abort(new Error(sig));
    } else {
      process.exit(130);
    }
  };
  process.on('SIGINT', onSig);
  process.on('SIGTERM', onSig);
  return { signal: ac.signal, dispose: () => { process.off('SIGINT', onSig); process.off('SIGTERM', onSig); } };
}

async function cmdRun(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...common, dispatch: { type: 'string' }, 'stream-name': { type: 'string' }, 'min-workers': { type: 'string' } });
  const file = positionals[0] ?? DEFAULT_GRAPH;
  const v = vars(values.var as string[] | undefined);
  let sets = (values.set as string[] | undefined) ?? [];
  if (values.overwrite) sets = [...sets, ...overwriteSets(file, sets, v)];
  let def: GraphDef = loadGraphFile(file, registry, { sets, vars: v });
  const dispatchAt = values.dispatch !== undefined ? endpoint('--dispatch', values.dispatch) : undefined;
  if (!dispatchAt && (values['stream-name'] !== undefined || values['min-workers'] !== undefined)) throw new UsageError('--stream-name and --min-workers go with --dispatch tcp://HOST:PORT');
  const minWorkers = Number(values['min-workers'] ?? 0);
  if (!Number.isInteger(minWorkers) || minWorkers < 0 || minWorkers > 1000) throw new UsageError(`--min-workers: expected an integer 0..1000, got '${values['min-workers']}'`);
  if (dispatchAt) requireSegmenter(def);
  const mp = port(values['metrics-port'] as string | undefined);
  // Live sharding: each segmenter node becomes a stream handed to `segflow worker` processes.
  const live = dispatchAt ? await startLiveDispatch({ endpoint: dispatchAt, def, streamName: values['stream-name'] as string | undefined }) : undefined;
  if (live) def = live.def;
  const metrics = new Metrics();
  const view = live?.dispatcher.metricsView(() => metrics);
  const stop = stopSignal();
  let server: Awaited<ReturnType<typeof serveMetrics>> | undefined;
  try {
    server = mp !== undefined ? await serveMetrics(() => view ?? metrics, mp) : undefined;
    if (server) process.stderr.write(`metrics on http://127.0.0.1:${(server.address() as { port: number }).port}/metrics\n`);
    if (live && minWorkers > 0) {
      process.stderr.write(`dispatch: waiting for ${minWorkers} workers before starting the graph\n`);
      await live.dispatcher.waitForWorkers(minWorkers, stop.signal);
      if (stop.signal.aborted) return 130;
    }
    return await runLoaded(def, metrics, stop.signal);
  } finally {
    stop.dispose();
    server?.close();
    await live?.close();
  }
}

async function runLoaded(def: GraphDef, metrics: Metrics, signal: AbortSignal): Promise<number> {
  const t0 = performance.now();
  let frames = 0;
  const firstSink = def.nodes.find((n) => n.spec.role === 'sink')?.name;
  const tty = process.stderr.isTTY;
  let last = 0;
  const res = await runGraph(def, {
    signal,
    metrics,
    onDone: (sink) => {
      if (sink !== firstSink) return;
      frames++;
      const now = performance.now();
      if (now - last > (tty ? 250 : 5000)) {
        last = now;
        const msg = `${frames} frames, ${(frames / ((now - t0) / 1000)).toFixed(1)} fps`;
        process.stderr.write(tty ? `\r\x1b[K${msg}` : msg + '\n');
      }
    },
  });
  const secs = (performance.now() - t0) / 1000;
  if (tty) process.stderr.write('\r\x1b[K');
  process.stderr.write(`${res.metrics.table()}\n`);
  process.stdout.write(`${res.interrupted ? 'interrupted' : 'done'}: ${frames} frames in ${secs.toFixed(2)} s, ${(frames / secs).toFixed(1)} fps end to end\n`);
  return res.interrupted ? 130 : 0;
}

async function cmdValidate(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, common);
  if (!positionals[0]) throw new UsageError(`validate: expected a graph file\n${USAGE}`);
  const def = loadGraphFile(positionals[0], registry, { sets: (values.set as string[] | undefined) ?? [], vars: vars(values.var as string[] | undefined) });
  process.stdout.write(`ok: ${def.file}: ${def.nodes.length} nodes (${def.nodes.map((n) => `${n.name}:${n.type}`).join(', ')})\n`);
  return 0;
}

async function cmdGraph(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...common, dot: { type: 'boolean' }, svg: { type: 'string' } });
  if (!positionals[0]) throw new UsageError(`graph: expected a graph file\n${USAGE}`);
  const def = loadGraphFile(positionals[0], registry, { sets: (values.set as string[] | undefined) ?? [], vars: vars(values.var as string[] | undefined) });
  const dot = toDot(def);
  if (values.svg) {
    try {
      writeFileSync(values.svg as string, execFileSync('dot', ['-Tsvg'], { input: dot }));
      process.stderr.write(`wrote ${values.svg}\n`);
    } catch {
      process.stderr.write('Graphviz `dot` not found: printing DOT instead (apt-get install graphviz for SVG)\n');
      process.stdout.write(dot);
    }
  } else {
    process.stdout.write(dot);
  }
  return 0;
}

/** `--queue` hands a command to fleet processing (src/queue/cli.ts, loaded only then). */
const queued = (argv: string[]) => argv.some((a) => a === '--queue' || a.startsWith('--queue='));

async function cmdProcess(argv: string[]): Promise<number> {
  if (queued(argv)) return (await import('./queue/cli.ts')).cmdQueueProcess(argv);
  const { values, positionals } = parse(argv, { ...common, out: { type: 'string', short: 'o' }, graph: { type: 'string', short: 'g' }, jobs: { type: 'string', short: 'j' }, 'chunk-frames': { type: 'string' }, dispatch: { type: 'string' } });
  if (!positionals.length) throw new UsageError(`process: expected files or folders\n${USAGE}`);
  if (!values.out) throw new UsageError(`process: expected --out DIR\n${USAGE}`);
  const jobs = Number(values.jobs ?? 1);
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 64) throw new UsageError(`--jobs: expected an integer 1..64, got '${values.jobs}'`);
  const chunkFrames = Number(values['chunk-frames'] ?? (values.dispatch ? DEFAULT_CHUNK_FRAMES : 0));
  if (!Number.isInteger(chunkFrames) || chunkFrames < 0) throw new UsageError(`--chunk-frames: expected an integer ≥ 1 (frames), got '${values['chunk-frames']}'`);
  const graph = (values.graph as string | undefined) ?? DEFAULT_GRAPH;
  let sets = (values.set as string[] | undefined) ?? [];
  if (chunkFrames > 0) sets = [...sets, ...chunkSets(graph, sets, chunkFrames)];
  const dispatch = values.dispatch ? await startDispatch({ endpoint: endpoint('--dispatch', values.dispatch), graph, sets, chunkFrames }) : undefined;
  const stop = stopSignal();
  const metrics = new Metrics();
  let current = metrics;
  const view = dispatch?.dispatcher.metricsView(() => current);
  const mp = port(values['metrics-port'] as string | undefined);
  try {
    const server = mp !== undefined ? await serveMetrics(() => view ?? current, mp) : undefined;
    try {
      const s = await processFiles({
        inputs: positionals, out: values.out as string, graph, sets, jobs, overwrite: values.overwrite === true,
        signal: stop.signal, progress: consoleProgress(), onMetrics: (m) => (current = m), dispatch,
      });
      process.stdout.write(`${s.ok} ok, ${s.skipped} skipped, ${s.failed} failed, ${s.interrupted} interrupted in ${s.seconds.toFixed(1)} s; summary: ${path.join(s.out, 'summary.json')}\n`);
      if (s.interrupted) return 130;
      return s.failed ? 1 : 0;
    } finally {
      server?.close();
    }
  } finally {
    stop.dispose();
    await dispatch?.close();
  }
}

async function cmdWorker(argv: string[]): Promise<number> {
  if (queued(argv)) return (await import('./queue/cli.ts')).cmdQueueWorker(argv);
  const { values } = parse(argv, { connect: { type: 'string' }, help: { type: 'boolean', short: 'h' } });
  const at = endpoint('--connect', values.connect);
  const stop = stopSignal();
  try {
    await runWorker({ endpoint: at, signal: stop.signal });
    return 0;
  } finally {
    stop.dispose();
  }
}

async function cmdWorkers(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { connect: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
  if (values.connect !== undefined && positionals.length) throw new UsageError(`workers: expected the dispatcher once, as --connect or as an argument\n${USAGE}`);
  const s = await requestStatus(endpoint('--connect', values.connect ?? positionals[0]));
  process.stdout.write(values.json ? JSON.stringify(s, null, 2) + '\n' : formatStatus(s));
  return 0;
}

async function cmdNodes(): Promise<number> {
  for (const s of registry.values()) {
    process.stdout.write(`${s.type.padEnd(22)} ${s.role.padEnd(9)} in: ${Object.entries(s.inputs).map(([k, v]) => `${k}(${v})`).join(' ') || '-'}  out: ${Object.entries(s.outputs).map(([k, v]) => `${k}(${v})`).join(' ') || '-'}  — ${s.description}\n`);
  }
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'run': return await cmdRun(rest);
      case 'validate': return await cmdValidate(rest);
      case 'graph': return await cmdGraph(rest);
      case 'process': return await cmdProcess(rest);
      case 'worker': return await cmdWorker(rest);
      case 'workers': return await cmdWorkers(rest);
      case 'status': return await (await import('./queue/cli.ts')).cmdQueueStatus(rest);
      case 'eval': return await (await import('./eval/cli.ts')).cmdEval(rest);
      case 'nodes': return await cmdNodes();
      case undefined: case '-h': case '--help': case 'help':
        process.stdout.write(USAGE + '\n');
        return cmd ? 0 : 2;
      default:
        throw new UsageError(`unknown command '${cmd}'\n${USAGE}`);
    }
  } catch (e) {
    if (e instanceof GraphError || e instanceof UsageError) {
      process.stderr.write(`segflow: ${e.message}\n`);
      return 2;
    }
    process.stderr.write(`segflow: ${(e as Error).message ?? String(e)}\n`);
    if (process.env.SEGFLOW_DEBUG) process.stderr.write(`${(e as Error).stack}\n`);
    return 1;
  }
}
