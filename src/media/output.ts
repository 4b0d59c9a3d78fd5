/**
 * Outputs are written under a temporary name and renamed when complete, so a
 * final name never holds a half-written file; existing outputs are kept
 * unless `overwrite` is set.
 *
 * What may be replaced, even with `overwrite`: a regular file where a file
 * output goes, and for a folder output (`kind: 'dir'`) only a folder whose
 * every entry the caller recognises as its own (`owns`, e.g. `000123.png`).
 * Anything else under an output's name — a folder where a file goes, a
 * symlink, a device, a folder of someone else's files — is refused with a
 * clear error and never deleted. A replaced output is first renamed aside, so
 * a failed rename never leaves the final name empty. Folders made for an
 * output that is then discarded are removed again when empty, so a refused or
 * failed run leaves no empty folders behind.
 */
import { accessSync, constants, existsSync, lstatSync, mkdirSync, readdirSync, renameSync, rmdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';

export function partialName(final: string): string {
  const ext = path.extname(final);
  return ext ? final.slice(0, -ext.length) + '.partial' + ext : final + '.partial';
}

export interface OutputKind {
  /** `file` (default): a regular file; `dir`: a folder of files the node writes. */
  readonly kind?: 'file' | 'dir';
  /** For `dir`: whether an entry of an existing folder is one this node writes (only such folders are replaced). */
  readonly owns?: (name: string) => boolean;
}

/**
 * Temporary outputs to remove if the process exits before they are committed or discarded (a
 * second Ctrl-C exits at once): nothing half-written is left under any name.
 */
const live = new Set<string>();
let hooked = false;
export function removeOnExit(p: string): void {
  live.add(path.resolve(p));
  if (!hooked) {
    hooked = true;
    process.on('exit', removeUncommitted);
  }
}
/** Remove, synchronously, every temporary output not yet committed or discarded (exiting now). */
export function removeUncommitted(): void {
  for (const q of live) {
    try {
      // A child ffmpeg may still be adding files: retry a folder that is not empty yet.
      rmSync(q, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
    } catch {
      /* exiting: nothing more to do */
    }
  }
  live.clear();
}
export function committed(p: string): void {
  live.delete(path.resolve(p));
}

/** Folders this process made for outputs (removed again when empty on discard). */
const madeDirs = new Set<string>();

/** Why `final` may not be replaced, or undefined when it may (or does not exist). */
function refusal(final: string, node: string, k: OutputKind): string | undefined {
  let st;
  try {
    st = lstatSync(final);
  } catch {
    return undefined;
  }
  if ((k.kind ?? 'file') === 'file') {
    if (st.isFile()) return undefined;
    return `${node}: output ${final} exists and is ${describe(st)}; expected a regular file (segflow never replaces anything else)`;
  }
  if (!st.isDirectory()) return `${node}: output ${final} exists and is ${describe(st)}; expected a folder segflow wrote`;
  const foreign = foreignEntry(final, '', k.owns);
  if (foreign) return `${node}: output folder ${final} holds ${foreign.name}, which ${node} does not write; refusing to replace it (expected a folder ${node} wrote, or a new path)`;
  return undefined;
}

/** The first entry under `dir` (recursively; sub-folders named `sub/`) that `owns` does not claim. */
function foreignEntry(dir: string, prefix: string, owns: ((name: string) => boolean) | undefined): { name: string } | undefined {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const name = prefix + e.name;
    if (e.isDirectory() && (owns?.(name + '/') ?? false)) {
      const inner = foreignEntry(path.join(dir, e.name), name + '/', owns);
      if (inner) return inner;
    } else if (!e.isFile() || !(owns?.(name) ?? false)) return { name };
  }
  return undefined;
}

function describe(st: import('node:fs').Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isFIFO()) return 'a named pipe';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/**
 * Throw if `final` exists and must not be replaced; return the temporary name to write.
 * Nothing is created here (see `ensureParent`), so a refused run leaves no folders.
 */
export async function prepareOutput(final: string, overwrite: boolean, node: string, k: OutputKind = {}): Promise<string> {
  const why = refusal(final, node, k);
  if (why) throw new Error(why);
  if (!overwrite && existsSync(final)) {
    throw new Error(`${node}: output ${final} exists; pass --overwrite (or --set ${node}.overwrite=true) to replace it`);
  }
  const tmp = partialName(final);
  const whyTmp = refusal(tmp, node, k);
  if (whyTmp) throw new Error(`${whyTmp.replace(`output ${tmp}`, `temporary output ${tmp}`)}`);
  ensureParent(tmp, node);
  rmSync(tmp, { recursive: true, force: true });
  removeOnExit(tmp);
  return tmp;
}

/** Make `p`'s folder (and remember which folders were made, so `discardOutput` can remove them again). */
export function ensureParent(p: string, node = 'output'): void {
  const dir = path.dirname(path.resolve(p));
  let first: string | undefined;
  try {
    first = mkdirs(dir);
  } catch (e) {
    // mkdir -p on a read-only file system says ENOENT: name the real reason.
    throw new Error(`${node}: cannot create the folder ${dir} for ${p}: ${whyNotWritable(dir) ?? (e as Error).message}`);
  }
  if (first) for (let d = dir; d.length >= first.length; d = path.dirname(d)) madeDirs.add(d);
  const why = whyNotWritable(dir);
  if (why) throw new Error(`${node}: cannot write ${p}: ${why}`);
}

/**
 * `mkdir -p`, one missing folder at a time; returns the first folder made. (Node's recursive mkdir
 * loops for ever where a folder cannot be made inside one that exists: ENOENT under /proc — a user's
 * `--out /proc/x` hung the command.) Use it for every folder a user names.
 */
export function mkdirs(dir: string): string | undefined {
  const missing: string[] = [];
  for (let d = dir; !existsSync(d) && path.dirname(d) !== d; d = path.dirname(d)) missing.unshift(d);
  // A file of that name: what mkdir -p (and Node's) says.
  if (!missing.length && !statSync(dir).isDirectory()) {
    throw Object.assign(new Error(`EEXIST: file already exists, mkdir '${dir}'`), { code: 'EEXIST', path: dir, syscall: 'mkdir' });
  }
  let first: string | undefined;
  for (const d of missing) {
    try {
      mkdirSync(d);
      first ??= d;
    } catch (e) {
      // Made meanwhile by another run: fine if it is a folder.
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(d).isDirectory()) throw e;
    }
  }
  return first;
}

/** Why files cannot be made in `dir` (or its nearest existing ancestor), or undefined. */
export function whyNotWritable(dir: string): string | undefined {
  let d = path.resolve(dir);
  while (!existsSync(d) && path.dirname(d) !== d) d = path.dirname(d);
  try {
    if (!statSync(d).isDirectory()) return `${d} is not a folder`;
    accessSync(d, constants.W_OK | constants.X_OK);
    return undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EROFS') return `${d} is on a read-only file system (EROFS)`;
    if (code === 'EACCES' || code === 'EPERM') return `no permission to write in ${d} (${code})`;
    return (e as Error).message;
  }
}

/** Move a completed temporary output to its final name (the old one renamed aside first, then removed). */
export function commitOutput(tmp: string, final: string, node = 'output', k: OutputKind = {}): void {
  const why = refusal(final, node, k);
  if (why) throw new Error(why);
  swapIn(tmp, final, existsSync(final) ? `${final}.replaced-${process.pid}` : undefined);
}

/**
 * Rename `tmp` to `final`. With `aside`, what is at `final` now (already checked by the caller as
 * replaceable) is first renamed there, put back if the rename fails, and removed once `tmp` is in
 * place — so a failed commit never leaves the final name empty.
 */
export function swapIn(tmp: string, final: string, aside: string | undefined): void {
  if (aside) {
    renameSync(final, aside);
    removeOnExit(aside);
  }
  try {
    renameSync(tmp, final);
  } catch (e) {
    if (aside) {
      renameSync(aside, final);
      committed(aside);
    }
    throw e;
  }
  committed(tmp);
  if (aside) {
    rmSync(aside, { recursive: true, force: true });
    committed(aside);
  }
}

export function discardOutput(tmp: string): void {
  rmSync(tmp, { recursive: true, force: true });
  committed(tmp);
  for (let d = path.dirname(path.resolve(tmp)); madeDirs.has(d); d = path.dirname(d)) {
    try {
      rmdirSync(d); // only when empty
      madeDirs.delete(d);
    } catch {
      break;
    }
  }
}
