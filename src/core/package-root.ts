/**
 * The package's root folder (the one holding package.json, models/ and graphs/),
 * found by walking up from this file: it sits at src/ in a checkout, at
 * dist/src/ in the built package, and wherever a bundle puts it (the segmenter
 * thread's bundle), so no caller counts `..`s.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export function packageRoot(from: string = path.dirname(fileURLToPath(import.meta.url))): string {
  for (let d = from; ; d = path.dirname(d)) {
    if (existsSync(path.join(d, 'package.json'))) return d;
    if (path.dirname(d) === d) throw new Error(`segflow: no package.json above ${from}`);
  }
}

export const PACKAGE_ROOT = packageRoot();

/** Replaced by `true` in the built package's bundles (scripts/build.mjs: esbuild's `define`); undeclared elsewhere. */
declare const SEGFLOW_BUNDLE: boolean | undefined;

/**
 * True when this code runs from the built package's bundles (dist/src/bundle/: the command line and
 * its worker threads, each one file plus shared chunks), false in the compiled modules (dist/src/…,
 * what `import 'segflow'` loads) and in the sources. A bundle's files sit in one folder, so a
 * module's neighbours are the bundle's (`./executor-thread.js`, `./boot.mjs`, `./viewer.html`).
 */
export const BUNDLED: boolean = typeof SEGFLOW_BUNDLE !== 'undefined' && SEGFLOW_BUNDLE === true;
