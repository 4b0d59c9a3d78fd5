/**
 * segflow command line. Every command is built on the library API.
 *
 * Commands live in one table (`COMMANDS`): a summary, a synopsis, their
 * options (node:util parseArgs specs, each with an argument name and a
 * description) and a handler. `segflow <command> --help` prints the entry and
 * never runs the handler; an unknown command or option gets "did you mean …"
 * and the valid names. Handlers import what they need when they run, so
 * `segflow --version`, `segflow nodes` and every `--help` start without
 * loading the runtime (RxJS, zod, ffmpeg, onnxruntime, zeromq, ws).
 *
 *   segflow run <graph> [--set node.option=value ...] [--var name=value ...] [--metrics-port N] [--overwrite]
 *               [--dispatch tcp://HOST:PORT [--stream-name NAME] [--min-workers N] [--no-rebalance]]   (live: segmenters sharded over workers)
 *   segflow subscribe ws://HOST:PORT/ws?stream=NAME [--frames N] [--json] [--token T]   (a websocket-sink's masks, a line a frame)
 *   segflow validate <graph> [--set ...]
 *   segflow graph <graph> --dot [--svg FILE]
 *   segflow process <files or folders...> --out DIR [--graph FILE] [--set ...] [--jobs N] [--overwrite] [--chunk-frames N] [--dispatch tcp://HOST:PORT]
 *   segflow worker --connect tcp://HOST:PORT        (segments chunks for a dispatching process; docs/zmq-protocol.md)
 *   segflow workers [--connect] tcp://HOST:PORT [--json]
 *   segflow process … --queue redis://HOST:PORT | worker --queue … | status --queue …   (fleet: src/queue/cli.ts)
 *   segflow eval --images DIR --labels DIR [--model NAME] [--engine onnx|tfjs] [--size HxW] [--json] [--report DIR]
 *   segflow nodes [NAME] [--markdown]
 *   segflow --version
 *
 * `--log json` (run, process, worker): logs and progress as one JSON object a
 * line on stderr instead of text and the progress bar.
 *
 * Exit codes: 0 ok, 1 a run or an input failed, 2 bad graph or command line, 130 interrupted.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { GraphError, UsageError } from '../core/errors.ts';
import type { GraphDef, Registry } from '../core/graph/loader.ts';
import type { NodeInfo } from '../core/node-catalog.ts';
import { PACKAGE_ROOT } from '../core/package-root.ts';
import type { Metrics } from '../core/runtime/metrics.ts';
import type { Progress } from './process.ts';
import { JobProgress } from './job-progress.ts';
import { closest, didYouMean } from '../core/suggest.ts';
import { forceExit, forceExitOnSignal, killChildren } from './signals.ts';

const ROOT = PACKAGE_ROOT;
export const DEFAULT_GRAPH = path.join(ROOT, 'graphs', 'dashcam-offline.yaml');

export function version(): string {
  return (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

// ---------------------------------------------------------------------------------------------
// The command table

/** A parseArgs option with what `--help` prints for it. */
interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly multiple?: boolean;
  readonly short?: string;
  /** The argument's name in help (`--out DIR`). */
  readonly arg?: string;
  readonly description: string;
}
type Options = Readonly<Record<string, OptionSpec>>;
type Values = Record<string, string | boolean | string[] | boolean[] | undefined>;

interface Command {
  readonly summary: string;
  /** Synopsis after `segflow <name> `. */
  readonly usage: string;
  readonly options: Options;
  /** Longer help after the options (optional). */
  readonly more?: string;
  run(values: Values, positionals: string[], argv: string[]): Promise<number>;
}

const HELP: OptionSpec = { type: 'boolean', short: 'h', description: 'print this help and exit (runs nothing)' };
const CURVE_KEYS: OptionSpec = { type: 'string', arg: 'FILE', description: 'CURVE keys (docs/security-zmq.md): required for a non-loopback endpoint' };
const LOG: OptionSpec = { type: 'string', arg: 'human|json', description: 'logs and progress as text and a progress bar (human, default) or one JSON object a line on stderr (json)' };
const graphOptions = {
  set: { type: 'string', multiple: true, arg: 'node.option=value', description: 'override a node option (repeatable); a bad value names this --set' },
  var: { type: 'string', multiple: true, arg: 'name=value', description: "set a graph variable ${name} (repeatable)" },
} as const satisfies Options;
/** Accepted by validate and graph so that a run's command line checks unchanged; they do nothing there. */
const runOnly = {
  overwrite: { type: 'boolean', description: 'accepted so a run command line validates unchanged (no effect here)' },
  'metrics-port': { type: 'string', arg: 'N', description: 'accepted so a run command line validates unchanged (no effect here)' },
} as const satisfies Options;
const runOptions = {
  ...graphOptions,
  overwrite: { type: 'boolean', description: 'replace existing outputs (sets overwrite on every node that has it)' },
  'metrics-port': { type: 'string', arg: 'N', description: 'serve Prometheus metrics on http://127.0.0.1:N/metrics (0 = any free port)' },
  log: LOG,
  help: HELP,
} as const satisfies Options;

const COMMANDS: Readonly<Record<string, Command>> = {
  run: {
    summary: 'run a graph until its sources end (or Ctrl-C), then list where every output went',
    usage: '[graph.yaml] [options]   (default graph: graphs/dashcam-offline.yaml)',
    options: {
      ...runOptions,
      dispatch: { type: 'string', arg: 'tcp://HOST:PORT', description: 'live: hand each segmenter node to `segflow worker` processes connected here' },
      'stream-name': { type: 'string', arg: 'NAME', description: 'with --dispatch: the stream name workers see' },
      'min-workers': { type: 'string', arg: 'N', description: 'with --dispatch: wait for N workers before starting (0..1000)' },
      'no-rebalance': { type: 'boolean', description: 'with --dispatch: streams stay where they are when a worker joins (by default, a worker two or more streams lighter takes one: a key frame there)' },
      'curve-keys': CURVE_KEYS,
    },
    run: (v, p) => cmdRun(v, p),
  },
  validate: {
    summary: 'check a graph (types, options, wiring, kinds, cycles); opens nothing; exit 2 on an error',
    usage: '<graph.yaml> [--set ...] [--var ...]',
    options: { ...graphOptions, ...runOnly, help: HELP },
    run: (v, p) => cmdValidate(v, p),
  },
  graph: {
    summary: 'print a graph as Graphviz DOT, or draw it as SVG',
    usage: '<graph.yaml> [--dot] [--svg FILE]',
    options: { ...graphOptions, ...runOnly, dot: { type: 'boolean', description: 'print DOT (the default)' }, svg: { type: 'string', arg: 'FILE', description: 'write SVG with Graphviz `dot` (prints DOT when it is missing)' }, help: HELP },
    run: (v, p) => cmdGraph(v, p),
  },
  process: {
    summary: 'run a graph over every video in files and folders; resumable; one output folder per input',
    usage: '<files or folders...> --out DIR [options]',
    options: {
      ...runOptions,
      out: { type: 'string', short: 'o', arg: 'DIR', description: 'output folder (required): DIR/<name>/…, DIR/summary.json' },
      graph: { type: 'string', short: 'g', arg: 'FILE', description: 'the graph run per file (default graphs/dashcam-offline.yaml; ${input} and ${out} are set)' },
      jobs: { type: 'string', short: 'j', arg: 'N', description: 'files processed at once (1..64, default 1)' },
      'chunk-frames': { type: 'string', arg: 'N', description: 'mark a discontinuity every N frames (default 0 = off; with --dispatch the chunk size)' },
      dispatch: { type: 'string', arg: 'tcp://HOST:PORT', description: 'segment chunks on `segflow worker` processes connected here' },
      'curve-keys': CURVE_KEYS,
      queue: { type: 'string', arg: 'redis://HOST:PORT[/DB]', description: 'fleet: put the files on this Redis queue for `segflow worker --queue` processes (absolute paths; --chunk-frames N splits files into chunk jobs)' },
      attempts: { type: 'string', arg: 'N', description: 'with --queue: tries per job before it is failed (1..100, default 3)' },
      'no-wait': { type: 'boolean', description: 'with --queue: submit and exit (segflow status --queue … to follow)' },
    },
    more: 'With --queue, the command submits and (unless --no-wait) waits: inputs, --out and --graph must be absolute\n' +
      '(workers on other machines open the same paths); --overwrite, --jobs and --dispatch do not apply.\n' +
      'Output folders are named as without --queue, and a folder is skipped or replaced only when it holds this input\'s output.',
    run: (v, p) => cmdProcess(v, p),
  },
  worker: {
    summary: 'segment for a dispatching `process --dispatch` or `run --dispatch` (docs/zmq-protocol.md), or take `process --queue` jobs from Redis',
    usage: '--connect tcp://HOST:PORT | --queue redis://HOST:PORT[/DB] [--concurrency N] [--lock-ms MS] [--metrics-port N]',
    options: {
      connect: { type: 'string', arg: 'tcp://HOST:PORT', description: "the dispatcher's endpoint (this or --queue)" },
      'curve-keys': CURVE_KEYS,
      queue: { type: 'string', arg: 'redis://HOST:PORT[/DB]', description: 'take `process --queue` jobs from this Redis (this or --connect)' },
      concurrency: { type: 'string', arg: 'N', description: 'with --queue: jobs run at once (1..64, default 1)' },
      'lock-ms': { type: 'string', arg: 'MS', description: "with --queue: job lock; a dead worker's job is taken over after about this long (1000..3600000, default 30000)" },
      'metrics-port': { type: 'string', arg: 'N', description: 'with --queue: serve Prometheus metrics on http://127.0.0.1:N/metrics (0 = any free port)' },
      log: LOG,
      help: HELP,
    },
    more: 'With --queue: the first SIGINT/SIGTERM finishes the current jobs and stops; the second releases them to the queue (no attempt used).',
    run: (v) => cmdWorker(v),
  },
  workers: {
    summary: "a dispatcher's workers: state, streams, chunk, frames, heartbeat age",
    usage: '[--connect] tcp://HOST:PORT [--json]',
    options: { connect: { type: 'string', arg: 'tcp://HOST:PORT', description: "the dispatcher's endpoint (or give it as the argument)" }, json: { type: 'boolean', description: 'print JSON' }, 'curve-keys': CURVE_KEYS, help: HELP },
    run: (v, p) => cmdWorkers(v, p),
  },
  subscribe: {
    summary: "a websocket-sink stream's label maps, a line a frame (class shares, key frame, latency, frames missed)",
    usage: 'ws://HOST:PORT[/ws?stream=NAME] [--stream NAME] [--frames N] [--json] [--token TOKEN]',
    options: {
      stream: { type: 'string', arg: 'NAME', description: "the stream (default: the URL's ?stream=, else the server's only one)" },
      frames: { type: 'string', arg: 'N', description: 'stop after N frames (1..1e9)' },
      json: { type: 'boolean', description: 'one JSON object a frame' },
      token: { type: 'string', arg: 'TOKEN', description: "the sink's token (or the environment's SEGFLOW_WS_TOKEN, which keeps it out of the process list)" },
      help: HELP,
    },
    run: async (v, p) => {
      if (p.length !== 1) throw new UsageError('subscribe: expected one address, ws://HOST:PORT/ws?stream=NAME (segflow subscribe --help)');
      const frames = v.frames === undefined ? undefined : Number(v.frames);
      if (frames !== undefined && (!Number.isInteger(frames) || frames < 1 || frames > 1e9)) throw new UsageError(`--frames: expected an integer 1..1e9, got '${v.frames}'`);
      const { streamUrl } = await import('../net/ws/client.ts');
      try {
        streamUrl(p[0]!);
      } catch (e) {
        throw new UsageError(`subscribe: ${(e as Error).message}`);
      }
      const { runSubscribe } = await import('./subscribe.ts');
      return runSubscribe({ url: p[0]!, stream: v.stream as string | undefined, token: (v.token as string | undefined) ?? (process.env.SEGFLOW_WS_TOKEN || undefined), frames, json: v.json === true });
    },
  },
  status: {
    summary: 'fleet processing: the files of a `process --queue` run (state, frames, chunks, errors) and the live workers',
    usage: '--queue redis://HOST:PORT[/DB] [--json]',
    options: {
      queue: { type: 'string', arg: 'redis://HOST:PORT[/DB]', description: 'the Redis the files were submitted to (required)' },
      json: { type: 'boolean', description: 'print JSON' },
      help: HELP,
    },
    run: async (v) => (await import('./queue/cli.ts')).cmdQueueStatus(v),
  },
  eval: {
    summary: 'score a model against class-id label PNGs (confusion matrix, mIoU, …)',
    usage: '--images DIR --labels DIR [options]   (options: segflow eval --help)',
    options: { help: HELP },
    // eval parses its own options (src/eval/cli.ts); its help is its usage text.
    run: async (_v, _p, argv) => (await import('./eval/cli.ts')).cmdEval(argv),
  },
  nodes: {
    summary: 'every node type with its ports; with NAME, its options (type, default, range, description)',
    usage: '[NAME] [--markdown]',
    options: { markdown: { type: 'boolean', description: 'print the Markdown reference (docs/nodes.md)' }, help: HELP },
    run: (v, p) => cmdNodes(v, p),
  },
  keys: {
    summary: 'make CURVE key files for ZeroMQ (--curve-keys; docs/security-zmq.md)',
    usage: 'init DIR [--clients N] | add-client SERVER.json CLIENT.json',
    options: { clients: { type: 'string', arg: 'N', description: 'with init: client key files to make (1..1000, default 1)' }, help: HELP },
    run: async (v, p) => {
      const { addClient, initKeys } = await import('../net/zmq/curve.ts');
      const [sub, a, b] = p;
      if (sub === 'init' && a && !b) {
        const n = Number(v.clients ?? 1);
        if (!Number.isInteger(n) || n < 1 || n > 1000) throw new UsageError(`--clients: expected an integer 1..1000, got '${v.clients}'`);
        for (const f of initKeys(a, n)) process.stdout.write(`wrote ${f}\n`);
        return 0;
      }
      if (sub === 'add-client' && a && b && p.length === 3) {
        addClient(a, b);
        process.stdout.write(`wrote ${b}; added its public key to ${a} (restart the binding side to use it)\n`);
        return 0;
      }
      throw new UsageError('keys: expected `init DIR [--clients N]` or `add-client SERVER.json CLIENT.json` (segflow keys --help)');
    },
  },
  version: {
    summary: "print segflow's version (also --version, -v)",
    usage: '',
    options: { help: HELP },
    run: async () => {
      process.stdout.write(`${version()}\n`);
      return 0;
    },
  },
};

function optionLines(options: Options): string[] {
  const entries = Object.entries(options).sort(([a], [b]) => Number(a === 'help') - Number(b === 'help'));
  const rows = entries.map(([name, o]) => [`${o.short ? `-${o.short}, ` : '    '}--${name}${o.arg ? ` ${o.arg}` : ''}`, o.description] as const);
  const w = Math.max(...rows.map(([l]) => l.length));
  return rows.map(([l, d]) => `  ${l.padEnd(w)}  ${d}`);
}

/** `segflow <name> --help`. */
export function commandHelp(name: string): string {
  const c = COMMANDS[name]!;
  return [`usage: segflow ${name} ${c.usage}`.trimEnd(), '', `${c.summary}.`, '', 'options:', ...optionLines(c.options), ...(c.more ? ['', c.more] : [])].join('\n') + '\n';
}

/** `segflow --help`. */
export function usage(): string {
  const w = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  return [
    'usage: segflow <command> [options]      (segflow <command> --help for its options)',
    '',
    'commands:',
    ...Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(w)}  ${c.summary}`),
    '',
    'global: --version (-v), --help (-h)',
    'exit codes: 0 ok, 1 a run or an input failed, 2 bad graph or command line, 130 interrupted',
  ].join('\n') + '\n';
}

function parse(name: string, argv: string[]): { values: Values; positionals: string[] } {
  const c = COMMANDS[name]!;
  const options = Object.fromEntries(Object.entries(c.options).map(([k, o]) => [k, { type: o.type, ...(o.multiple ? { multiple: true } : {}), ...(o.short ? { short: o.short } : {}) }]));
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true }) as { values: Values; positionals: string[] };
  } catch (e) {
    const m = /Unknown option '(-{1,2})([^']*)'/.exec((e as Error).message);
    if (m) {
      const valid = Object.keys(c.options);
      const hint = didYouMean(m[2]!, valid).replace(/'([^']+)'/g, "'--$1'");
      throw new UsageError(`${name}: unknown option '${m[1]}${m[2]}'${hint}; valid options: ${valid.map((k) => `--${k}`).join(', ')}`);
    }
    throw new UsageError(`${name}: ${(e as Error).message.replace(/\. To specify a positional argument.*$/, '')}\n(segflow ${name} --help for its options)`);
  }
}

// ---------------------------------------------------------------------------------------------
// Logs and progress: human text (and a progress bar on a terminal) or JSON lines

export interface Log {
  readonly json: boolean;
  /** A log line: text on stderr, or {"type":"log", ...}. */
  info(message: string, fields?: Record<string, unknown>): void;
  /** Any other event as one JSON line (nothing in human mode). */
  event(type: string, fields: Record<string, unknown>): void;
}

function makeLog(mode: unknown): Log {
  if (mode !== undefined && mode !== 'human' && mode !== 'json') throw new UsageError(`--log: expected human or json, got '${String(mode)}'`);
  const json = mode === 'json';
  const line = (type: string, fields: Record<string, unknown>) => process.stderr.write(JSON.stringify({ time: new Date().toISOString(), type, ...fields }) + '\n');
  return {
    json,
    info: (message, fields = {}) => (json ? line('log', { message, ...fields }) : process.stderr.write(message + '\n')),
    event: (type, fields) => {
      if (json) line(type, fields);
    },
  };
}

/** process's progress as JSON lines: start, progress (at most every 0.5 s per file), and each file's result. */
function jsonProgress(log: Log): Progress {
  const job = new JobProgress();
  const state = new Map<string, { total?: number | undefined; t0: number; last: number }>();
  return {
    // `files`: the inputs to process; each event of a file has its `fileIndex` (1-based, in start order) and the job's `jobEtaS` (by file size; null until known).
    plan: (files) => {
      job.plan(files);
      log.event('plan', { files: files.length, bytes: files.reduce((a, f) => a + f.bytes, 0) });
    },
    start: (file, total) => {
      const fileIndex = job.start(file);
      state.set(file, { total, t0: performance.now(), last: 0 });
      log.event('start', { file, totalFrames: total ?? null, fileIndex, files: job.files });
    },
    frame: (file, frames) => {
      const s = state.get(file);
      if (!s) return;
      job.frame(file, frames, s.total);
      const now = performance.now();
      if (now - s.last < 500) return;
      s.last = now;
      const secs = (now - s.t0) / 1000;
      const eta = job.etaS();
      log.event('progress', { file, frames, totalFrames: s.total ?? null, fps: secs > 0 ? Number((frames / secs).toFixed(2)) : 0, fileIndex: job.indexOf(file) ?? null, files: job.files, jobEtaS: eta !== undefined ? Math.round(eta) : null });
    },
    stalled: (file, idleS, frames) => log.event('stalled', { file, idleS, frames }),
    end: (r) => {
      job.end(r.input, r.status === 'ok' || r.status === 'skipped');
      state.delete(r.input);
      log.event('file', { ...r });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Handlers

/** Loads the node types graphs are made of: handed to main() by the composition root (cli.ts at the package root). */
export type NodeLoader = () => Promise<Registry>;

let loadNodes: NodeLoader = () => Promise.reject(new Error('segflow: main() was given no node types'));

function registry(): Promise<Registry> {
  return loadNodes();
}

function vars(list: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of list ?? []) {
    const i = v.indexOf('=');
    if (i < 1) throw new UsageError(`--var ${v}: expected name=value`);
    out[v.slice(0, i)] = v.slice(i + 1);
  }
  return out;
}

/** `v`: the user's --var values, each checked against the graph's variables unless `strictVars` is false. */
async function loadGraph(file: string, sets: string[], v: Record<string, string>, strictVars = true): Promise<GraphDef> {
  const { loadGraphFile } = await import('../core/graph/loader.ts');
  return loadGraphFile(file, await registry(), { sets, vars: v, strictVars });
}

/** `--overwrite` sets `overwrite: true` on every node that has that option. */
async function overwriteSets(file: string, sets: string[], v: Record<string, string>): Promise<string[]> {
  const def = await loadGraph(file, sets, v);
  return def.nodes.filter((n) => 'overwrite' in n.options).map((n) => `${n.name}.overwrite=true`);
}

/** `--chunk-frames N` reaches every decoder as `chunkFrames` (a discontinuity every N frames). */
/**
 * The types of the nodes a graph file puts in executors (the bundled offline graph does): its
 * segmenter then runs its model in the executor's thread, so an executor's thread loading those
 * types is warmed instead of a spare segmenter thread (which would only cost start-up CPU, ~0.3 s).
 * A quick read of the file, not a validation: a wrong answer only changes what is warmed.
 */
async function executorTypes(graph: string): Promise<string[]> {
  try {
    const text = readFileSync(graph, 'utf8');
    if (!/(^|[\s{,])executor\s*:/m.test(text)) return [];
    // yaml is CommonJS: Node gives its exports by name, the bundle (dist/src/bundle/) as `default` only.
    type Yaml = { parse(text: string): unknown };
    const yaml = (await import('yaml')) as unknown as Partial<Yaml> & { default?: Yaml };
    const parse = yaml.parse ?? yaml.default!.parse;
    const nodes = (parse(text) as { nodes?: Record<string, { type?: unknown; executor?: unknown }> }).nodes ?? {};
    return [...new Set(Object.values(nodes).filter((n) => n?.executor !== undefined && typeof n.type === 'string').map((n) => n.type as string))];
  } catch {
    return [];
  }
}

/**
 * Start-up overlap for `process`: before the runtime loads (RxJS, zod, every node),
 * a spare segmenter thread boots and initialises ONNX Runtime (src/thread/segmenter.ts prewarm) —
 * or, for a graph with executors, an executor's thread loads its nodes' modules and waits for its
 * plan (src/core/executor.ts prewarmExecutorThread) — and the first inputs given as files are
 * probed (src/ffmpeg.ts keeps the answer for the job); on 2 cores these run beside the loading
 * instead of after it. A failed probe is not kept: the job probes again and reports it.
 * cmdProcess ends the spare thread if no graph took it.
 */
async function warmStart(inputs: string[], jobs: number, graph: string): Promise<void> {
  // The probes first: the decoder waits for its input's probe, and ffprobe's own start-up (~0.1 s,
  // mostly its shared libraries' relocations) then runs while this thread loads the runtime.
  const { probe } = await import('../media/ffmpeg.ts');
  const { statSync } = await import('node:fs');
  for (const f of inputs.slice(0, jobs)) {
    try {
      if (statSync(f).isFile()) probe(f).catch(() => {});
    } catch {
      // a missing input is reported by the job
    }
  }
  // A graph with executors gets an executor's thread (loading its nodes' modules), others a spare segmenter thread.
  const types = await executorTypes(graph);
  if (types.length) (await import('../core/executor.ts')).prewarmExecutorThread(types);
  else (await import('../segmentation/thread/segmenter.ts')).ThreadedSegmenter.prewarm();
}

async function chunkSets(file: string, sets: string[], n: number): Promise<string[]> {
  const def = await loadGraph(file, sets, { input: 'input.mp4', out: 'out' }, false);
  return def.nodes.filter((x) => x.type === 'decoder').map((x) => `${x.name}.chunkFrames=${n}`);
}

async function endpoint(flag: string, s: string | boolean | string[] | boolean[] | undefined): Promise<string> {
  const { checkEndpoint } = await import('../codecs/zmq-wire.ts');
  try {
    return checkEndpoint(String(s ?? ''), flag);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function port(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`--metrics-port: expected a port 0..65535, got '${s}'`);
  return n;
}

function stopSignal(log: Log): { signal: AbortSignal; dispose: () => void; opening: (on: boolean) => void } {
  const ac = new AbortController();
  let count = 0;
  let opening = false;
  const onSig = (sig: NodeJS.Signals) => {
    count++;
    if (count === 1 && opening) {
      // The graph is still opening: nothing to finish yet, but a graceful stop would wait for every open,
      // a model loading in its thread included (seconds on a busy machine), and that thread cannot be
      // ended early (one terminated inside ONNX Runtime aborts the process). So the children a node may
      // have started are killed and the process ends by the signal at once: status 130 in a shell, as a
      // Ctrl-C before the handler is installed (test/live-faults.test.ts).
      if (log.json) log.event('signal', { signal: sig, message: 'stopping; the graph was still opening' });
      else process.stderr.write(`\n${sig}: stopping; the graph was still opening\n`);
      killChildren();
      forceExit(sig);
    }
    if (count === 1) {
      if (log.json) log.event('signal', { signal: sig, message: 'stopping; finishing outputs (again to force)' });
      else process.stderr.write(`\n${sig}: stopping; finishing outputs (again to force)\n`);
      ac.abort(new Error(sig));
    } else {
      forceExit(sig);
    }
  };
  process.on('SIGINT', onSig);
  process.on('SIGTERM', onSig);
  return {
    signal: ac.signal,
    dispose: () => { process.off('SIGINT', onSig); process.off('SIGTERM', onSig); if (count > 0) forceExitOnSignal(); },
    opening: (on) => void (opening = on),
  };
}

async function cmdRun(values: Values, positionals: string[]): Promise<number> {
  const log = makeLog(values.log);
  const file = positionals[0] ?? DEFAULT_GRAPH;
  const v = vars(values.var as string[] | undefined);
  let sets = (values.set as string[] | undefined) ?? [];
  if (values.overwrite) sets = [...sets, ...(await overwriteSets(file, sets, v))];
  let def: GraphDef = await loadGraph(file, sets, v);
  for (const w of def.warnings ?? []) log.info(`warning: ${w}`);
  const dispatchAt = values.dispatch !== undefined ? await endpoint('--dispatch', values.dispatch) : undefined;
  if (!dispatchAt && (values['stream-name'] !== undefined || values['min-workers'] !== undefined || values['no-rebalance'] !== undefined)) throw new UsageError('--stream-name, --min-workers and --no-rebalance go with --dispatch tcp://HOST:PORT');
  const minWorkers = Number(values['min-workers'] ?? 0);
  if (!Number.isInteger(minWorkers) || minWorkers < 0 || minWorkers > 1000) throw new UsageError(`--min-workers: expected an integer 0..1000, got '${values['min-workers']}'`);
  if (dispatchAt) (await import('./dispatch/remote-segmenter.ts')).requireSegmenter(def);
  const mp = port(values['metrics-port'] as string | undefined);
  // Live sharding: each segmenter node becomes a stream handed to `segflow worker` processes.
  const { curveKeysFlag } = await import('../net/zmq/curve.ts');
  const keys = curveKeysFlag(values['curve-keys'], 'server', values.dispatch !== undefined);
  const live = dispatchAt ? await (await import('./dispatch/live-segmenter.ts')).startLiveDispatch({ endpoint: dispatchAt, def, streamName: values['stream-name'] as string | undefined, curveKeys: keys, rebalance: values['no-rebalance'] !== true }) : undefined;
  if (live) def = live.def;
  const { Metrics } = await import('../core/runtime/metrics.ts');
  const metrics = new Metrics();
  const view = live?.dispatcher.metricsView(() => metrics);
  const stop = stopSignal(log);
  let server: { close(): unknown; address(): unknown } | undefined;
  try {
    server = mp !== undefined ? await (await import('../net/metrics-server.ts')).serveMetrics(() => view ?? metrics, mp) : undefined;
    if (server) log.info(`metrics on http://127.0.0.1:${(server.address() as { port: number }).port}/metrics`);
    if (live && minWorkers > 0) {
      log.info(`dispatch: waiting for ${minWorkers} workers before starting the graph`);
      await live.dispatcher.waitForWorkers(minWorkers, stop.signal);
      if (stop.signal.aborted) return 130;
    }
    return await runLoaded(def, metrics, stop.signal, log, stop.opening);
  } finally {
    stop.dispose();
    server?.close();
    await live?.close();
  }
}

/** Where each sink of a graph writes: a file, a folder, a socket or a server. */
export function outputsOf(def: GraphDef): Array<{ node: string; type: string; to: string }> {
  const out: Array<{ node: string; type: string; to: string }> = [];
  for (const n of def.nodes) {
    if (n.spec.role !== 'sink') continue;
    const o = n.options as Record<string, unknown>;
    const files = ['path', 'dir', 'json', 'csv', 'videoCsv', 'file'].filter((k) => typeof o[k] === 'string').map((k) => path.resolve(o[k] as string));
    for (const f of files) out.push({ node: n.name, type: n.type, to: f });
    if (files.length) continue;
    if (typeof o.endpoint === 'string') out.push({ node: n.name, type: n.type, to: o.endpoint });
    else if (o.port !== undefined) out.push({ node: n.name, type: n.type, to: `http://${o.host ?? '127.0.0.1'}:${o.port}/${o.stream ? ` (stream ${o.stream})` : ''}` });
    else out.push({ node: n.name, type: n.type, to: '(no file or socket)' });
  }
  return out;
}

async function runLoaded(def: GraphDef, metrics: Metrics, signal: AbortSignal, log: Log, opening: (on: boolean) => void = () => {}): Promise<number> {
  // A first SIGINT/SIGTERM from here until every node has opened ends the process at once (stopSignal).
  if (!signal.aborted) opening(true);
  const { runGraph } = await import('../core/graph/runner.ts');
  const t0 = performance.now();
  let frames = 0;
  const firstSink = def.nodes.find((n) => n.spec.role === 'sink')?.name;
  const tty = process.stderr.isTTY && !log.json;
  let last = 0;
  const res = await runGraph(def, {
    signal,
    metrics,
    onOpened: () => opening(false),
    log: (m) => log.info(m),
    onDone: (sink) => {
      if (sink !== firstSink) return;
      frames++;
      const now = performance.now();
      if (now - last > (log.json ? 1000 : tty ? 250 : 5000)) {
        last = now;
        const fps = frames / ((now - t0) / 1000);
        if (log.json) log.event('progress', { frames, fps: Number(fps.toFixed(2)) });
        else {
          const msg = `${frames} frames, ${fps.toFixed(1)} fps`;
          process.stderr.write(tty ? `\r\x1b[K${msg}` : msg + '\n');
        }
      }
    },
  }).finally(() => opening(false));
  const secs = (performance.now() - t0) / 1000;
  if (tty) process.stderr.write('\r\x1b[K');
  const outputs = outputsOf(def);
  if (log.json) {
    log.event('metrics', res.metrics.toJSON() as Record<string, unknown>);
    log.event('done', { interrupted: res.interrupted, frames, seconds: Number(secs.toFixed(3)), fps: Number((frames / secs).toFixed(2)), outputs });
  } else {
    process.stderr.write(`${res.metrics.table()}\n`);
  }
  const w = Math.max(0, ...outputs.map((o) => o.node.length));
  process.stdout.write(`${res.interrupted ? 'interrupted' : 'done'}: ${frames} frames in ${secs.toFixed(2)} s, ${(frames / secs).toFixed(1)} fps end to end\n`);
  process.stdout.write(`outputs:\n${outputs.map((o) => `  ${o.node.padEnd(w)}  ${o.to}  (${o.type})`).join('\n') || '  (none)'}\n`);
  return res.interrupted ? 130 : 0;
}

async function cmdValidate(values: Values, positionals: string[]): Promise<number> {
  if (!positionals[0]) throw new UsageError(`validate: expected a graph file\n${commandHelp('validate')}`);
  const def = await loadGraph(positionals[0], (values.set as string[] | undefined) ?? [], vars(values.var as string[] | undefined));
  for (const w of def.warnings ?? []) process.stderr.write(`warning: ${w}\n`);
  process.stdout.write(`ok: ${def.file}: ${def.nodes.length} nodes (${def.nodes.map((n) => `${n.name}:${n.type}`).join(', ')})\n`);
  return 0;
}

async function cmdGraph(values: Values, positionals: string[]): Promise<number> {
  if (!positionals[0]) throw new UsageError(`graph: expected a graph file\n${commandHelp('graph')}`);
  const def = await loadGraph(positionals[0], (values.set as string[] | undefined) ?? [], vars(values.var as string[] | undefined));
  const dot = (await import('../core/graph/dot.ts')).toDot(def);
  if (values.svg) {
    const { execFileSync } = await import('node:child_process');
    const { writeFileSync } = await import('node:fs');
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

/** Options given that do not apply: a UsageError naming them and why. */
function refuse(values: Values, names: readonly string[], why: string): void {
  const given = names.filter((n) => values[n] !== undefined);
  if (given.length) throw new UsageError(`${given.map((n) => `--${n}`).join(', ')}: ${why}`);
}

async function cmdProcess(values: Values, positionals: string[]): Promise<number> {
  if (values.queue !== undefined) {
    // Fleet processing: BullMQ and ioredis load only here.
    refuse(values, ['overwrite', 'jobs', 'dispatch', 'curve-keys', 'metrics-port', 'var'], 'do not apply with --queue (a job never replaces a complete output; start more workers for more at once; workers serve metrics)');
    if (makeLog(values.log).json) throw new UsageError('--log json: not available with --queue (segflow status --queue … --json reports the run as JSON)');
    return (await import('./queue/cli.ts')).cmdQueueProcess(values, positionals, await registry());
  }
  refuse(values, ['attempts', 'no-wait'], 'go with --queue redis://HOST:PORT');
  const log = makeLog(values.log);
  if (!positionals.length) throw new UsageError(`process: expected files or folders\n${commandHelp('process')}`);
  if (!values.out) throw new UsageError(`process: expected --out DIR\n${commandHelp('process')}`);
  const jobs = Number(values.jobs ?? 1);
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 64) throw new UsageError(`--jobs: expected an integer 1..64, got '${values.jobs}'`);
  // ZeroMQ (a native addon) and the dispatcher load only for --dispatch / --curve-keys.
  const zmqWanted = values.dispatch !== undefined || values['curve-keys'] !== undefined;
  const remote = zmqWanted ? await import('./dispatch/remote-segmenter.ts') : undefined;
  const chunkFrames = Number(values['chunk-frames'] ?? (values.dispatch ? remote!.DEFAULT_CHUNK_FRAMES : 0));
  if (!Number.isInteger(chunkFrames) || chunkFrames < 0) throw new UsageError(`--chunk-frames: expected an integer ≥ 1 (frames), got '${values['chunk-frames']}'`);
  const graph = (values.graph as string | undefined) ?? DEFAULT_GRAPH;
  let sets = (values.set as string[] | undefined) ?? [];
  if (chunkFrames > 0) sets = [...sets, ...(await chunkSets(graph, sets, chunkFrames))];
  const keys = zmqWanted ? (await import('../net/zmq/curve.ts')).curveKeysFlag(values['curve-keys'], 'server', values.dispatch !== undefined) : undefined;
  const dispatch = values.dispatch ? await remote!.startDispatch({ endpoint: await endpoint('--dispatch', values.dispatch), graph, sets, chunkFrames, curveKeys: keys, registry: await registry() }) : undefined;
  const stop = stopSignal(log);
  try {
    // Inside the try: whatever fails from here (a broken install's import) still ends the dispatcher and the warmed threads.
    if (!dispatch) await warmStart(positionals, jobs, graph);
    const { consoleProgress, processFiles } = await import('./process.ts');
    const { Metrics } = await import('../core/runtime/metrics.ts');
    const metrics = new Metrics();
    let current = metrics;
    const view = dispatch?.dispatcher.metricsView(() => current);
    const mp = port(values['metrics-port'] as string | undefined);
    const server = mp !== undefined ? await (await import('../net/metrics-server.ts')).serveMetrics(() => view ?? current, mp) : undefined;
    try {
      const s = await processFiles({
        inputs: positionals, out: values.out as string, graph, sets, jobs, overwrite: values.overwrite === true, registry: await registry(),
        signal: stop.signal, progress: log.json ? jsonProgress(log) : consoleProgress(), onMetrics: (m) => (current = m), dispatch,
      });
      const summary = path.join(s.out, 'summary.json');
      log.event('done', { ok: s.ok, skipped: s.skipped, failed: s.failed, interrupted: s.interrupted, seconds: Number(s.seconds.toFixed(3)), summary });
      process.stdout.write(`${s.ok} ok, ${s.skipped} skipped, ${s.failed} failed, ${s.interrupted} interrupted in ${s.seconds.toFixed(1)} s; summary: ${summary}\n`);
      if (s.interrupted) return 130;
      return s.failed ? 1 : 0;
    } finally {
      server?.close();
    }
  } finally {
    stop.dispose();
    await dispatch?.close();
    // A spare segmenter or executor thread no graph took (warmStart) is ended: it would keep the process alive.
    if (!dispatch) {
      await (await import('../segmentation/thread/segmenter.ts')).ThreadedSegmenter.dropPrewarmed();
      await (await import('../core/executor.ts')).endExecutorThreads();
    }
  }
}

async function cmdWorker(values: Values): Promise<number> {
  const log = makeLog(values.log);
  if (values.queue !== undefined) {
    refuse(values, ['connect', 'curve-keys'], 'are for a dispatcher; a worker takes either --connect (a dispatcher) or --queue (Redis)');
    return (await import('./queue/cli.ts')).cmdQueueWorker(values, await registry(), log.json ? (m: string) => log.info(m) : undefined);
  }
  refuse(values, ['concurrency', 'lock-ms', 'metrics-port'], 'go with --queue redis://HOST:PORT');
  const at = await endpoint('--connect', values.connect);
  const { runWorker } = await import('./dispatch/worker.ts');
  const keys = (await import('../net/zmq/curve.ts')).curveKeysFlag(values['curve-keys'], 'client');
  const stop = stopSignal(log);
  try {
    await runWorker({ endpoint: at, signal: stop.signal, curveKeys: keys, registry: await registry(), ...(log.json ? { log: (m: string) => log.info(m) } : {}) });
    return 0;
  } finally {
    stop.dispose();
  }
}

async function cmdWorkers(values: Values, positionals: string[]): Promise<number> {
  if (values.connect !== undefined && positionals.length) throw new UsageError('workers: expected the dispatcher once, as --connect or as an argument');
  const { formatStatus, requestStatus } = await import('../net/zmq/dispatcher.ts');
  const s = await requestStatus(await endpoint('--connect', values.connect ?? positionals[0]), undefined, (await import('../net/zmq/curve.ts')).curveKeysFlag(values['curve-keys'], 'client'));
  process.stdout.write(values.json ? JSON.stringify(s, null, 2) + '\n' : formatStatus(s));
  return 0;
}

/**
 * The node catalog: dist/nodes/catalog.json when this runs from the built
 * package (written by the build from the same schemas), else computed from the
 * schemas.
 */
export async function nodeCatalog(): Promise<NodeInfo[]> {
  if (import.meta.url.endsWith('.js')) {
    try {
      return JSON.parse(readFileSync(new URL('../../nodes/catalog.json', import.meta.url), 'utf8')) as NodeInfo[];
    } catch {
      // not built with a catalog: compute it
    }
  }
  const { describeNodes } = await import('../core/node-catalog.ts');
  return describeNodes([...(await registry()).values()]);
}

async function cmdNodes(values: Values, positionals: string[]): Promise<number> {
  const infos = await nodeCatalog();
  const { formatNode, formatNodeList, nodesMarkdown } = await import('../core/node-catalog.ts');
  if (values.markdown) {
    process.stdout.write(nodesMarkdown(infos));
    return 0;
  }
  if (!positionals.length) {
    process.stdout.write(formatNodeList(infos));
    return 0;
  }
  for (const name of positionals) {
    const s = infos.find((i) => i.type === name);
    if (!s) throw new UsageError(`nodes: unknown node type '${name}'${didYouMean(name, infos.map((i) => i.type))}; expected one of: ${infos.map((i) => i.type).join(', ')}`);
    process.stdout.write(formatNode(s));
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------

/** A closed stdout (`segflow nodes | head`) ends the command quietly. */
function quietEpipe(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}

/** `segflow ARGV`; `nodes` loads the node types (only commands that need them call it). */
export async function main(argv: string[], nodes: NodeLoader): Promise<number> {
  loadNodes = nodes;
  quietEpipe();
  const [cmd, ...rest] = argv;
  if (cmd === 'run' || cmd === 'process' || cmd === 'worker') (await import('./heap.ts')).growHeapForVideo(); // fewer full GCs (src/apps/heap.ts)
  try {
    if (cmd === undefined || cmd === '-h' || cmd === '--help' || cmd === 'help') {
      const topic = cmd === 'help' ? rest[0] : undefined;
      if (topic && COMMANDS[topic]) process.stdout.write(commandHelp(topic));
      else process.stdout.write(usage());
      return cmd ? 0 : 2;
    }
    if (cmd === '--version' || cmd === '-v' || cmd === '-V') return await COMMANDS.version!.run({}, [], rest);
    const c = Object.hasOwn(COMMANDS, cmd) ? COMMANDS[cmd] : undefined;
    if (!c) {
      const names = Object.keys(COMMANDS);
      const near = closest(cmd.replace(/^-+/, ''), names);
      throw new UsageError(`unknown command '${cmd}'${near.length ? ` (did you mean ${near.map((n) => `'${n}'`).join(' or ')}?)` : ''}; commands: ${names.join(', ')} (segflow --help)`);
    }
    // --help anywhere (before a `--`) prints help and runs nothing, whatever else is on the line.
    const end = rest.indexOf('--');
    if ((end < 0 ? rest : rest.slice(0, end)).some((a) => a === '--help' || a === '-h')) {
      process.stdout.write(cmd === 'eval' ? `${(await import('./eval/cli.ts')).EVAL_USAGE}\n` : commandHelp(cmd));
      return 0;
    }
    if (cmd === 'eval') return await c.run({}, [], rest);
    const { values, positionals } = parse(cmd, rest);
    return await c.run(values, positionals, rest);
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
