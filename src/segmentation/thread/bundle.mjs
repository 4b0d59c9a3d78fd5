/**
 * The segmenter thread's sources bundled into one plain-JS file, so a thread
 * starts without a TypeScript loader: tsx's loader hooks cost ~115 ms (up to
 * ~250 ms on a busy machine) at every thread start, on the critical path of a
 * graph's opening. `npm install` builds it (the `prepare` script); boot.mjs
 * runs it only while it is fresh — every source file it was built from still
 * has the size and modification time recorded — and falls back to tsx
 * otherwise, so editing a source never runs stale code.
 *
 *   node src/segmentation/thread/bundle.mjs   # build dist/thread/segmenter-thread.mjs
 *
 * The bundle sits two folders below the repository root, as its sources do
 * (src/engine/model.ts finds models/ relative to itself). Packages stay
 * external (loaded from node_modules as usual), and dynamic imports stay
 * lazy in chunks of their own.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const OUT_DIR = path.join(ROOT, 'dist', 'thread');

/** A bundle's file URL when it exists and matches its sources; otherwise undefined. */
export function freshBundle(name, dir = OUT_DIR, root = ROOT) {
  let meta;
  try {
    meta = JSON.parse(readFileSync(path.join(dir, `${name}.inputs.json`), 'utf8'));
  } catch {
    return undefined;
  }
  if (!Array.isArray(meta.inputs) || meta.inputs.length === 0) return undefined;
  for (const i of meta.inputs) {
    let st;
    try {
      st = statSync(path.join(root, i.path));
    } catch {
      return undefined;
    }
    if (st.mtimeMs !== i.mtimeMs || st.size !== i.size) return undefined;
  }
  const file = path.join(dir, `${name}.mjs`);
  try {
    statSync(file);
  } catch {
    return undefined;
  }
  return pathToFileURL(file).href;
}

/** Bundle `entry` (relative to the root) into `dir`/`name`.mjs and record its inputs. */
export async function build(entry = 'src/segmentation/thread/segmenter-thread.ts', name = 'segmenter-thread', dir = OUT_DIR, root = ROOT) {
  const esbuild = await import('esbuild');
  mkdirSync(dir, { recursive: true });
  const outfile = path.join(dir, `${name}.mjs`);
  const r = await esbuild.build({
    entryPoints: { [name]: path.join(root, entry) },
    outdir: dir,
    outExtension: { '.js': '.mjs' },
    // Dynamic imports stay lazy (the TF.js engine and its packages load only when asked for).
    splitting: true,
    chunkNames: '[name]-[hash]', // beside the entry: same depth below the root as the sources
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    metafile: true,
    write: false,
    logLevel: 'warning',
    absWorkingDir: root,
  });
  // Chunks first (content-hashed names), the entry last and atomically.
  const files = [...r.outputFiles].sort((a, b) => Number(a.path === outfile) - Number(b.path === outfile));
  for (const f of files) {
    mkdirSync(path.dirname(f.path), { recursive: true });
    writeFileSync(f.path + '.tmp', f.contents);
    renameSync(f.path + '.tmp', f.path);
  }
  // Chunks of earlier builds go (their names carry a content hash).
  const keep = new Set(r.outputFiles.map((f) => path.basename(f.path)));
  for (const f of readdirSync(dir)) if (f.endsWith('.mjs') && !keep.has(f) && f !== `${name}.mjs`) rmSync(path.join(dir, f), { force: true });
  // Stat the sources after building: a file saved during the build makes the bundle stale, not wrong.
  const inputs = Object.keys(r.metafile.inputs).map((p) => {
    const st = statSync(path.join(root, p));
    return { path: p, mtimeMs: st.mtimeMs, size: st.size };
  });
  writeFileSync(path.join(dir, `${name}.inputs.json`), JSON.stringify({ entry, inputs }, null, 1));
  return { file: outfile, inputs: inputs.length };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const r = await build();
    console.log(`segmenter thread bundled: ${path.relative(ROOT, r.file)} (${r.inputs} sources)`);
  } catch (e) {
    // Not fatal: without a bundle the thread starts through tsx, ~0.1 s slower.
    console.warn(`segmenter thread not bundled (${e instanceof Error ? e.message : e}); threads start through tsx`);
  }
}
