/**
 * The published package, used as a stranger would: `npm pack` (which runs the
 * build), the tarball installed into a fresh project (its .npmrc as the README
 * tells users: onnxruntime's CUDA download skipped), then plain `node` imports
 * it, a TypeScript consumer type-checks against its declarations, `npx segflow`
 * runs, and the README's library example runs as written.
 *
 * The install resolves dependencies from the npm cache where it can
 * (`--prefer-offline`) and the registry otherwise; SEGFLOW_SKIP_PACKAGE_TEST=1
 * skips this file (one line says so), e.g. on a machine with no registry.
 */
import { execFile, type ExecFileOptions } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ava from 'ava';
import { nodeSpecs } from '../nodes/index.ts';
import { describeNodes } from '../src/core/node-catalog.ts';
import { ROOT, SAMPLE, tmpDir, videoFacts } from './helpers/cli.ts';

const skip = process.env.SEGFLOW_SKIP_PACKAGE_TEST ? 'SEGFLOW_SKIP_PACKAGE_TEST is set' : undefined;
if (skip) console.log(`package.test.ts: skipped (${skip})`);
const test = skip ? ava.skip : ava.serial;

interface Run { code: number | null; stdout: string; stderr: string }
function run(cmd: string, args: string[], opts: ExecFileOptions = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 240_000, maxBuffer: 64 << 20, ...opts, env: { ...process.env, npm_config_update_notifier: 'false', ...opts.env } }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number | string }) | null;
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : -1) : 0, stdout: String(stdout), stderr: String(stderr) || (e && typeof e.code !== 'number' ? e.message : '') });
    });
  });
}
const npm = (args: string[], cwd: string) => run('npm', args, { cwd });

let app = '';
let tarball = '';

ava.before(async (t) => {
  if (skip) return;
  const dir = tmpDir('segflow-pack-');
  // npm pack runs `prepare`: the build (tsc, the thread bundle, the node catalog). It runs in a copy
  // of the checkout, so this checkout's dist/ is never half-rebuilt under other tests' feet.
  const copy = path.join(dir, 'segflow');
  const skipTop = new Set(['node_modules', 'dist', '.git', 'out', 'o', '.gpu', 'tmp', 'training']);
  cpSync(ROOT, copy, { recursive: true, filter: (f) => !skipTop.has(path.relative(ROOT, f).split(path.sep)[0]!) });
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(copy, 'node_modules'), 'dir');
  const pack = await npm(['pack', '--json', '--pack-destination', dir], copy);
  if (pack.code !== 0) throw new Error(`npm pack failed: ${pack.stderr.slice(-2000)}`);
  const info = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = path.join(dir, info[0]!.filename);
  t.log(`packed ${path.basename(tarball)}: ${info[0]!.files.length} files`);
  app = path.join(dir, 'app');
  mkdirSync(app);
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }, null, 2));
  writeFileSync(path.join(app, '.npmrc'), 'onnxruntime-node-install=skip\n');
  const inst = await npm(['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], app);
  if (inst.code !== 0) throw new Error(`npm install of the tarball failed: ${inst.stderr.slice(-2000)}`);
});

ava.after.always(() => {
  if (app) rmSync(path.dirname(app), { recursive: true, force: true });
});

test('package › the tarball holds the build and no sources or tests', async (t) => {
  const files = readdirSync(path.join(app, 'node_modules', 'segflow'), { recursive: true }).map(String);
  for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/index.js.map', 'dist/operators.js', 'dist/cli.js', 'dist/nodes/index.js', 'dist/nodes/catalog.json', 'dist/src/segmentation/thread/boot.mjs', 'dist/src/segmentation/thread/bundle/segmenter-thread.mjs', 'dist/src/net/ws/viewer.html', 'models/fast-scnn-camvid/manifest.json', 'graphs/dashcam-offline.yaml', 'LICENSE']) {
    t.true(files.includes(f), `${f} is in the package`);
  }
  t.false(files.some((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')), 'no TypeScript sources');
  t.false(files.some((f) => f.startsWith('test')), 'no tests');
  const pkg = JSON.parse(readFileSync(path.join(app, 'node_modules', 'segflow', 'package.json'), 'utf8'));
  t.false('tsx' in pkg.dependencies, 'tsx is not a run-time dependency');
  t.false('esbuild' in pkg.dependencies, 'esbuild is not a run-time dependency');
  t.false(existsSync(path.join(app, 'node_modules', 'tsx')), 'tsx is not installed for a consumer');
  // The catalog `segflow nodes` prints is what the sources' schemas say.
  const catalog = JSON.parse(readFileSync(path.join(app, 'node_modules', 'segflow', 'dist', 'nodes', 'catalog.json'), 'utf8'));
  t.deepEqual(catalog, JSON.parse(JSON.stringify(await describeNodes(nodeSpecs))));
});

test('package › plain node imports segflow, segflow/nodes and segflow/operators (ESM)', async (t) => {
  const r = await run(process.execPath, ['--input-type=module', '-e', `
    const a = await import('segflow'); const b = await import('segflow/nodes'); const c = await import('segflow/operators');
    console.log(JSON.stringify({ runGraph: typeof a.runGraph, loadGraphFile: typeof a.loadGraphFile, decode: typeof a.decode, nodes: b.nodeSpecs.map((s) => s.type), segment: typeof c.segment }));`], { cwd: app });
  t.is(r.code, 0, r.stderr);
  const o = JSON.parse(r.stdout);
  t.is(o.runGraph, 'function');
  t.is(o.loadGraphFile, 'function');
  t.is(o.decode, 'function');
  t.is(o.segment, 'function');
  t.true(o.nodes.includes('two-branch-segmenter') && o.nodes.includes('zmq-sink'));
});

test("package › import 'segflow' loads no zeromq, ws, onnxruntime or TF.js until a node needs them", async (t) => {
  // A resolve hook writes down every module resolved; the zmq-sink opened last must bring zeromq in.
  writeFileSync(path.join(app, 'trace-hook.mjs'), `import { appendFileSync } from 'node:fs';
export async function resolve(spec, ctx, next) { const r = await next(spec, ctx); appendFileSync(process.env.TRACE, r.url + '\\n'); return r; }\n`);
  writeFileSync(path.join(app, 'trace-register.mjs'), "import { register } from 'node:module';\nregister(new URL('./trace-hook.mjs', import.meta.url));\n");
  const trace = path.join(app, 'trace.txt');
  const script = `import { readFileSync, writeFileSync } from 'node:fs';
const s = await import('segflow');
const mark = readFileSync(process.env.TRACE, 'utf8').split('\\n').length;
const spec = s.registry.get('zmq-sink');
const ctx = s.createNodeContext(spec, { name: 'z', options: spec.options.parse({ endpoint: 'tcp://127.0.0.1:0', bind: true }) });
const inst = await spec.open(ctx);
await inst.close();
console.log(mark);`;
  writeFileSync(path.join(app, 'lazy.mjs'), script);
  const r = await run(process.execPath, ['--import', './trace-register.mjs', 'lazy.mjs'], { cwd: app, env: { TRACE: trace } });
  t.is(r.code, 0, r.stderr);
  const lines = readFileSync(trace, 'utf8').split('\n');
  const mark = Number(r.stdout.trim());
  const atImport = lines.slice(0, mark - 1);
  t.true(atImport.some((u) => u.includes('/node_modules/segflow/dist/index.js')), 'the trace saw segflow load');
  for (const heavy of ['/node_modules/zeromq/', '/node_modules/ws/', '/node_modules/onnxruntime-node/', '/node_modules/onnxruntime-common/', '/node_modules/@tensorflow/', '/node_modules/bullmq/', '/node_modules/ioredis/']) {
    t.false(atImport.some((u) => u.includes(heavy)), `${heavy} is not loaded by import 'segflow'`);
  }
  t.true(lines.slice(mark - 1).some((u) => u.includes('/node_modules/zeromq/')), 'opening a zmq-sink loads zeromq');
});

test('package › a TypeScript consumer type-checks against the declarations (NodeNext, skipLibCheck false, no @types/node)', async (t) => {
  writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false, noEmit: true, types: [] }, include: ['consumer.ts'] }));
  writeFileSync(path.join(app, 'consumer.ts'), `import { loadGraphFile, runGraph, registry, decode, downsample, segment, overlay, encode, Metrics, GraphError, subscribe, type GraphDef, type NodeSpec, type RunResult, type MaskFrame } from 'segflow';
import { nodeSpecs, twoBranchSegmenter } from 'segflow/nodes';
import { segment as segmentOp } from 'segflow/operators';
const def: GraphDef = loadGraphFile('graph.yaml', registry, { sets: ['segment.threads=1'] });
const specs: readonly NodeSpec[] = nodeSpecs;
const result: Promise<RunResult> = runGraph(def, { metrics: new Metrics() });
const ops = [decode, downsample, segment, overlay, encode, segmentOp];
const e: Error = new GraphError('x', 'graph.yaml');
// @ts-expect-error the options are typed: keyframeIntervalFrames is a number
segment({ keyframeIntervalFrames: 'five' });
const masks: AsyncIterable<MaskFrame> = subscribe('ws://127.0.0.1:8090/ws?stream=cam0', { token: 't' });
void [specs, result, ops, e, twoBranchSegmenter, masks];
`);
  const r = await run(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', app], { cwd: app });
  t.is(r.code, 0, `tsc errors:\n${r.stdout}${r.stderr}`);
});

test('package › npx segflow --version, nodes NAME and --help from the installed package', async (t) => {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const v = await run('npx', ['--no-install', 'segflow', '--version'], { cwd: app });
  t.is(v.code, 0, v.stderr);
  t.is(v.stdout.trim(), pkg.version);
  const n = await run('npx', ['--no-install', 'segflow', 'nodes', 'encoder'], { cwd: app });
  t.is(n.code, 0, n.stderr);
  t.regex(n.stdout, /crf\s+integer, default 23, 0\.\.51/);
  const h = await run('npx', ['--no-install', 'segflow', 'run', '--help'], { cwd: app });
  t.is(h.code, 0, h.stderr);
  t.regex(h.stdout, /^usage: segflow run/);
  t.false(existsSync(path.join(app, 'out')), '--help ran nothing');
});

test('package › npx segflow runs a small graph; the segmenter thread starts from the bundle in dist/', async (t) => {
  const out = path.join(app, 'out-graph');
  const r = await run('npx', ['--no-install', 'segflow', 'run', 'node_modules/segflow/graphs/dashcam-offline.yaml', '--var', 'input=node_modules/segflow/samples/synthetic-road.mp4', '--var', `out=${out}`, '--set', 'decode.maxFrames=12', '--set', 'segment.threads=1'], { cwd: app });
  t.is(r.code, 0, r.stderr);
  // The default graph runs the segmenter in its executor's thread (src/core/executor.ts), started from dist/'s JavaScript.
  t.regex(r.stderr, /worker thread, started from its bundle|in executor segmentation's thread, started from compiled JavaScript/);
  t.regex(r.stdout, /done: 12 frames/);
  t.regex(r.stdout, new RegExp(`outputs:[\\s\\S]*video\\s+${out.replace(/[/.]/g, '\\$&')}/overlay\\.mp4`));
  t.is((await videoFacts(path.join(out, 'overlay.mp4'))).frames, 12);
});

test('package › the README library example runs as written with plain node', async (t) => {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const m = /<!-- example:library -->\s*```ts\n([\s\S]*?)```/.exec(readme);
  t.truthy(m, 'README has the library example block');
  // The example reads samples/synthetic-road.mp4 and writes out/library.mp4, relative to where it runs.
  mkdirSync(path.join(app, 'samples'), { recursive: true });
  copyFileSync(SAMPLE, path.join(app, 'samples', 'synthetic-road.mp4'));
  writeFileSync(path.join(app, 'example.mjs'), m![1]!);
  const r = await run(process.execPath, ['example.mjs'], { cwd: app });
  t.is(r.code, 0, r.stderr);
  const v = await videoFacts(path.join(app, 'out', 'library.mp4'));
  t.is(v.frames, 100, 'every frame of the 100-frame sample');
});
