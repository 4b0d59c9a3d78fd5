/**
 * Builds the package into dist/: what `bin/segflow.js`, `import 'segflow'` and
 * the segmenter's worker thread run, with no TypeScript loader at run time.
 *
 *   node scripts/build.mjs        # (npm run build; `prepare` and `prepack` run it)
 *
 * 1. tsc -p tsconfig.build.json: the entry files (index.ts, operators.ts, cli.ts:
 *    the composition roots that wire nodes/ into src/) → dist/, src/ and nodes/
 *    → dist/src/, dist/nodes/
 *    (JavaScript with inline-source maps, .d.ts), `./x.ts` imports rewritten
 *    to `./x.js` (rewriteRelativeImportExtensions; declarations too, below).
 * 2. the files the code reads beside itself (the WebSocket viewer's page).
 * 3. the segmenter thread: esbuild bundles dist/src/segmentation/thread/segmenter-thread.js
 *    into dist/src/segmentation/thread/bundle/ (one file for the thread to load, ~10x
 *    fewer module loads at each thread start), and dist/src/segmentation/thread/boot.mjs
 *    starts the thread from it.
 * 4. dist/nodes/catalog.json: every node's ports and options, for `segflow nodes`.
 * 5. dist/build-inputs.json: size and time of every source compiled, so a
 *    checkout's bin/segflow.js can tell whether dist/ is fresh (see there).
 */
import { spawnSync } from 'node:child_process';
import { isBuiltin } from 'node:module';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIST = path.join(ROOT, 'dist');
/** Non-TypeScript files the runtime reads relative to its own module. */
const ASSETS = ['src/net/ws/viewer.html', 'src/net/ws/viewer.js'];
/** The package's entry files at the root (composition roots: src/ never imports nodes/, these wire them). */
const ENTRIES = ['index.ts', 'operators.ts', 'cli.ts'];

function walk(dir, out = []) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

/** The build's inputs as recorded in dist/build-inputs.json. */
export function sources(root = ROOT) {
  return [...ENTRIES.map((f) => path.join(root, f)), ...['src', 'nodes'].flatMap((d) => walk(path.join(root, d)))]
    .filter((f) => f.endsWith('.ts') || ASSETS.includes(path.relative(root, f)) || f.endsWith('.mjs'))
    .map((f) => path.relative(root, f).split(path.sep).join('/'))
    .sort();
}

/** True when dist/ was built from exactly the sources now in the checkout (same files, sizes and times). */
export function distFresh(root = ROOT) {
  let meta;
  try {
    meta = JSON.parse(readFileSync(path.join(root, 'dist', 'build-inputs.json'), 'utf8'));
  } catch {
    return false;
  }
  const now = sources(root);
  if (now.length !== meta.inputs.length) return false;
  for (const [i, p] of now.entries()) {
    const rec = meta.inputs[i];
    if (rec.path !== p) return false;
    const st = statSync(path.join(root, p));
    if (st.mtimeMs !== rec.mtimeMs || st.size !== rec.size) return false;
  }
  return true;
}

export async function build({ log = console.log } = {}) {
  const t0 = performance.now();
  // Stat before compiling: a file saved during the build makes dist/ stale, never wrongly fresh.
  const inputs = sources().map((p) => {
    const st = statSync(path.join(ROOT, p));
    return { path: p, mtimeMs: st.mtimeMs, size: st.size };
  });
  // The freshness record goes first: a checkout's bin/segflow.js then uses tsx until this build is complete.
  for (const d of ['build-inputs.json', 'src', 'nodes', ...ENTRIES.flatMap((e) => ['.js', '.d.ts', '.js.map'].map((x) => e.replace(/\.ts$/, x)))]) rmSync(path.join(DIST, d), { recursive: true, force: true });
  const tsc = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit' });
  if (tsc.status !== 0) throw new Error(`tsc -p tsconfig.build.json failed (exit ${tsc.status})`);
  // TypeScript rewrites `./x.ts` in JavaScript only; declarations keep `.ts`, which a
  // consumer's compiler rejects (TS5097) unless it allows .ts imports. Rewrite them too.
  for (const f of walk(DIST).filter((f) => f.endsWith('.d.ts') && !f.includes(`${path.sep}thread${path.sep}bundle`))) {
    const s = readFileSync(f, 'utf8');
    const t = s.replace(/((?:from|import)\s*\(?\s*['"])(\.{1,2}\/[^'"]*?)\.ts(['"])/g, '$1$2.js$3');
    if (t !== s) writeFileSync(f, t);
  }
  for (const a of ASSETS) cpSync(path.join(ROOT, a), path.join(DIST, a));
  // The thread: one bundle built from the compiled JavaScript; packages stay external.
  const esbuild = await import('esbuild');
  const threadDir = path.join(DIST, 'src', 'segmentation', 'thread');
  await esbuild.build({
    entryPoints: { 'segmenter-thread': path.join(threadDir, 'segmenter-thread.js') },
    outdir: path.join(threadDir, 'bundle'),
    outExtension: { '.js': '.mjs' },
    splitting: true, // dynamic imports (the TF.js engine) stay lazy, in chunks of their own
    chunkNames: '[name]-[hash]',
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    logLevel: 'warning',
  });
  writeFileSync(path.join(threadDir, 'boot.mjs'), `// Worker-thread entry in the built package (scripts/build.mjs writes it): the thread's bundle.
globalThis.segflowThreadBoot = 'bundle';
await import('./bundle/segmenter-thread.mjs');
`);
  await bundleCommand();
  // The node catalog `segflow nodes` prints without loading the runtime (src/core/node-catalog.ts).
  const { describeNodes } = await import(new URL('../dist/src/core/node-catalog.js', import.meta.url).href);
  const { nodeSpecs } = await import(new URL('../dist/nodes/index.js', import.meta.url).href);
  writeFileSync(path.join(DIST, 'nodes', 'catalog.json'), JSON.stringify(await describeNodes(nodeSpecs), null, 1) + '\n');
  writeFileSync(path.join(DIST, 'build-inputs.json'), JSON.stringify({ inputs }, null, 1));
  log(`built dist/ from ${inputs.length} sources in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

/** Packages compiled into the command's bundle (plain JavaScript, loaded by every run); the others stay in node_modules. */
const INLINE = new Set(['rxjs', 'tslib', 'zod', 'yaml']);

/**
 * The command line and its worker threads as bundles (dist/src/bundle/, what bin/segflow.js runs):
 * a thread's start then loads a few files instead of ~400 modules — RxJS alone is 223 CommonJS
 * files, each resolved, read and compiled — which cost ~0.1–0.25 s of CPU per thread (main, the
 * executor's, the segmenter's) on every run. Built from the compiled JavaScript (step 1), with
 * `SEGFLOW_BUNDLE` defined (src/core/package-root.ts: BUNDLED). One folder holds every entry and the
 * chunks they share, so a module's `new URL('./x', import.meta.url)` finds the bundle's x:
 * cli.js, executor-thread.js, segmenter-thread.js (+ boot.mjs), nodes.js (the registry) and one
 * entry per node type (an executor's thread imports only its nodes' types), viewer.html/.js, and
 * ../../nodes/catalog.json (dist/nodes/) as from dist/src/apps/. Dynamic imports stay lazy in
 * chunks of their own (packages a node needs load when it opens, as in the compiled modules).
 * RxJS (its ES module build, so unused operators are dropped, with tslib), zod and yaml are compiled in;
 * native and heavy packages stay external.
 */
async function bundleCommand() {
  const esbuild = await import('esbuild');
  const out = path.join(DIST, 'src', 'bundle');
  rmSync(out, { recursive: true, force: true });
  const nodes = readdirSync(path.join(DIST, 'nodes')).filter((f) => f.endsWith('.js') && f !== 'index.js');
  await esbuild.build({
    entryPoints: {
      cli: path.join(DIST, 'cli.js'),
      'executor-thread': path.join(DIST, 'src', 'core', 'executor-thread.js'),
      'segmenter-thread': path.join(DIST, 'src', 'segmentation', 'thread', 'segmenter-thread.js'),
      nodes: path.join(DIST, 'nodes', 'index.js'),
      ...Object.fromEntries(nodes.map((f) => [f.replace(/\.js$/, ''), path.join(DIST, 'nodes', f)])),
    },
    outdir: out,
    splitting: true,
    chunkNames: 'chunk-[hash]',
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    define: { SEGFLOW_BUNDLE: 'true' },
    sourcemap: 'linked',
    logLevel: 'warning',
    plugins: [{
      name: 'segflow-externals',
      setup(b) {
        // A CommonJS package compiled in (yaml) requires Node's modules ('process', 'buffer'), which an ES module
        // cannot require: it gets the module's namespace, imported.
        b.onResolve({ filter: /^[^./]/ }, (a) => (a.kind === 'require-call' && isBuiltin(a.path) ? { path: a.path.replace(/^node:/, ''), namespace: 'segflow-builtin' } : undefined));
        b.onLoad({ filter: /.*/, namespace: 'segflow-builtin' }, (a) => ({ contents: `export * from 'node:${a.path}';`, loader: 'js' }));
        // zod's `locales` namespace (every language's messages: ~360 KB of the ~760 KB zod puts in the bundle, compiled
        // by every thread at start-up) is left out: segflow uses zod's default, English, which its schemas import
        // themselves (../locales/en.js). Measured: -55 ms of CPU for a run's start-up (2 threads load zod).
        b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (a) => (/[\\/]zod[\\/]/.test(a.importer) ? { path: 'zod-locales', namespace: 'segflow-zod-locales' } : undefined));
        b.onLoad({ filter: /.*/, namespace: 'segflow-zod-locales' }, () => ({ contents: "export { default as en } from 'zod/v4/locales/en.js';", loader: 'js', resolveDir: ROOT }));
        b.onResolve({ filter: /^[^./]/ }, (a) => {
          if (a.path.startsWith('node:')) return { external: true };
          const pkg = a.path.split('/').slice(0, a.path.startsWith('@') ? 2 : 1).join('/');
          if (!INLINE.has(pkg)) return { external: true };
          // RxJS's `node` export is its CommonJS build; the ES module build tree-shakes.
          if (a.path === 'rxjs') return { path: path.join(ROOT, 'node_modules', 'rxjs', 'dist', 'esm', 'index.js') };
          return undefined;
        });
      },
    }],
  });
  writeFileSync(path.join(out, 'boot.mjs'), `// The segmenter's worker-thread entry in the bundled command (scripts/build.mjs writes it).
globalThis.segflowThreadBoot = 'bundle';
await import('./segmenter-thread.js');
`);
  for (const a of ASSETS.filter((a) => a.startsWith('src/net/ws/'))) cpSync(path.join(ROOT, a), path.join(out, path.basename(a)));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    await build();
  } catch (e) {
    console.error(`segflow build: ${e instanceof Error ? e.message : e}`);
    process.exit(1);
  }
}
