/**
 * process safety (issue 18 items 2–5, 8 and the smaller ones; issue 16's summary merge): the real
 * CLI and a real ffmpeg over files made in a temp dir. Output folders never escape --out, are never
 * a folder segflow did not write, stay paired with their inputs across runs; a killed decoder fails
 * the file; outputs that are folders are refused, never deleted; file inputs cannot reach other
 * files or be read as options. Every test keeps a canary file beside --out that must survive.
 *
 * Most tests use a two-node graph (decoder → encoder), so they cost ffmpeg time, not model time.
 */
import test, { type ExecutionContext } from 'ava';
import { type ChildProcess, execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ffmpegPaths, inputSpec } from '../src/media/ffmpeg.ts';
import { BIN, segflow, spawnSegflow, tmpDir, videoFacts, watchChild, writeLightGraph } from './helpers/cli.ts';
import { ffmpeg, testClip } from './helpers/videos.ts';

const SMALL = ['--set', 'small.width=160', '--set', 'small.height=96'];

/** A temp dir with a light graph, a canary beside `out`, and a clip. */
async function setup(prefix: string): Promise<{ work: string; out: string; graph: string; clip: string; canary: string }> {
  const work = tmpDir(`segflow-safety-${prefix}-`);
  const graph = writeLightGraph(path.join(work, 'light.yaml'));
  const canary = path.join(work, 'canary.txt');
  writeFileSync(canary, 'must survive\n');
  const clip = await testClip(path.join(work, 'clip.mp4'), { frames: 12 });
  return { work, out: path.join(work, 'out'), graph, clip, canary };
}

function canaryOk(t: ExecutionContext, canary: string): void {
  t.is(readFileSync(canary, 'utf8'), 'must survive\n', 'the canary beside --out survives');
}

const summaryOf = (out: string) => JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8')) as {
  ok: number; failed: number; lastRun: { ok: number; skipped: number; failed: number }; files: { input: string; status: string; output?: string; frames?: number; error?: string; note?: string }[];
};
/**
 * Ended as interrupted, as a shell sees it ($? = 130): exit code 130, or ended
 * by the SIGINT itself. The latter happens when the second Ctrl-C lands after
 * the last JavaScript ran (the summary written, the exit code set): Node's own
 * teardown has restored the signal's default action by then, and dying by
 * SIGINT is the Unix convention for an interrupted program anyway.
 */
async function interrupted(t: ExecutionContext, child: ChildProcess, w: { exit: Promise<number | null>; text(): string }): Promise<void> {
  const code = await w.exit;
  t.true(code === 130 || (code === null && child.signalCode === 'SIGINT'), `exit code ${code}, signal ${child.signalCode}\n${w.text()}`);
}

const noPartials = (dir: string) => readdirSync(dir).filter((f) => f.includes('partial') || f.startsWith('.segflow'));

test('process safety › item 2: inputs named ...mp4 and ..mp4 with --overwrite stay inside --out; nothing outside is touched', async (t) => {
  const { work, out, graph, clip, canary } = await setup('dots');
  const inDir = path.join(work, 'in');
  mkdirSync(inDir);
  for (const n of ['...mp4', '..mp4', '.hidden.mp4', '-dash.mp4']) execFileSync('cp', [clip, path.join(inDir, n)]);
  mkdirSync(out);
  writeFileSync(path.join(out, 'earlier-result.txt'), 'an earlier result in --out\n');
  for (const round of [1, 2]) {
    const r = await segflow(['process', inDir, '--out', out, '--graph', graph, '--overwrite']);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /4 ok, 0 skipped, 0 failed/, `round ${round}`);
  }
  canaryOk(t, canary);
  t.is(readFileSync(path.join(out, 'earlier-result.txt'), 'utf8'), 'an earlier result in --out\n', '..mp4 did not map to --out itself');
  const dirs = readdirSync(out).filter((f) => f !== 'summary.json' && f !== 'earlier-result.txt').sort();
  t.is(dirs.length, 4, dirs.join(' '));
  for (const d of dirs) {
    t.false(d === '.' || d === '..' || d.startsWith('.') || d.startsWith('-'), d);
    t.is((await videoFacts(path.join(out, d, 'overlay.mp4'))).frames, 12, d);
  }
  t.deepEqual(noPartials(out), []);
  t.true(existsSync(path.join(work, 'in', '...mp4')), 'inputs untouched');
});

test('process safety › item 2: --out . beside a source folder named like an input: the folder is left alone, a different name used', async (t) => {
  const { work, graph, clip, canary } = await setup('cwd');
  const project = path.join(work, 'project');
  mkdirSync(path.join(project, 'src'), { recursive: true });
  writeFileSync(path.join(project, 'src', 'main.c'), 'int main(void) { return 0; }\n');
  execFileSync('cp', [clip, path.join(project, 'src.mp4')]);
  for (const flags of [[], ['--overwrite']]) {
    const r = await segflow(['process', 'src.mp4', '--out', '.', '--graph', graph, ...flags], { cwd: project });
    t.is(r.code, 0, r.stderr);
    // First run: the note says why src/ was passed over; then src-2 is found by the input's identity.
    if (!flags.length) t.regex(r.stderr, /note: src\.mp4: .*src exists and is left alone: no result\.json/);
    else t.regex(r.stdout, /1 ok, 0 skipped/);
    t.is(readFileSync(path.join(project, 'src', 'main.c'), 'utf8'), 'int main(void) { return 0; }\n');
    t.deepEqual(readdirSync(path.join(project, 'src')), ['main.c'], 'nothing added to or removed from src/');
  }
  t.is((await videoFacts(path.join(project, 'src-2', 'overlay.mp4'))).frames, 12);
  t.is(summaryOf(project).files.length, 1, 'one input, one entry');
  canaryOk(t, canary);
});

test('process safety › item 3: adding rec/w/clip.mp4 beside rec/x and rec/y never re-pairs outputs; w is processed', async (t) => {
  const { work, out, graph, canary } = await setup('pairs');
  const rec = path.join(work, 'rec');
  const make = async (sub: string, frames: number) => {
    mkdirSync(path.join(rec, sub), { recursive: true });
    return testClip(path.join(rec, sub, 'clip.mp4'), { frames });
  };
  await make('x', 8);
  await make('y', 10);
  const first = await segflow(['process', rec, '--out', out, '--graph', graph]);
  t.is(first.code, 0, first.stderr);
  const before = summaryOf(out).files.map((f) => [path.relative(rec, f.input), path.basename(f.output!)]);
  await make('w', 14);
  const second = await segflow(['process', rec, '--out', out, '--graph', graph]);
  t.is(second.code, 0, second.stderr);
  t.regex(second.stdout, /1 ok, 2 skipped, 0 failed/);
  const s = summaryOf(out);
  const byInput = new Map(s.files.map((f) => [path.relative(rec, f.input), f]));
  for (const [rel, dir] of before) t.is(path.basename(byInput.get(rel!)!.output!), dir!, `${rel} keeps its folder`);
  // Each folder's result says which input it is of, and its frames are that input's.
  for (const [rel, frames] of [['x/clip.mp4', 8], ['y/clip.mp4', 10], ['w/clip.mp4', 14]] as const) {
    const f = byInput.get(rel)!;
    t.is(f.status, 'ok', rel);
    t.is(JSON.parse(readFileSync(path.join(f.output!, 'result.json'), 'utf8')).identity.rel, rel);
    t.is((await videoFacts(path.join(f.output!, 'overlay.mp4'))).frames, frames, rel);
  }
  // Issue 16: a re-run that skips everything keeps every earlier result in summary.json.
  const third = await segflow(['process', rec, '--out', out, '--graph', graph]);
  t.regex(third.stdout, /0 ok, 3 skipped, 0 failed/);
  const s3 = summaryOf(out);
  t.is(s3.ok, 3);
  t.deepEqual(s3.lastRun.skipped, 3);
  t.deepEqual(s3.files.map((f) => f.frames).sort(), [10, 14, 8].sort());
  canaryOk(t, canary);
});

test('process safety › a corrupt result.json in a folder named like an input is named, left alone, and the run goes on', async (t) => {
  const { work, out, graph, clip, canary } = await setup('corrupt');
  mkdirSync(path.join(out, 'clip'), { recursive: true });
  writeFileSync(path.join(out, 'clip', 'result.json'), '{ not json');
  const other = await testClip(path.join(work, 'other.mp4'), { frames: 6 });
  const r = await segflow(['process', clip, other, '--out', out, '--graph', graph]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /note: .*clip\.mp4: .*clip exists and is left alone: .*result\.json is unreadable/);
  t.is(readFileSync(path.join(out, 'clip', 'result.json'), 'utf8'), '{ not json');
  t.is((await videoFacts(path.join(out, 'clip-2', 'overlay.mp4'))).frames, 12);
  t.is((await videoFacts(path.join(out, 'other', 'overlay.mp4'))).frames, 6);
  canaryOk(t, canary);
});

test('process safety › summary.json.mp4 gets its own folder and summary.json stays the summary', async (t) => {
  const { work, out, graph, clip, canary } = await setup('summary');
  const input = path.join(work, 'summary.json.mp4');
  execFileSync('cp', [clip, input]);
  const r = await segflow(['process', input, '--out', out, '--graph', graph]);
  t.is(r.code, 0, r.stderr);
  t.is(summaryOf(out).files[0]!.status, 'ok');
  t.is((await videoFacts(path.join(summaryOf(out).files[0]!.output!, 'overlay.mp4'))).frames, 12);
  // A summary.json segflow did not write is refused before any work, not replaced.
  const foreign = path.join(work, 'foreign');
  mkdirSync(foreign);
  writeFileSync(path.join(foreign, 'summary.json'), '{"mine": true}\n');
  const f = await segflow(['process', clip, '--out', foreign, '--graph', graph]);
  t.is(f.code, 1);
  t.regex(f.stderr, /summary\.json: is not a segflow summary .*will not replace it/);
  t.deepEqual(readdirSync(foreign), ['summary.json']);
  canaryOk(t, canary);
});

/** Descendant processes of `pid` (from /proc), with their command lines. */
function descendants(pid: number): { pid: number; cmd: string }[] {
  const all = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).flatMap((d) => {
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      return [{ pid: Number(d), ppid, cmd: readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' ') }];
    } catch {
      return [];
    }
  });
  const out: { pid: number; cmd: string }[] = [];
  const walk = (p: number) => {
    for (const c of all.filter((x) => x.ppid === p)) {
      out.push(c);
      walk(c.pid);
    }
  };
  walk(pid);
  return out;
}

test('process safety › item 4: SIGKILL of the decoder ffmpeg fails the file (exit 1), nothing committed (so nothing to skip next time)', async (t) => {
  if (!existsSync('/proc/self/stat')) return t.pass('no /proc here: cannot find the decoder child (skipped)');
  const { work, out, graph, canary } = await setup('kill');
  // Long enough that the decoder is still running when found (back-pressure holds it).
  const long = await testClip(path.join(work, 'long.mkv'), { width: 320, height: 240, fps: 25, frames: 2500 });
  const child = spawnSegflow(['process', long, '--out', out, '--graph', graph]);
  const w = watchChild(child);
  let victim: { pid: number; cmd: string } | undefined;
  for (let i = 0; i < 600 && !victim; i++) {
    victim = descendants(child.pid!).find((p) => p.cmd.includes('rgb24') && p.cmd.includes('long.mkv'));
    if (!victim) await new Promise((r) => setTimeout(r, 100));
  }
  t.truthy(victim, `decoder ffmpeg found among ${JSON.stringify(descendants(child.pid!))}`);
  process.kill(victim!.pid, 'SIGKILL');
  t.is(await w.exit, 1, w.text());
  t.regex(w.text(), /✗ .*long\.mkv: ffmpeg failed after \d+ frames: ffmpeg was killed with signal SIGKILL/);
  t.deepEqual(readdirSync(out), ['summary.json'], 'no output folder committed, no partial left');
  t.is(summaryOf(out).files[0]!.status, 'failed');
  canaryOk(t, canary);
});

test('process safety › item 4: a Matroska file without frame count ending before its duration fails; VFR and a streamed cut-off file pass', async (t) => {
  const { work, out, graph, canary } = await setup('duration');
  const full = await testClip(path.join(work, 'src.mkv'), { frames: 40 });
  const bytes = readFileSync(full);
  writeFileSync(path.join(work, 'trunc.mkv'), bytes.subarray(0, Math.floor(bytes.length * 0.6)));
  // Written to a pipe, Matroska has no duration (a dashcam cut off by power loss): what decodes is kept.
  const { ffmpeg: bin } = ffmpegPaths();
  const piped = execFileSync(bin, ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=10', '-frames:v', '40', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-f', 'matroska', 'pipe:1'], { maxBuffer: 64 << 20 });
  writeFileSync(path.join(work, 'cutoff.mkv'), piped.subarray(0, Math.floor(piped.length * 0.6)));
  await ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=30', '-vf', "select='lt(mod(n\\,5)\\,3)'", '-frames:v', '30', '-vsync', 'vfr', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', path.join(work, 'vfr.mkv')]);
  const r = await segflow(['process', ...['trunc.mkv', 'cutoff.mkv', 'vfr.mkv'].map((f) => path.join(work, f)), '--out', out, '--graph', graph]);
  t.is(r.code, 1, r.stderr);
  const by = new Map(summaryOf(out).files.map((f) => [path.basename(f.input), f]));
  t.is(by.get('trunc.mkv')!.status, 'failed');
  t.regex(by.get('trunc.mkv')!.error!, /truncated or corrupt: decoded \d+ frames up to [\d.]+ s of 4\.00 s/);
  t.is(by.get('cutoff.mkv')!.status, 'ok', by.get('cutoff.mkv')!.error);
  t.is(by.get('vfr.mkv')!.status, 'ok', by.get('vfr.mkv')!.error);
  t.is(by.get('vfr.mkv')!.frames, 30);
  canaryOk(t, canary);
});

test('process safety › item 5: an output path that is a folder is refused, with and without --overwrite, never deleted', async (t) => {
  const { work, graph, clip, canary } = await setup('dir');
  const victim = path.join(work, 'precious');
  mkdirSync(victim);
  writeFileSync(path.join(victim, 'notes.txt'), 'keep me\n');
  for (const flags of [[], ['--overwrite']]) {
    const r = await segflow(['run', graph, '--var', `input=${clip}`, '--set', `video.path=${victim}`, ...flags]);
    t.is(r.code, 1, r.stderr);
    t.regex(r.stderr, /video: output .*precious exists and is a folder; expected a regular file/);
    t.deepEqual(readdirSync(victim), ['notes.txt']);
  }
  // A symbolic link where the file goes is refused too (not followed, not replaced).
  const link = path.join(work, 'link.mp4');
  symlinkSync(canary, link);
  const l = await segflow(['run', graph, '--var', `input=${clip}`, '--set', `video.path=${link}`, '--overwrite']);
  t.is(l.code, 1, l.stderr);
  t.regex(l.stderr, /exists and is a symbolic link/);
  t.is(readlinkSync(link), canary);
  canaryOk(t, canary);
});

test('process safety › item 5: a label folder holding other files is refused even with --overwrite; `%` in --out is literal', async (t) => {
  const { work, clip, canary } = await setup('labels');
  const out = path.join(work, 'run %d out');
  mkdirSync(path.join(out, 'labels'), { recursive: true });
  writeFileSync(path.join(out, 'labels', 'thesis.tex'), 'keep me\n');
  const args = ['run', 'graphs/dashcam-offline.yaml', '--var', `input=${clip}`, '--var', `out=${out}`, ...SMALL, '--overwrite'];
  const r = await segflow(args);
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /masks: output folder .*labels holds thesis\.tex, which masks does not write; refusing to replace it/);
  t.deepEqual(readdirSync(path.join(out, 'labels')), ['thesis.tex']);
  // Without the foreign file: written where asked, `%d` not expanded.
  execFileSync('rm', [path.join(out, 'labels', 'thesis.tex')]);
  const ok = await segflow(args);
  t.is(ok.code, 0, ok.stderr);
  t.is(readdirSync(path.join(out, 'labels')).filter((f) => /^\d{6}\.png$/.test(f)).length, 12);
  t.deepEqual(readdirSync(work).sort(), ['canary.txt', 'clip.mp4', 'light.yaml', 'run %d out'].sort(), 'nothing written beside it');
  canaryOk(t, canary);
});

test('process safety › item 8: an HLS playlist named upload.mp4 pointing at a local .ts is refused by ffprobe and by ffmpeg', async (t) => {
  const { work, out, graph, canary } = await setup('hls');
  await testClip(path.join(work, 'secret.ts'), { format: 'mpegts', frames: 10 });
  const upload = path.join(work, 'upload.mp4');
  writeFileSync(upload, '#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nsecret.ts\n#EXT-X-ENDLIST\n');
  t.true(readFileSync(upload).length <= 100);
  const r = await segflow(['process', upload, '--out', out, '--graph', graph]);
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /✗ .*upload\.mp4: its content is hls \(a playlist or script that opens other files\)/);
  t.deepEqual(readdirSync(out), ['summary.json']);
  // The decoder's ffmpeg path, on its own: the same whitelists refuse it.
  const spec = inputSpec(upload);
  const err = await new Promise<string>((resolve) => execFile(ffmpegPaths().ffmpeg, ['-hide_banner', '-nostdin', ...spec.options, '-i', spec.source, '-f', 'null', '-'], (e, _o, stderr) => resolve(e ? stderr : 'decoded')));
  t.regex(err, /Format not on whitelist/);
  // A playlist is still a playlist when asked for: concat via the same path is refused too.
  writeFileSync(path.join(work, 'list.mp4'), `ffconcat version 1.0\nfile '${path.join(work, 'secret.ts')}'\n`);
  const c = await segflow(['process', path.join(work, 'list.mp4'), '--out', out, '--graph', graph]);
  t.is(c.code, 1);
  t.regex(c.stderr, /list\.mp4: (its content is|not a readable video)/);
  canaryOk(t, canary);
});

test('process safety › item 8: --var input=-report is a file name, not an option (no ffprobe-*.log); -dash.mp4 decodes', async (t) => {
  const { work, graph, clip, canary } = await setup('option');
  const r = await segflow(['run', graph, '--var', 'input=-report', '--var', `out=${path.join(work, 'o')}`], { cwd: work });
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /-report: no such file/);
  t.deepEqual(readdirSync(work).filter((f) => /^ff(probe|mpeg)-.*\.log$/.test(f)), []);
  t.false(existsSync(path.join(work, 'o')), 'a refused run leaves no output folder');
  execFileSync('cp', [clip, path.join(work, '-dash.mp4')]);
  const ok = await segflow(['run', graph, '--var', 'input=-dash.mp4', '--var', 'out=-out'], { cwd: work });
  t.is(ok.code, 0, ok.stderr);
  t.is((await videoFacts(path.join(work, '-out', 'overlay.mp4'))).frames, 12);
  t.deepEqual(readdirSync(work).filter((f) => f.endsWith('.log')), []);
  canaryOk(t, canary);
});

test('process safety › a refused run (existing output) leaves no new folder behind', async (t) => {
  const { work, clip, canary } = await setup('refused');
  const out = path.join(work, 'new', 'deeper');
  const g = path.join(work, 'two.yaml');
  const existing = path.join(work, 'existing.mp4'); // not the input: an output onto the input is refused by the loader (exit 2)
  writeFileSync(existing, 'mine\n');
  writeFileSync(g, [
    'version: 1',
    'vars: { input: x.mp4, out: out }',
    'nodes:',
    '  decode: { type: decoder, options: { path: "${input}" } }',
    '  a: { type: encoder, options: { path: "${out}/a.mp4" }, in: { frame: decode.frame } }',
    `  b: { type: encoder, options: { path: "${existing}" }, in: { frame: decode.frame } }`,
    '',
  ].join('\n'));
  const r = await segflow(['run', g, '--var', `input=${clip}`, '--var', `out=${out}`]);
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /b: output .*existing\.mp4 exists; pass --overwrite/);
  t.is(readFileSync(existing, 'utf8'), 'mine\n');
  t.false(existsSync(path.join(work, 'new')), 'no empty folder left');
  canaryOk(t, canary);
});

test('process safety › a read-only --out: one clear line naming the read-only file system, no crash', async (t) => {
  const { work, graph, clip, canary } = await setup('ro');
  const out = path.join(work, 'ro');
  mkdirSync(out);
  const inner = (cmd: string) => `mount --bind ${out} ${out} && mount -o remount,ro,bind ${out} && ${cmd}`;
  try {
    execFileSync('unshare', ['-m', 'sh', '-c', inner('true')], { stdio: 'ignore' });
  } catch {
    return t.pass('cannot make a read-only mount here (needs unshare -m as root): skipped');
  }
  const run = (args: string[]) => new Promise<{ code: number | null; stderr: string }>((resolve) => {
    execFile('unshare', ['-m', 'sh', '-c', inner(`exec ${JSON.stringify(process.execPath)} ${BIN} ${args.map((a) => JSON.stringify(a)).join(' ')}`)], { timeout: 120_000 }, (e, _o, stderr) => resolve({ code: e ? (typeof (e as { code?: unknown }).code === 'number' ? (e as { code: number }).code : null) : 0, stderr }));
  });
  const p = await run(['process', clip, '--out', out, '--graph', graph]);
  t.is(p.code, 1, p.stderr);
  t.regex(p.stderr, /^segflow: --out .*ro: cannot write there \(read-only file system, EROFS\)/m);
  t.notRegex(p.stderr, /ENOENT|^\s+at /m);
  const r = await run(['run', graph, '--var', `input=${clip}`, '--var', `out=${path.join(out, 'sub')}`]);
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /video: cannot create the folder .*sub .*read-only file system \(EROFS\)/);
  t.notRegex(r.stderr, /ENOENT|^\s+at /m);
  canaryOk(t, canary);
});

test('process safety › a second Ctrl-C exits at once and leaves no partial folder or summary file', async (t) => {
  const { work, out, graph, canary } = await setup('ctrlc');
  const long = await testClip(path.join(work, 'long.mkv'), { width: 320, height: 240, fps: 25, frames: 1500 });
  const child = spawnSegflow(['process', long, '--out', out, '--graph', graph]);
  const w = watchChild(child);
  for (let i = 0; i < 600 && !(existsSync(out) && readdirSync(out).some((f) => f.includes('partial'))); i++) await new Promise((r) => setTimeout(r, 100));
  t.true(readdirSync(out).some((f) => f.includes('partial')), 'work under way');
  child.kill('SIGINT');
  await new Promise((r) => setTimeout(r, 30));
  child.kill('SIGINT');
  await interrupted(t, child, w);
  await new Promise((r) => setTimeout(r, 500)); // children that outlive it get EOF/SIGPIPE
  t.deepEqual(noPartials(out), []);
  t.deepEqual(readdirSync(out).filter((f) => f !== 'summary.json'), []);
  canaryOk(t, canary);
});

test('process safety › a Ctrl-C while the process is closing after the first one ends it as interrupted (130 or by SIGINT), nothing partial left', async (t) => {
  const { work, out, graph, canary } = await setup('ctrlc-late');
  const long = await testClip(path.join(work, 'long.mkv'), { width: 320, height: 240, fps: 25, frames: 1500 });
  const child = spawnSegflow(['process', long, '--out', out, '--graph', graph]);
  const w = watchChild(child);
  for (let i = 0; i < 600 && !(existsSync(out) && readdirSync(out).some((f) => f.includes('partial'))); i++) await new Promise((r) => setTimeout(r, 100));
  child.kill('SIGINT');
  // The run has ended its file; the process is closing its threads when the second one comes.
  await w.until(/partial output removed/);
  child.kill('SIGINT');
  await interrupted(t, child, w);
  t.deepEqual(noPartials(out), []);
  canaryOk(t, canary);
});

test('process safety › --out inside the input folder: a re-run does not take its own outputs for inputs', async (t) => {
  const { work, graph, clip, canary } = await setup('inside');
  const rec = path.join(work, 'rec');
  mkdirSync(rec);
  execFileSync('cp', [clip, path.join(rec, 'drive.mp4')]);
  const out = path.join(rec, 'out');
  const first = await segflow(['process', rec, '--out', out, '--graph', graph]);
  t.is(first.code, 0, first.stderr);
  const again = await segflow(['process', rec, '--out', out, '--graph', graph]);
  t.is(again.code, 0, again.stderr);
  t.regex(again.stdout, /0 ok, 1 skipped, 0 failed/);
  t.deepEqual(readdirSync(out).sort(), ['drive', 'summary.json']);
  canaryOk(t, canary);
});

test('process › leftover work folders: removed only for a dead process of this host and pid namespace (another host\'s, another container\'s, a live one, a fresh temporary summary are kept)', async (t) => {
  const { hostname } = await import('node:os');
  const { removeLeftovers } = await import('../src/apps/process-folders.ts');
  const out = tmpDir();
  const mk = (name: string, mark: string) => {
    const d = path.join(out, `.segflow-${name}.partial-abcdef`);
    mkdirSync(d);
    writeFileSync(path.join(d, '.segflow-partial'), mark);
    writeFileSync(path.join(d, 'overlay.mp4'), 'x');
    return d;
  };
  const ns = readlinkSync('/proc/self/ns/pid');
  const dead = mk('dead', `999999999 ${hostname()} ${ns}\n`);
  const deadOld = mk('dead-old', `999999998 ${hostname()}\n`); // a mark of segflow before session 12: no namespace
  const remote = mk('remote', `999999999 another-host.example ${ns}\n`);
  // Another container on this host (host networking: the same hostname) with its own pids.
  const container = mk('container', `999999999 ${hostname()} pid:[1]\n`);
  const live = mk('live', `${process.pid} ${hostname()} ${ns}\n`);
  // Temporary summaries name only a pid: one written just now may be a live run's elsewhere.
  const youngTmp = path.join(out, '.segflow-summary-999999999.json');
  writeFileSync(youngTmp, '{}');
  const oldTmp = path.join(out, '.segflow-summary-999999997.json');
  writeFileSync(oldTmp, '{}');
  utimesSync(oldTmp, new Date(Date.now() - 3600_000), new Date(Date.now() - 3600_000));
  const removed = removeLeftovers(out);
  t.deepEqual(removed.sort(), [dead, deadOld, oldTmp].sort());
  t.false(existsSync(dead));
  t.true(existsSync(path.join(remote, 'overlay.mp4')), 'a work folder of another host is never touched');
  t.true(existsSync(path.join(container, 'overlay.mp4')), 'nor one of another pid namespace on this host');
  t.true(existsSync(path.join(live, 'overlay.mp4')));
  t.true(existsSync(youngTmp), 'a temporary summary written just now is kept');
});
