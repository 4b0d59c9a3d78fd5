/**
 * The command line as a user meets it: --version, help that never runs
 * anything, node options read from the schemas, "did you mean" for every
 * misspelt name, --set errors that name the --set, `run` listing its outputs,
 * and `--log json`. Each runs the real bin/segflow.js in a child process.
 */
import { copyFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { nodeSpecs } from '../nodes/index.ts';
import { describeNodes, nodesMarkdown } from '../src/core/node-catalog.ts';
import { ROOT, SAMPLE, segflow, tmpDir } from './helpers/cli.ts';

const COMMANDS = ['run', 'validate', 'graph', 'process', 'worker', 'workers', 'status', 'eval', 'nodes', 'keys', 'version'];

test('cli › --version and -v print the package version', async (t) => {
  const { version } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  for (const flag of ['--version', '-v', 'version']) {
    const r = await segflow([flag]);
    t.is(r.code, 0, r.stderr);
    t.is(r.stdout, `${version}\n`, flag);
  }
});

test('cli › <command> --help prints its usage and options for every command, and runs nothing', async (t) => {
  const dir = tmpDir();
  for (const cmd of COMMANDS) {
    // Arguments that would make the command do something (or fail) if it ran.
    const args = cmd === 'run' ? ['--var', `out=${path.join(dir, 'run')}`, '--bogus'] : cmd === 'process' ? [SAMPLE, '--out', path.join(dir, 'process')] : cmd === 'worker' ? ['--connect', 'tcp://127.0.0.1:1'] : cmd === 'status' ? ['--queue', 'redis://127.0.0.1:1'] : [];
    const r = await segflow([cmd, ...args, '--help'], { timeoutMs: 60_000 });
    t.is(r.code, 0, `${cmd}: ${r.stderr}`);
    t.regex(r.stdout, new RegExp(`^usage: segflow ${cmd}`), cmd);
    t.is(r.stderr, '', `${cmd} --help writes nothing to stderr`);
  }
  t.false(existsSync(path.join(dir, 'run')), 'run --help ran no graph');
  t.false(existsSync(path.join(dir, 'process')), 'process --help processed nothing');
  const top = await segflow(['--help']);
  for (const cmd of COMMANDS) t.regex(top.stdout, new RegExp(`^  ${cmd} `, 'm'), `segflow --help lists ${cmd}`);
});

test('cli › the README Commands section shows every command', (t) => {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Commands'), readme.indexOf('### The offline job'));
  for (const cmd of COMMANDS.filter((c) => c !== 'version')) t.regex(section, new RegExp(`^segflow ${cmd} `, 'm'), cmd);
  t.regex(section, /^segflow --version$/m);
});

test('cli › nodes NAME prints every option of the schema with its type, default and range', async (t) => {
  const infos = await describeNodes(nodeSpecs);
  const r = await segflow(['nodes', ...infos.map((i) => i.type)]);
  t.is(r.code, 0, r.stderr);
  for (const info of infos) {
    t.true(r.stdout.includes(`${info.type} (${info.role})`), info.type);
    for (const o of info.options) t.regex(r.stdout, new RegExp(`^    ${o.name} +${o.type.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, ${o.required ? 'required' : 'default'}`, 'm'), `${info.type}.${o.name}`);
  }
  t.regex(r.stdout, /^ {4}crf +integer, default 23, 0\.\.51\n +x264 constant rate factor$/m, 'encoder.crf in full');
});

test('cli › docs/nodes.md is what the schemas say (segflow nodes --markdown)', async (t) => {
  const doc = readFileSync(path.join(ROOT, 'docs', 'nodes.md'), 'utf8');
  t.is(doc, nodesMarkdown(await describeNodes(nodeSpecs)), 'regenerate: node bin/segflow.js nodes --markdown > docs/nodes.md');
});

test('cli › misspelt command, option, node type and option key: "did you mean" and the valid names, exit 2', async (t) => {
  const cmd = await segflow(['nodse']);
  t.is(cmd.code, 2);
  t.regex(cmd.stderr, /unknown command 'nodse' \(did you mean 'nodes'\?\); commands: run, validate/);
  const opt = await segflow(['run', '--overwrit']);
  t.is(opt.code, 2);
  t.regex(opt.stderr, /unknown option '--overwrit' \(did you mean '--overwrite'\?\); valid options: .*--metrics-port/);
  const node = await segflow(['nodes', 'segmenter']);
  t.is(node.code, 2);
  t.regex(node.stderr, /unknown node type 'segmenter' \(did you mean 'two-branch-segmenter'\?\); expected one of: decoder/);
  const dir = tmpDir();
  const g = path.join(dir, 'g.yaml');
  writeFileSync(g, 'version: 1\nnodes:\n  decode: { type: decodr, options: { path: a.mp4 } }\n  video: { type: encoder, options: { path: o.mp4, crff: 20 }, in: { frame: decode.frame } }\n');
  const type = await segflow(['validate', g]);
  t.is(type.code, 2);
  t.regex(type.stderr, /g\.yaml:3 › node 'decode': unknown node type 'decodr' \(did you mean 'decoder'\?\); expected one of: /);
  writeFileSync(g, readFileSync(g, 'utf8').replace('decodr', 'decoder'));
  const key = await segflow(['validate', g]);
  t.is(key.code, 2);
  t.regex(key.stderr, /g\.yaml:4 › video\.options: Unrecognized key: "crff" \(did you mean 'crf'\?\); valid keys: path, fps, crf/);
});

test('cli › an error from --set names the --set, not a line of the file', async (t) => {
  const bad = await segflow(['validate', 'graphs/dashcam-offline.yaml', '--set', 'segment.keyframeIntervalFrames=0']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /^segflow: graphs\/dashcam-offline\.yaml › \(from --set segment\.keyframeIntervalFrames=0\) segment\.options\.keyframeIntervalFrames: /);
  const unknown = await segflow(['validate', 'graphs/dashcam-offline.yaml', '--set', 'video.crff=3']);
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /^segflow: graphs\/dashcam-offline\.yaml › \(from --set video\.crff=3\) video\.options: Unrecognized key: "crff" \(did you mean 'crf'\?\)/);
});

test('cli › run --log json: one JSON object a line (logs, progress, done); stdout lists where every output went', async (t) => {
  const out = tmpDir();
  const r = await segflow(['run', 'graphs/dashcam-offline.yaml', '--var', `out=${out}`, '--set', 'decode.maxFrames=30', '--log', 'json']);
  t.is(r.code, 0, r.stderr);
  const events = r.stderr.trim().split('\n').map((l) => JSON.parse(l) as { type: string; time: string; [k: string]: unknown });
  t.true(events.every((e) => typeof e.time === 'string' && typeof e.type === 'string'), 'every line an object with time and type');
  t.true(events.some((e) => e.type === 'log' && /model fast-scnn-camvid/.test(String(e.message))), 'the segmenter logs its model');
  const done = events.find((e) => e.type === 'done') as { frames: number; outputs: Array<{ node: string; to: string }> } | undefined;
  t.truthy(done);
  t.is(done!.frames, 30);
  t.true(events.some((e) => e.type === 'metrics'));
  // Every sink's output exists and is listed on stdout.
  const listed = r.stdout.split('outputs:\n')[1]!.trim().split('\n').map((l) => l.trim().split(/\s+/));
  t.deepEqual(listed.map(([node]) => node), done!.outputs.map((o) => o.node));
  for (const o of done!.outputs) {
    t.true(existsSync(o.to), `${o.node} → ${o.to} exists`);
    t.true(o.to.startsWith(out), `${o.to} is under --var out`);
  }
  t.deepEqual([...new Set(done!.outputs.map((o) => o.node))].sort(), ['masks', 'stats', 'video']);
  t.true(done!.outputs.some((o) => o.to.endsWith('stats-video.csv')), 'the per-video CSV is listed too');
  const bad = await segflow(['run', '--log', 'xml']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /--log: expected human or json, got 'xml'/);
});

test('cli › process --log json: start, progress and file events as JSON lines, then done', async (t) => {
  const out = tmpDir();
  const r = await segflow(['process', SAMPLE, '--out', out, '--log', 'json']);
  t.is(r.code, 0, r.stderr);
  const events = r.stderr.trim().split('\n').map((l) => JSON.parse(l) as { type: string; [k: string]: unknown });
  const start = events.find((e) => e.type === 'start');
  t.is(start?.file, SAMPLE);
  const file = events.find((e) => e.type === 'file') as { status: string; frames: number; output: string } | undefined;
  t.is(file?.status, 'ok');
  t.is(file?.frames, 100);
  t.true(existsSync(file!.output), 'the file event names its output');
  const done = events.find((e) => e.type === 'done');
  t.is(done?.ok, 1);
  t.true(existsSync(String(done?.summary)));
});

test('cli › process --log json over two inputs: a plan event, and each file numbered of two with the job\'s ETA', async (t) => {
  const out = tmpDir();
  const inputs = tmpDir();
  for (const n of ['a.mp4', 'b.mp4']) copyFileSync(SAMPLE, path.join(inputs, n));
  const r = await segflow(['process', inputs, '--out', out, '--log', 'json']);
  t.is(r.code, 0, r.stderr);
  const events = r.stderr.trim().split('\n').map((l) => JSON.parse(l) as { type: string; [k: string]: unknown });
  const plan = events.find((e) => e.type === 'plan');
  t.is(plan?.files, 2);
  t.is(plan?.bytes, 2 * statSync(SAMPLE).size);
  const starts = events.filter((e) => e.type === 'start');
  t.deepEqual(starts.map((e) => [path.basename(String(e.file)), e.fileIndex, e.files]), [['a.mp4', 1, 2], ['b.mp4', 2, 2]]);
  const progress = events.filter((e) => e.type === 'progress');
  t.true(progress.length > 0);
  for (const e of progress) {
    t.is(e.files, 2);
    t.true(e.jobEtaS === null || (typeof e.jobEtaS === 'number' && e.jobEtaS >= 0), `jobEtaS ${e.jobEtaS}`);
  }
  // A re-run skips both: nothing planned.
  const again = await segflow(['process', inputs, '--out', out, '--log', 'json']);
  t.is(again.code, 0, again.stderr);
  t.is(again.stderr.trim().split('\n').map((l) => JSON.parse(l) as { type: string; files?: number }).find((e) => e.type === 'plan')?.files, 0);
});

test('cli › process: a bad option found after the start-up began (warm threads, probes) is exit 2 at once, not a hang', async (t) => {
  // The model's thread is warmed before --metrics-port is read: it was left running and kept the process alive.
  const t0 = performance.now();
  const r = await segflow(['process', SAMPLE, '--out', tmpDir(), '--metrics-port', 'abc'], { timeoutMs: 60_000 });
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /--metrics-port: expected a port 0\.\.65535, got 'abc'/);
  t.true(performance.now() - t0 < 30_000);
});

test('cli › process --out a folder that cannot be made inside an existing one (/proc/x) is a clear error, not a hang', async (t) => {
  // Node's recursive mkdir never returns there (ENOENT inside a folder that exists).
  if (!existsSync('/proc/self')) return t.pass('no /proc on this system');
  const r = await segflow(['process', SAMPLE, '--out', '/proc/segflow-no-such-folder'], { timeoutMs: 60_000 });
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /--out \/proc\/segflow-no-such-folder: cannot create the folder \(.*ENOENT/);
});

test('cli › keys init and add-client write CURVE key files (mode 0600) that --curve-keys accepts; bad use is exit 2', async (t) => {
  const dir = tmpDir();
  const init = await segflow(['keys', 'init', dir, '--clients', '2']);
  t.is(init.code, 0, init.stderr);
  const { loadCurveKeys } = await import('../src/net/zmq/curve.ts');
  const server = loadCurveKeys(path.join(dir, 'server.json'), 'server');
  t.is(server.allowedClients.length, 2);
  for (const f of ['server.json', 'client-1.json', 'client-2.json']) t.is(statSync(path.join(dir, f)).mode & 0o777, 0o600, f);
  const add = await segflow(['keys', 'add-client', path.join(dir, 'server.json'), path.join(dir, 'client-3.json')]);
  t.is(add.code, 0, add.stderr);
  const c3 = loadCurveKeys(path.join(dir, 'client-3.json'), 'client');
  t.true(loadCurveKeys(path.join(dir, 'server.json'), 'server').allowedClients.includes(c3.publicKey));
  t.is(c3.serverKey, server.publicKey);
  t.is((await segflow(['keys', 'init', dir])).code, 2, 'existing key files are never overwritten');
  t.is((await segflow(['keys', 'frobnicate'])).code, 2);
});
