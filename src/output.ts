/**
 * Outputs are written under a temporary name and renamed when complete, so a
 * final name never holds a half-written file; existing outputs are kept
 * unless `overwrite` is set.
 */
import { existsSync, lstatSync, renameSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

export function partialName(final: string): string {
  const ext = path.extname(final);
  return ext ? final.slice(0, -ext.length) + '.partial' + ext : final + '.partial';
}

/** Throw if `final` exists and must not be overwritten; make its directory. */
export async function prepareOutput(final: string, overwrite: boolean, node: string): Promise<string> {
  if (existsSync(final)) {
    const st = lstatSync(final);
    if (!st.isFile() && !st.isDirectory()) throw new Error(`${node}: output ${final} exists and is not a regular file or folder; expected a path segflow may create and replace`);
  }
  if (!overwrite && existsSync(final)) {
    throw new Error(`${node}: output ${final} exists; pass --overwrite (or --set ${node}.overwrite=true) to replace it`);
  }
  await mkdir(path.dirname(path.resolve(final)), { recursive: true });
  const tmp = partialName(final);
  rmSync(tmp, { recursive: true, force: true });
  return tmp;
}

/** Move a completed temporary output to its final name. */
export function commitOutput(tmp: string, final: string): void {
  rmSync(final, { recursive: true, force: true });
  renameSync(tmp, final);
}

export function discardOutput(tmp: string): void {
  rmSync(tmp, { recursive: true, force: true });
}
