/**
 * The source layout (issue 14 §4), checked from the import graph of src/ and
 * nodes/: every `import … from`, `export … from`, `import '…'` and `import()`
 * with a literal, type-only ones included, as TypeScript's own scanner reads
 * them (comments and strings are not imports).
 *
 * - src/ never imports nodes/: the apps get the node types by injection; the
 *   composition roots (index.ts, operators.ts, cli.ts at the package root)
 *   wire nodes/ in, and nothing in src/ or nodes/ imports them.
 * - no import cycles (the failure names the cycle).
 * - every file in src/ lives in a layer folder, and a layer imports only from
 *   itself and the layers LAYERS allows it.
 * - every node module nodes/<name>.ts has its test, test/<name>.test.ts.
 */
import test from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { ROOT } from './helpers/cli.ts';

/**
 * Layer → the layers it may import from (besides itself). Lower layers know
 * nothing of higher ones: core is the node API, packets and the runtime;
 * kernels are pixel loops; codecs are wire and file formats; media is ffmpeg
 * and output files; segmentation is the model, temporal reuse and its thread;
 * net is transport (WebSocket server, ZeroMQ dispatcher and CURVE, metrics
 * server); apps are the commands (CLI, process, scale-out over ZeroMQ, queue,
 * eval).
 */
const LAYERS: Record<string, readonly string[]> = {
  core: [],
  kernels: ['core'],
  codecs: ['core'],
  media: ['core', 'kernels'],
  segmentation: ['core', 'kernels'],
  net: ['core', 'codecs'],
  apps: ['core', 'kernels', 'codecs', 'media', 'segmentation', 'net'],
};
/** nodes/ builds on every layer but the apps (which get the nodes injected, never import them). */
const NODES_MAY_IMPORT: readonly string[] = ['core', 'kernels', 'codecs', 'media', 'segmentation', 'net'];
/** Files allowed at the top of src/ (none: the entry files are at the package root). */
const SRC_TOP_LEVEL: readonly string[] = [];
/** nodes/ files that are not node modules (so need no test of their own). */
const NOT_NODES = ['index.ts'];

const CODE = /\.(ts|mts|mjs|js)$/;

function walk(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const p = `${dir}/${e.name}`;
    return e.isDirectory() ? walk(p) : CODE.test(e.name) && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** Repository-relative file → the repository-relative files it imports (relative specifiers only). */
function importGraph(files: readonly string[], read: (f: string) => string = (f) => readFileSync(path.join(ROOT, f), 'utf8')): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const f of files) {
    const info = ts.preProcessFile(read(f), true, true);
    const deps = info.importedFiles.map((i) => i.fileName).filter((s) => s.startsWith('./') || s.startsWith('../'))
      .map((s) => path.posix.normalize(path.posix.join(path.posix.dirname(f), s)));
    graph.set(f, [...new Set(deps)]);
  }
  return graph;
}

/** One cycle of the graph as a path that ends where it starts, or undefined. */
function findCycle(graph: ReadonlyMap<string, readonly string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string): string[] | undefined => {
    const s = state.get(f);
    if (s === 'done') return undefined;
    if (s === 'open') return [...stack.slice(stack.indexOf(f)), f];
    state.set(f, 'open');
    stack.push(f);
    for (const d of graph.get(f) ?? []) {
      const c = visit(d);
      if (c) return c;
    }
    stack.pop();
    state.set(f, 'done');
    return undefined;
  };
  for (const f of [...graph.keys()].sort()) {
    const c = visit(f);
    if (c) return c;
  }
  return undefined;
}

/** The layer of a src/ file (its first folder; `nodes` for nodes/), or undefined for one at the top of src/. */
function layerOf(f: string): string | undefined {
  const parts = f.split('/');
  if (parts[0] === 'nodes') return 'nodes';
  return parts[0] === 'src' && parts.length > 2 ? parts[1] : undefined;
}

/** Imports that break the layer table, as `from → to (layer a may not import layer b)`. */
function layerViolations(graph: ReadonlyMap<string, readonly string[]>, layers: Record<string, readonly string[]> = { ...LAYERS, nodes: NODES_MAY_IMPORT }): string[] {
  const out: string[] = [];
  for (const [f, deps] of graph) {
    const from = layerOf(f);
    if (from === undefined || !(from in layers)) continue;
    for (const d of deps) {
      const to = layerOf(d);
      if (to === undefined || to === from || !d.startsWith('src/')) continue;
      if (!layers[from]!.includes(to)) out.push(`${f} → ${d} (${from} may not import ${to})`);
    }
  }
  return out;
}

const sources = [...walk('src'), ...walk('nodes').filter((f) => f.endsWith('.ts'))];
const graph = importGraph(sources);

test('layout › the graph is read: every relative import resolves to a file', (t) => {
  t.true(sources.length > 50, `src/ and nodes/ hold ${sources.length} files`);
  const missing = [...graph].flatMap(([f, deps]) => deps.filter((d) => !existsSync(path.join(ROOT, d))).map((d) => `${f} → ${d}`));
  t.deepEqual(missing, [], 'imports that name no file');
  t.true(graph.get('nodes/index.ts')!.includes('nodes/decoder.ts'), 'static imports are seen');
  t.true(graph.get('src/apps/cli.ts')!.includes('src/core/graph/runner.ts'), 'import() with a literal is seen');
});

test('layout › nothing in src/ imports nodes/', (t) => {
  const bad = [...graph].flatMap(([f, deps]) => (f.startsWith('src/') ? deps.filter((d) => d.startsWith('nodes/')).map((d) => `${f} → ${d}`) : []));
  t.deepEqual(bad, [], 'src/ files importing nodes/ (inject the registry instead; wire it in a composition root outside src/)');
});

test('layout › the composition roots (index.ts, operators.ts, cli.ts) are imported by nothing in src/ or nodes/', (t) => {
  const roots = ['index.ts', 'operators.ts', 'cli.ts'];
  t.true(roots.every((f) => existsSync(path.join(ROOT, f))));
  const bad = [...graph].flatMap(([f, deps]) => deps.filter((d) => roots.includes(d)).map((d) => `${f} → ${d}`));
  t.deepEqual(bad, []);
});

test('layout › no import cycles in src/ and nodes/', (t) => {
  const cycle = findCycle(graph);
  t.is(cycle, undefined, `import cycle: ${cycle?.join(' → ')}`);
});

test('layout › every file in src/ is in a layer folder', (t) => {
  const loose = sources.filter((f) => f.startsWith('src/') && layerOf(f) === undefined && !SRC_TOP_LEVEL.includes(f));
  t.deepEqual(loose, [], `files at the top of src/ (expected only ${SRC_TOP_LEVEL.join(', ') || 'none'})`);
  const folders = new Set(sources.filter((f) => f.startsWith('src/')).map(layerOf).filter((l) => l !== undefined));
  t.deepEqual([...folders].filter((l) => !(l in LAYERS)), [], `folders of src/ that are not layers (${Object.keys(LAYERS).join(', ')})`);
});

test('layout › each layer imports only from the layers below it; nodes/ from every layer but apps', (t) => {
  t.deepEqual(layerViolations(graph), []);
});

test('layout › the layer table is itself acyclic', (t) => {
  const table = new Map(Object.entries(LAYERS).map(([k, v]) => [k, [...v]]));
  t.is(findCycle(table), undefined);
});

test('layout › the checks fail on a bad graph (cycle path, layer breach, src → nodes)', (t) => {
  const files: Record<string, string> = {
    'src/core/a.ts': "import { b } from './b.ts';\n// import { x } from '../../nodes/x.ts'; (a comment is not an import)\n",
    'src/core/b.ts': "export type { C } from '../apps/c.ts';\n",
    'src/apps/c.ts': "const a = await import('../core/a.ts');\nimport '../../nodes/x.ts';\n",
  };
  const g = importGraph(Object.keys(files), (f) => files[f]!);
  t.deepEqual(findCycle(g), ['src/apps/c.ts', 'src/core/a.ts', 'src/core/b.ts', 'src/apps/c.ts']);
  t.deepEqual(layerViolations(g), ['src/core/b.ts → src/apps/c.ts (core may not import apps)']);
  t.deepEqual(layerViolations(new Map([['nodes/y.ts', ['src/apps/c.ts', 'src/core/a.ts']]])), ['nodes/y.ts → src/apps/c.ts (nodes may not import apps)']);
  t.deepEqual(g.get('src/apps/c.ts'), ['src/core/a.ts', 'nodes/x.ts']);
  t.deepEqual(g.get('src/core/a.ts'), ['src/core/b.ts']);
});

test('layout › every node module nodes/<name>.ts has its test, test/<name>.test.ts', (t) => {
  const nodes = readdirSync(path.join(ROOT, 'nodes')).filter((f) => f.endsWith('.ts') && !NOT_NODES.includes(f));
  t.true(nodes.length >= 10, `${nodes.length} node modules`);
  const untested = nodes.filter((f) => !existsSync(path.join(ROOT, 'test', f.replace(/\.ts$/, '.test.ts'))));
  t.deepEqual(untested, [], 'node modules without test/<name>.test.ts');
});
