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
 * - summary.json is read, merged and written under a short lock in --out
 *   (`.segflow-summary.lock`, updateSummary), so runs into one --out at the same
 *   time (two `process` runs, a run and a queue submission) keep each other's
 *   entries.
 */
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { closeSync, linkSync, lstatSync, mkdirSync, openSync, readSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, writeFileSync, writeSync, type Stats } from 'node:fs';
import path from 'node:path';
import { committed, removeOnExit } from '../media/output.ts';

export { committed, removeOnExit };

export const RESULT_FILE = 'result.json';
export const SUMMARY_FILE = 'summary.json';
const PARTIAL_MARK = '.segflow-partial';
const PARTIAL_RE = /^\.segflow-.*\.partial-[A-Za-z0-9]{6}$/;
/** A temporary summary (`.json`), or a stale summary lock moved aside while it was taken over (`.lock`). */
const SUMMARY_TMP_RE = /^\.segflow-summary-\d+\.(json|lock)$/;
/** The lock summary.json is read, merged and written under (updateSummary); never an output folder's name (baseName). */
export const SUMMARY_LOCK = '.segflow-summary.lock';

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
  try {
    writeFileSync(path.join(dir, PARTIAL_MARK), `${holderMark()}\n`);
  } catch (e) {
    // A full disk: no unmarked folder left (one without a mark is never judged a leftover).
    rmSync(dir, { recursive: true, force: true });
    committed(dir);
    throw e;
  }
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

/** `pid host pidns`: who holds a work folder or the summary lock. */
function holderMark(): string {
  return `${process.pid} ${hostname()} ${pidNamespace()}`;
}

/**
 * Whether the holder a mark names is known to be gone: a dead pid of this host and this pid namespace
 * (`pid host`, from segflow before session 12: of this host). A mark of another host or container, or
 * one that cannot be read as a pid, is never judged gone.
 */
function holderGone(mark: string): boolean {
  const [pidText, host, ns] = mark.trim().split(' ');
  const pid = Number(pidText);
  return host === hostname() && (ns === undefined || ns === pidNamespace()) && Number.isInteger(pid) && pid > 0 && !alive(pid);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Remove work folders and summary files left by segflow runs that were killed (their pid is gone).
 * The summary lock is left alone: held, it is live; a stale one is taken over by the next updateSummary.
 */
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
        if (!holderGone(readFileSync(path.join(p, PARTIAL_MARK), 'utf8'))) continue;
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

/** A lock whose holder is not known to be gone is taken over once it is this old (a run on another host that died holding it). */
const LOCK_STALE_MS = 60_000;
const LOCK_POLL_MS = 30;

export interface UpdateSummaryOptions {
  /** How long to wait for another run's lock before writing anyway (with a warning). @default 30000 */
  readonly waitMs?: number;
  /** The one-line warning when the lock could not be had. @default stderr */
  readonly warn?: (message: string) => void;
}

/**
 * Read summary.json, `merge` it with this run's results, and write it (atomically), under a lock in
 * `out`: another run into the same --out that merged meanwhile is read now, not when this run started,
 * so neither loses the other's entries. The lock (`.segflow-summary.lock`, created exclusively,
 * holding `pid host pidns token`) is held only while reading, merging and writing, and removed after
 * (also on a forced exit). A lock whose holder is gone (a dead pid of this host and pid namespace) or
 * older than a minute is taken over; otherwise this waits, then writes anyway with a warning: this
 * run's summary is never dropped. Throws (releasing the lock) when summary.json has become something
 * segflow did not write (readSummary).
 */
export async function updateSummary(out: string, merge: (previous: ReturnType<typeof readSummary>) => object, o: UpdateSummaryOptions = {}): Promise<object> {
  const warn = o.warn ?? ((m: string) => process.stderr.write(`${m}\n`));
  const lock = await lockSummary(out, o.waitMs ?? 30_000, warn);
  try {
    const summary = merge(readSummary(out));
    writeSummary(out, summary);
    return summary;
  } finally {
    if (lock) unlockSummary(lock);
  }
}

interface SummaryLock {
  readonly path: string;
  readonly mark: string;
}

async function lockSummary(out: string, waitMs: number, warn: (m: string) => void): Promise<SummaryLock | undefined> {
  const p = path.join(out, SUMMARY_LOCK);
  const mark = `${holderMark()} ${randomBytes(6).toString('hex')}\n`;
  const t0 = Date.now();
  for (;;) {
    let made = false;
    try {
      const fd = openSync(p, 'wx');
      made = true;
      try {
        writeSync(fd, mark);
      } finally {
        closeSync(fd);
      }
      removeOnExit(p);
      return { path: p, mark };
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      // Made but not written (a full disk): an empty lock left behind made the next run wait 30 s for it.
      if (made) rmSync(p, { force: true });
      if (err.code !== 'EEXIST' || made) {
        warn(`warning: could not lock ${p} (${err.code ?? err.message}); writing ${SUMMARY_FILE} without it (a run into ${out} at the same time may lose its entries)`);
        return undefined;
      }
    }
    if (takeOverStale(p)) continue;
    if (Date.now() - t0 >= waitMs) {
      warn(`warning: ${p} is still held after ${Math.round(waitMs / 1000)} s (by ${describeHolder(p)}); writing ${SUMMARY_FILE} anyway (a run into ${out} at the same time may lose its entries)`);
      return undefined;
    }
    await new Promise((r) => setTimeout(r, LOCK_POLL_MS));
  }
}

function describeHolder(p: string): string {
  try {
    const [pid, host] = readFileSync(p, 'utf8').trim().split(' ');
    return pid ? `pid ${pid} on ${host ?? '?'}` : 'a run that has not written its pid yet';
  } catch {
    return 'a run that has just released it';
  }
}

/**
 * Remove the lock at `p` when it is stale (its holder gone, or older than LOCK_STALE_MS); true when
 * it is gone now. It is moved aside first and checked to be the lock judged stale: a lock another run
 * took meanwhile is put back, never deleted.
 */
function takeOverStale(p: string): boolean {
  let mark: string;
  let st: Stats;
  try {
    st = lstatSync(p);
    mark = readFileSync(p, 'utf8');
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT'; // released meanwhile
  }
  if (!st.isFile() || (!holderGone(mark) && Date.now() - st.mtimeMs < LOCK_STALE_MS)) return false;
  const aside = path.join(path.dirname(p), `.segflow-summary-${process.pid}.lock`);
  try {
    renameSync(p, aside);
  } catch {
    return false;
  }
  try {
    if (readFileSync(aside, 'utf8') !== mark) linkSync(aside, p); // taken meanwhile: back under its name (unless a newer lock is there)
  } catch {
    /* a newer lock holds the name */
  }
  rmSync(aside, { force: true });
  return true;
}

function unlockSummary(l: SummaryLock): void {
  try {
    // Still ours (not taken over as stale by another run while this one was stopped): remove it.
    if (readFileSync(l.path, 'utf8') === l.mark) rmSync(l.path, { force: true });
  } catch {
    /* gone already */
  }
  committed(l.path);
}
