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
