/**
 * Output folders of the offline job (`segflow process`): which folder under
 * `--out` belongs to which input, and the merged `summary.json`.
 *
 * - A folder's name comes from the input's path relative to the folder given
 *   on the command line (`rec/x/clip.mp4` under `rec` → `x__clip`; a file given
 *   by itself → its base name), with anything but letters and digits (of any
 *   script: `行车记录`, `ünï`), `_`, `-` and inner dots replaced: never empty,
 *   `.`, `..`, hidden, a path, longer than 180 bytes, or `summary.json`, and
 *   checked after resolution to be one level under --out.
 * - Each committed folder holds `result.json` with the input's identity
 *   (relative path, size, mtime). A folder is skipped or replaced only when its
 *   identity matches the input's; any other folder under that name (someone
 *   else's files, a corrupt `result.json`, an earlier version of the input) is
 *   left alone and the input gets the next free name (`clip-2`, ...), with a
 *   note saying why. So names do not depend on which other inputs exist, and
 *   adding a file never re-pairs outputs with inputs.
 * - Work in progress lives in hidden `.segflow-<name>.partial-XXXXXX/` folders
 *   marked with the writing process's pid and host; the leftovers of a killed
 *   run on this host are removed by the next one (a folder marked by another
 *   host — a queue worker elsewhere on shared storage — is never touched), and a
 *   forced exit (a second Ctrl-C) removes its own.
 */
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { closeSync, lstatSync, mkdirSync, openSync, readSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, writeFileSync, type Stats } from 'node:fs';
import path from 'node:path';
import { committed, removeOnExit } from '../media/output.ts';

export { committed, removeOnExit };

export const RESULT_FILE = 'result.json';
export const SUMMARY_FILE = 'summary.json';
const PARTIAL_MARK = '.segflow-partial';
const PARTIAL_RE = /^\.segflow-.*\.partial-[A-Za-z0-9]{6}$/;
const SUMMARY_TMP_RE = /^\.segflow-summary-\d+\.json$/;

/** What identifies an input across runs. */
export interface InputIdentity {
  /** Path relative to the folder given on the command line (a file given by itself: its base name), with `/`. */
  readonly rel: string;
  readonly size: number;
  readonly mtimeMs: number;
  /** sha1 of the first and last 64 KiB: two files alike in name, size and mtime are still told apart. */
  readonly sample?: string;
}

export interface InputFile {
  /** As given or found (for messages and the summary). */
  readonly path: string;
  readonly rel: string;
  /** Why this entry cannot be processed, naming it (a folder that could not be listed, or that holds no videos). */
  readonly problem?: string;
}

/**
 * One path component from any string: letters and digits of any script (NFC), `_`, `-`, inner dots;
 * never empty, hidden or `..`.
 */
function component(s: string): string {
  return s.normalize('NFC').replace(/[^\p{L}\p{M}\p{N}_.-]+/gu, '_').replace(/^[.-]+/, (m) => '_'.repeat(m.length)).replace(/\.+$/, (m) => '_'.repeat(m.length));
}

/** The preferred output folder name for an input (before making it unique). */
export function baseName(rel: string): string {
  const noExt = rel.slice(0, rel.length - path.extname(rel).length);
  let name = noExt.split(/[\\/]+/).filter((p) => p && p !== '.').map(component).join('__') || 'video';
  if (Buffer.byteLength(name) > 180) {
    // Cut by bytes (file names are limited in bytes), at a character boundary.
    let cut = '';
    for (const ch of name) {
      if (Buffer.byteLength(cut + ch) > 160) break;
      cut += ch;
    }
    name = `${cut}-${createHash('sha1').update(rel).digest('hex').slice(0, 10)}`;
  }
  if (name.toLowerCase() === SUMMARY_FILE || name.toLowerCase().startsWith('.segflow')) name += '_';
  return name;
}

/** `out/name`, checked to be exactly one level below `out` after resolution. */
export function childOf(out: string, name: string): string {
  const root = path.resolve(out);
  const p = path.resolve(root, name);
  const rel = path.relative(root, p);
  if (!rel || rel === '.' || rel.startsWith('..') || path.isAbsolute(rel) || rel.includes(path.sep) || rel !== name) {
    throw new Error(`output name '${name}' does not stay inside ${out}`);
  }
  return p;
}

export function identityOf(f: InputFile, st: { readonly size: number; readonly mtimeMs: number }): InputIdentity {
  const h = createHash('sha1');
  const fd = openSync(f.path, 'r');
  try {
    const n = Math.min(st.size, 64 << 10);
    const buf = Buffer.alloc(n);
    h.update(buf.subarray(0, readSync(fd, buf, 0, n, 0)));
    if (st.size > n) h.update(buf.subarray(0, readSync(fd, buf, 0, n, Math.max(n, st.size - n))));
  } finally {
    closeSync(fd);
  }
  return { rel: f.rel.split(path.sep).join('/'), size: st.size, mtimeMs: Math.round(st.mtimeMs), sample: h.digest('hex') };
}

export function sameIdentity(a: unknown, b: InputIdentity | undefined): boolean {
  const x = a as Partial<InputIdentity> | undefined;
  return !!x && !!b && x.rel === b.rel && x.size === b.size && x.mtimeMs === b.mtimeMs && x.sample === b.sample;
}

/** What an existing folder under --out is: ours for `id`, or why not. */
export function inspectFolder(dir: string): { identity?: InputIdentity; result?: Record<string, unknown>; why?: string } {
  let st: Stats;
  try {
    st = lstatSync(dir);
  } catch {
    return { why: 'absent' };
  }
  if (!st.isDirectory()) return { why: 'not a folder' };
  const rf = path.join(dir, RESULT_FILE);
  let rst: Stats;
  try {
    rst = lstatSync(rf);
  } catch {
    return { why: `no ${RESULT_FILE}: not written by segflow` };
  }
  if (!rst.isFile() || rst.size > 16 << 20) return { why: `${RESULT_FILE} is not a regular file of at most 16 MiB` };
  try {
    const r = JSON.parse(readFileSync(rf, 'utf8')) as Record<string, unknown>;
    if (!r || typeof r !== 'object' || !r.identity) return { why: `${RESULT_FILE} has no input identity (not written by this segflow)` };
    return { identity: r.identity as InputIdentity, result: r };
  } catch (e) {
    return { why: `${rf} is unreadable (${(e as Error).message.split('\n')[0]})` };
  }
}

export interface Assignment {
  readonly name: string;
  readonly dir: string;
  /** The folder already holds this input's complete output. */
  readonly existing?: Record<string, unknown>;
  /** Why a preferred name was passed over. */
  readonly note?: string;
}

/**
 * A folder name for each input: the folder that already holds its output (same identity), else the
 * first free name `base`, `base-2`, ... — never an existing entry, never one given to another input.
 */
export function assignFolders(out: string, inputs: readonly { base: string; id?: InputIdentity | undefined }[]): Assignment[] {
  let entries: string[];
  try {
    entries = readdirSync(out);
  } catch {
    entries = [];
  }
  const existing = new Set(entries);
  const lower = new Set(entries.map((e) => e.toLowerCase())); // case-insensitive file systems
  const taken = new Set<string>();
  const inspected = new Map<string, ReturnType<typeof inspectFolder>>();
  const look = (name: string) => {
    let r = inspected.get(name);
    if (!r) inspected.set(name, (r = inspectFolder(childOf(out, name))));
    return r;
  };
  const family = (base: string) => {
    const re = new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(-\\d+)?$`);
    return entries.filter((e) => re.test(e)).sort((a, b) => a.length - b.length || a.localeCompare(b));
  };
  const result: (Assignment | undefined)[] = inputs.map(() => undefined);
  // First: folders that already hold an input's output.
  inputs.forEach((inp, i) => {
    if (!inp.id) return;
    for (const name of family(inp.base)) {
      if (taken.has(name)) continue;
      const f = look(name);
      if (f.identity && sameIdentity(f.identity, inp.id) && f.result?.status === 'ok') {
        taken.add(name);
        result[i] = { name, dir: childOf(out, name), existing: f.result };
        return;
      }
    }
  });
  // Then: a free name for the rest, saying why the preferred one was not used.
  return inputs.map((inp, i) => {
    if (result[i]) return result[i]!;
    let note: string | undefined;
    for (let n = 1; ; n++) {
      const name = n === 1 ? inp.base : `${inp.base}-${n}`;
      if (taken.has(name) || taken.has(name.toLowerCase())) continue;
      if (existing.has(name) || lower.has(name.toLowerCase())) {
        if (n === 1) {
          const f = look(name);
          const why = f.why ?? (inp.id && (f.identity as InputIdentity | undefined)?.rel === inp.id.rel ? `it holds the output of an earlier version of this file or of another file named ${inp.id.rel} (size, mtime or content differ)` : `it holds the output of ${(f.identity as InputIdentity | undefined)?.rel ?? 'another input'}`);
          note = `${childOf(out, name)} exists and is left alone: ${why}`;
        }
        continue;
      }
      taken.add(name);
      taken.add(name.toLowerCase());
      const dir = childOf(out, name);
      return note ? { name, dir, note: `${note}; writing to ${dir}` } : { name, dir };
    }
  });
}

/**
 * Each input's identity (undefined when it is not a readable regular file) and its folder: how
 * `segflow process` names outputs, with or without `--queue` (src/queue/submit.ts).
 */
export function planFolders(out: string, files: readonly InputFile[]): { ids: (InputIdentity | undefined)[]; folders: Assignment[] } {
  const ids = files.map((f) => {
    try {
      const st = statSync(f.path);
      return st.isFile() ? identityOf(f, st) : undefined;
    } catch {
      return undefined;
    }
  });
  return { ids, folders: assignFolders(out, files.map((f, i) => ({ base: baseName(f.rel), id: ids[i] }))) };
}

/** A fresh hidden work folder for `name`, marked with this process's pid. */
export function makePartial(out: string, name: string): string {
  // mkdir (not mkdtemp, which makes 0700 folders): the final folder gets the usual permissions.
  let dir = '';
  for (let tries = 0; ; tries++) {
    dir = path.join(path.resolve(out), `.segflow-${name}.partial-${randomBytes(6).toString('base64url').replace(/[-_]/g, 'x').slice(0, 6)}`);
    try {
      mkdirSync(dir);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || tries > 20) throw e;
    }
  }
  removeOnExit(dir);
  writeFileSync(path.join(dir, PARTIAL_MARK), `${process.pid} ${hostname()} ${pidNamespace()}\n`);
  return dir;
}

export function unmarkPartial(dir: string): void {
  rmSync(path.join(dir, PARTIAL_MARK), { force: true });
}

/**
 * This process's pid namespace (`pid:[4026531836]`; '-' where /proc does not say): containers that
 * share a hostname (host networking) but not their pids must not judge each other's pids.
 */
function pidNamespace(): string {
  try {
    return readlinkSync('/proc/self/ns/pid').replace(/\s/g, '');
  } catch {
    return '-';
  }
}

/** A temporary summary this young may belong to a live run elsewhere (its name holds only a pid). */
const SUMMARY_TMP_MIN_AGE_MS = 10 * 60_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Remove work folders and summary files left by segflow runs that were killed (their pid is gone). */
export function removeLeftovers(out: string): string[] {
  const removed: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(out);
  } catch {
    return removed;
  }
  for (const e of entries) {
    const p = path.join(out, e);
    if (PARTIAL_RE.test(e)) {
      try {
        // `pid host`: only a dead process of this host is known to be gone.
        // `pid host pidns` (`pid host` from segflow before session 12): only a dead process of this
        // host and of this pid namespace (not another container on the same host) is known to be gone.
        const [pidText, host, ns] = readFileSync(path.join(p, PARTIAL_MARK), 'utf8').trim().split(' ');
        const pid = Number(pidText);
        if (host !== hostname() || (ns !== undefined && ns !== pidNamespace()) || !Number.isInteger(pid) || pid <= 0 || alive(pid)) continue;
      } catch {
        continue; // no mark: not ours
      }
      rmSync(p, { recursive: true, force: true });
      removed.push(p);
    } else if (SUMMARY_TMP_RE.test(e)) {
      const pid = Number(/\d+/.exec(e)![0]);
      const st = statSync(p);
      if (!alive(pid) && st.isFile() && Date.now() - st.mtimeMs > SUMMARY_TMP_MIN_AGE_MS) {
        rmSync(p, { force: true });
        removed.push(p);
      }
    }
  }
  return removed;
}

/** The summary.json already in `out` (for merging), undefined if none; throws if that name holds something segflow did not write. */
export function readSummary(out: string): { files: Record<string, unknown>[]; runs?: unknown[] } | undefined {
  const p = path.join(out, SUMMARY_FILE);
  let st: Stats;
  try {
    st = lstatSync(p);
  } catch {
    return undefined;
  }
  const refuse = (why: string) => new Error(`${p}: ${why}; segflow will not replace it (expected a summary segflow wrote, or another --out)`);
  if (!st.isFile()) throw refuse('exists and is not a regular file');
  if (st.size > 256 << 20) throw refuse('is larger than 256 MiB');
  let s: { files?: unknown; runs?: unknown };
  try {
    s = JSON.parse(readFileSync(p, 'utf8'));
  } catch (e) {
    throw refuse(`is not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (!s || typeof s !== 'object' || !Array.isArray(s.files)) throw refuse('is not a segflow summary (no "files" list)');
  return { files: s.files.filter((f): f is Record<string, unknown> => !!f && typeof f === 'object'), runs: Array.isArray(s.runs) ? s.runs : [] };
}

/** Write summary.json atomically (a hidden temporary name, removed on a forced exit). */
export function writeSummary(out: string, summary: object): void {
  const tmp = path.join(out, `.segflow-summary-${process.pid}.json`);
  removeOnExit(tmp);
  try {
    writeFileSync(tmp, JSON.stringify(summary, null, 2) + '\n');
    renameNoClobberDir(tmp, path.join(out, SUMMARY_FILE));
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new Error(`could not write ${path.join(out, SUMMARY_FILE)}: ${(e as Error).message}`);
  } finally {
    committed(tmp);
  }
}

function renameNoClobberDir(from: string, to: string): void {
  try {
    if (!lstatSync(to).isFile()) throw new Error(`${to} exists and is not a regular file`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  renameSync(from, to);
}
