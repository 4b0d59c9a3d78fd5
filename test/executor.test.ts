/**
 * Executors (src/core/executor.ts): nodes naming the same `executor:` run in one worker thread;
 * only frames in and labels out cross; a `features` edge never crosses executors (the loader says so).
 */
import test from 'ava';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { registry } from '../nodes/index.ts';
import { idleExecutorThreads, poolExecutors, withExecutors } from '../src/core/executor.ts';
import { GraphError } from '../src/core/errors.ts';
import { loadGraphFile, parseGraph } from '../src/core/graph/loader.ts';
import { runGraph } from '../src/core/graph/runner.ts';
import { collapseDecomposed } from '../src/segmentation/collapse.ts';
import { ROOT, SAMPLE, tmpDir } from './helpers/cli.ts';

const head = `version: 1
nodes:
  decode:  { type: decoder, options: { path: "${SAMPLE}", maxFrames: 24 } }
  small:   { type: downsampler, options: { width: 320, height: 180 }, in: { frame: decode.frame } }
`;
const fuserGraph = (segEx: string, fuseEx: string, stats = '/dev/null') => `${head}  keys:    { type: keyframe-scheduler, executor: a, options: { keyframeIntervalFrames: 4, nonKeyFrames: fuse }, in: { frame: small.frame } }
  segment: { type: two-branch-segmenter, ${segEx} options: { fuserCell: gru }, in: { frame: keys.frame } }
  fuse:    { type: temporal-fuser, ${fuseEx} options: { cell: gru }, in: { features: segment.features } }
  stats:   { type: statistics-sink, options: { json: "${stats}" }, in: { labels: fuse.labels } }
`;

function loadError(text: string): GraphError {
  try {
    parseGraph(text, 'g.yaml', registry);
  } catch (e) {
    if (e instanceof GraphError) return e;
    throw e;
  }
  throw new Error('expected the graph to be refused');
}

test('executor › the loader refuses a features edge between two executors, or between an executor and the main thread', (t) => {
  const across = loadError(fuserGraph('executor: a,', 'executor: b,'));
  t.is(across.line, 7, 'the line of the features input');
  t.regex(across.message, /g\.yaml:7 › fuse\.in\.features: a 'features' edge must stay inside one executor, but segment runs in executor 'a' and fuse in executor 'b'; give both the same executor/);
  t.regex(loadError(fuserGraph('executor: a,', '')).message, /segment runs in executor 'a' and fuse in the main thread/);
  t.regex(loadError(fuserGraph('', 'executor: a,')).message, /segment runs in the main thread and fuse in executor 'a'/);
  t.notThrows(() => parseGraph(fuserGraph('executor: a,', 'executor: a,'), 'g.yaml', registry), 'one executor: accepted');
});

test('executor › only transforms run in an executor, and its name is checked', (t) => {
  t.regex(loadError(`version: 1\nnodes:\n  decode: { type: decoder, executor: a, options: { path: x.mp4 } }\n  stats: { type: statistics-sink, options: { json: s.json }, in: { labels: decode.frame } }\n`).message, /node 'decode' \(decoder\) is a source: only transforms run in an executor/);
  t.regex(loadError(`${head}  seg: { type: two-branch-segmenter, executor: "1 x", in: { frame: small.frame } }\n  stats: { type: statistics-sink, options: { json: s.json }, in: { labels: seg.labels } }\n`).message, /seg'\.executor: expected an executor name/);
});

test('executor › the group becomes one node whose ports are the streams crossing it, each once', (t) => {
  const def = loadGraphFile(path.join(ROOT, 'graphs', 'dashcam-offline.yaml'), registry);
  const g = withExecutors(def);
  const ex = g.nodes.find((n) => n.type === 'executor')!;
  t.is(ex.name, 'executor:segmentation');
  t.deepEqual(Object.keys(ex.spec.inputs), ['small.frame'], 'the small frames go in once (the scheduler and propagation both take them in the thread)');
  t.deepEqual(Object.keys(ex.spec.outputs), ['carry.labels'], 'labels come out');
  t.deepEqual(g.nodes.map((n) => n.name).slice(0, 3), ['decode', 'small', 'executor:segmentation'], 'in topological order');
  t.is(g.nodes.length, 8);
  t.false(withExecutors(collapseDecomposed(def)).nodes.some((n) => n.type === 'executor'), 'folded back: no executor left');
});

test('executor › the bundled fuser graph: scheduler, segmenter and fuser in one executor; only frames in, labels out', (t) => {
  const g = withExecutors(loadGraphFile(path.join(ROOT, 'graphs', 'dashcam-offline-fuser.yaml'), registry));
  const ex = g.nodes.find((n) => n.type === 'executor')!;
  t.deepEqual(Object.entries(ex.spec.inputs), [['small.frame', 'frame']]);
  t.deepEqual(Object.entries(ex.spec.outputs), [['fuse.labels', 'labels']], 'the features edge stays inside');
  t.throws(() => collapseDecomposed(loadGraphFile(path.join(ROOT, 'graphs', 'dashcam-offline-fuser.yaml'), registry)), { message: /feeds a temporal-fuser/ }, 'cannot be handed to remote workers');
});

test.serial('executor › the decomposed default graph in its thread gives the monolithic graph\'s label maps, byte for byte', async (t) => {
  const out = tmpDir('segflow-executor-');
  const vars = { input: SAMPLE };
  const logs: string[] = [];
  const def = loadGraphFile(path.join(ROOT, 'graphs', 'dashcam-offline.yaml'), registry, { vars: { ...vars, out: path.join(out, 'dec') }, sets: ['decode.maxFrames=30', 'segment.threads=1'] });
  const r = await runGraph(def, { log: (m) => logs.push(m) });
  t.true(logs.some((l) => /segment: model fast-scnn-camvid on onnx\/cpu \(in executor segmentation's thread, started from (tsx|compiled JavaScript)\)/.test(l)), logs.join('\n'));
  const full = r.metrics.counters.get('segmenter_path_total')?.get('{node="segment",path="full"}') ?? 0;
  t.true(full >= 3 && full < 30, `the network ran on key frames only (${full})`);
  // The runtime times a node for every packet it takes in: the segmenter emits labels for key frames
  // only (propagation labels the rest), and the frames it passes without the network are timed too.
  t.is(r.metrics.nodes.get('segment')?.frames, 30, 'the statistics of nodes in the thread reach the run\'s metrics');
  t.true(r.metrics.nodes.get('segment')!.percentile(50) < r.metrics.nodes.get('segment')!.percentile(99), 'frames passed without the network: the quick ones');
  t.is(r.metrics.nodes.get('carry')?.frames, 30);
  const mono = collapseDecomposed(loadGraphFile(path.join(ROOT, 'graphs', 'dashcam-offline.yaml'), registry, { vars: { ...vars, out: path.join(out, 'mono') }, sets: ['decode.maxFrames=30', 'segment.threads=1'] }));
  t.deepEqual(mono.nodes.map((n) => n.type).filter((x) => /segment|schedul|propag/.test(x)), ['two-branch-segmenter'], 'folded into one monolithic segmenter');
  await runGraph(mono, { log: () => {} });
  const pngs = readdirSync(path.join(out, 'dec', 'labels')).filter((f) => f.endsWith('.png')).sort();
  t.is(pngs.length, 30);
  for (const f of pngs) t.true(readFileSync(path.join(out, 'dec', 'labels', f)).equals(readFileSync(path.join(out, 'mono', 'labels', f))), f);
  t.deepEqual(readFileSync(path.join(out, 'dec', 'stats.csv')), readFileSync(path.join(out, 'mono', 'stats.csv')));
});

test.serial('executor › scheduler, segmenter and fuser in one thread: features stay there, labels come out for every frame', async (t) => {
  const stats = path.join(tmpDir(), 'stats.json');
  const r = await runGraph(parseGraph(fuserGraph('executor: a,', 'executor: a,', stats), 'g.yaml', registry), { log: () => {} });
  const c = (name: string, labels: string) => r.metrics.counters.get(name)?.get(labels) ?? 0;
  t.is(c('fuser_path_total', '{node="fuse",path="full"}'), 6, 'key frames 0, 4, ... 20');
  t.is(c('fuser_path_total', '{node="fuse",path="fused"}'), 18);
  t.is(c('segmenter_path_total', '{node="segment",path="features"}'), 18, 'non-key frames: the shallow branch only');
  t.is(JSON.parse(readFileSync(stats, 'utf8')).frames, 24);
});

test('executor › a node that fails to open in the thread fails the run with its error', async (t) => {
  const def = parseGraph(`${head}  seg: { type: two-branch-segmenter, executor: a, options: { model: no-such-model }, in: { frame: small.frame } }\n  stats: { type: statistics-sink, options: { json: /dev/null }, in: { labels: seg.labels } }\n`, 'g.yaml', registry);
  await t.throwsAsync(runGraph(def, { log: () => {} }), { message: /model 'no-such-model' not found/ });
});

test.serial('executor › a freshest queue on an edge into a node in the thread drops there, and the drops reach the run\'s metrics', async (t) => {
  const stats = path.join(tmpDir(), 'stats.json');
  const def = parseGraph(`version: 1
nodes:
  decode:  { type: decoder, options: { path: "${SAMPLE}", maxFrames: 30 } }
  small:   { type: downsampler, options: { width: 480, height: 272 }, in: { frame: decode.frame } }
  segment: { type: two-branch-segmenter, executor: a, options: { threads: 1 }, in: { frame: small.frame }, queue: { policy: freshest, size: 1 } }
  stats:   { type: statistics-sink, options: { json: "${stats}" }, in: { labels: segment.labels } }
`, 'g.yaml', registry);
  const r = await runGraph(def, { log: () => {} });
  const e = r.metrics.edges.get('small.frame→segment.frame');
  t.truthy(e, [...r.metrics.edges.keys()].join(', '));
  t.is(e!.policy.policy, 'freshest');
  t.true(e!.drops > 0, `the model is slower than decoding: ${e!.drops} dropped`);
  t.is(e!.delivered + e!.drops, 30, 'every frame delivered or dropped, in the thread');
  t.is(JSON.parse(readFileSync(stats, 'utf8')).frames, 30 - e!.drops);
});

test.serial('executor › a kept thread: a graph failing (outside the executor) while the network runs does not fail the next graph with its leftovers', async (t) => {
  // A folder job (src/apps/process.ts) keeps the executor's thread between files: the first file fails
  // on the main thread while a frame is in the network; the network's late answer (its session
  // closed) belonged to that file, never to the next file run in the same thread.
  const dir = tmpDir('segflow-executor-pool-');
  const graph = (name: string, frames: number) => parseGraph(`version: 1
nodes:
  decode:  { type: decoder, options: { path: "${SAMPLE}", maxFrames: ${frames} } }
  small:   { type: downsampler, options: { width: 480, height: 272 }, in: { frame: decode.frame } }
  keys:    { type: keyframe-scheduler, executor: a, options: { keyframeIntervalFrames: 1, nonKeyFrames: propagate }, in: { frame: small.frame } }
  segment: { type: two-branch-segmenter, executor: a, options: { threads: 1 }, in: { frame: keys.frame } }
  carry:   { type: label-propagation, executor: a, in: { frame: keys.frame, labels: segment.labels } }
  masks:   { type: label-map-sink, options: { dir: "${path.join(dir, name)}" }, in: { labels: carry.labels } }
`, 'g.yaml', registry);
  const end = poolExecutors();
  try {
    // The first graph's label maps are written into <name>.partial: replaced by a file after a few, its sink fails.
    const partial = path.join(dir, 'first.partial');
    const breaker = setInterval(() => {
      if (existsSync(partial) && statSync(partial).isDirectory() && readdirSync(partial).length >= 5) {
        rmSync(partial, { recursive: true, force: true });
        writeFileSync(partial, 'not a folder');
        clearInterval(breaker);
      }
    }, 20);
    await t.throwsAsync(runGraph(graph('first', 100), { log: () => {} }), { message: /ENOTDIR|ENOENT/ });
    clearInterval(breaker);
    t.is(idleExecutorThreads(), 1, 'the thread is kept for the next graph');
    await runGraph(graph('second', 12), { log: () => {} });
    t.is(readdirSync(path.join(dir, 'second')).filter((f) => f.endsWith('.png')).length, 12);
  } finally {
    await end();
  }
  t.is(idleExecutorThreads(), 0);
});

test.serial('executor › a graph whose input fails while frames are in the thread ends the thread, never terminates it (a terminate during an ONNX Runtime run aborted the process, exit 134)', async (t) => {
  const { testClip, truncateCopy } = await import('./helpers/videos.ts');
  const { Worker } = await import('node:worker_threads');
  const dir = tmpDir('segflow-executor-fail-');
  // A Matroska file cut at 60 %: frames decode, then the decoder fails ("truncated or corrupt").
  await testClip(path.join(dir, 'src.mkv'), { frames: 40, width: 320, height: 240 });
  const input = path.join(dir, 'cut.mkv');
  truncateCopy(path.join(dir, 'src.mkv'), input, 0.6);
  const def = parseGraph(`version: 1
nodes:
  decode:  { type: decoder, options: { path: "${input}" } }
  small:   { type: downsampler, options: { width: 480, height: 272 }, in: { frame: decode.frame } }
  keys:    { type: keyframe-scheduler, executor: a, options: { keyframeIntervalFrames: 1, nonKeyFrames: propagate }, in: { frame: small.frame } }
  segment: { type: two-branch-segmenter, executor: a, options: { threads: 1 }, in: { frame: keys.frame } }
  carry:   { type: label-propagation, executor: a, in: { frame: keys.frame, labels: segment.labels } }
  stats:   { type: statistics-sink, options: { json: "${path.join(dir, 'stats.json')}" }, in: { labels: carry.labels } }
`, 'g.yaml', registry);
  const terminate = Worker.prototype.terminate;
  let terminated = 0;
  Worker.prototype.terminate = function (this: InstanceType<typeof Worker>) {
    terminated++;
    return terminate.call(this);
  };
  try {
    await t.throwsAsync(runGraph(def, { log: () => {} }), { message: /truncated or corrupt/ });
  } finally {
    Worker.prototype.terminate = terminate;
  }
  t.is(terminated, 0, 'the failed run\'s thread was asked to end (its nodes closed), not terminated');
});
