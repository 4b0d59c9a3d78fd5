/**
 * graph hunt › graph files written the way new users get them wrong: each test is a defect found by
 * running `segflow validate` / `segflow run` on such a graph, refused now before anything opens
 * (exit 2, a one-line message naming what was expected and what was found, nothing written).
 */
import test from 'ava';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { registry } from '../nodes/index.ts';
import { GraphError } from '../src/core/errors.ts';
import { loadGraphFile, parseGraph } from '../src/core/graph/loader.ts';
import { segflow, spawnSegflow, tmpDir, watchChild } from './helpers/cli.ts';
import { testClip } from './helpers/videos.ts';

const head = `version: 1
nodes:
  decode:  { type: decoder, options: { path: in.mp4 } }
  small:   { type: downsampler, options: { width: 64, height: 48 }, in: { frame: decode.frame } }
  seg:     { type: two-branch-segmenter, in: { frame: small.frame } }
`;

function err(text: string, vars?: Record<string, string>): GraphError {
  try {
    parseGraph(text, 'g.yaml', registry, vars ? { vars, strictVars: true } : {});
  } catch (e) {
    if (e instanceof GraphError) return e;
    throw e;
  }
  throw new Error('expected the graph to be refused');
}

test('graph hunt › two sinks writing one file: `run` refuses it with exit 2 before anything opens (no output folder, no model)', async (t) => {
  const dir = tmpDir('segflow-hunt-');
  const out = path.join(dir, 'out');
  const g = path.join(dir, 'g.yaml');
  writeFileSync(g, `${head.replace('in.mp4', path.join(dir, 'in.mp4'))}  a: { type: statistics-sink, options: { json: "${out}/s.json" }, in: { labels: seg.labels } }
  b: { type: statistics-sink, options: { json: "${out}/s.json" }, in: { labels: seg.labels } }
`);
  await testClip(path.join(dir, 'in.mp4'), { width: 64, height: 48, frames: 4 });
  const r = await segflow(['run', g]);
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /g\.yaml:7 › b\.options\.json: '.*out\/s\.json' is also a\.options\.json; one output would overwrite the other: expected a separate path for each output/);
  t.notRegex(r.stderr, /model|onnx/, 'nothing opened');
  t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  t.false(existsSync(out), 'no output folder');
});

test('graph hunt › colliding outputs are refused: one folder twice (a trailing slash), a json and a csv at one path, a file inside a label folder', (t) => {
  const twice = err(`${head}  a: { type: label-map-sink, options: { dir: out/labels }, in: { labels: seg.labels } }
  b: { type: label-map-sink, options: { dir: out/labels/ }, in: { labels: seg.labels } }
`);
  t.is(twice.line, 7);
  t.regex(twice.message, /b\.options\.dir: '.*out\/labels' is also a\.options\.dir; one output would overwrite the other/);
  t.regex(err(`${head}  a: { type: statistics-sink, options: { json: out/s.txt, csv: out/s.txt }, in: { labels: seg.labels } }
`).message, /g\.yaml:6 › a\.options\.csv: '.*out\/s\.txt' is also a\.options\.json;/);
  t.regex(err(`${head}  a: { type: label-map-sink, options: { dir: out/labels }, in: { labels: seg.labels } }
  b: { type: statistics-sink, options: { json: out/labels/stats.json }, in: { labels: seg.labels } }
`).message, /b\.options\.json: '.*out\/labels\/stats\.json' is inside a\.options\.dir \('.*out\/labels'\)/);
  // Separate paths, the same input read twice (a decoder's path as an encoder's audioFrom) and /dev/null twice are fine.
  t.notThrows(() => parseGraph(`${head}  a: { type: statistics-sink, options: { json: /dev/null, csv: /dev/null }, in: { labels: seg.labels } }
  o: { type: overlay, in: { frame: decode.frame, labels: seg.labels } }
  v: { type: encoder, options: { path: out/labels.mp4, audioFrom: in.mp4 }, in: { frame: o.frame } }
  m: { type: label-map-sink, options: { dir: out/labels }, in: { labels: seg.labels } }
`, 'g.yaml', registry));
});

test('graph hunt › an encoder writing onto its own input is refused, even with --overwrite; the input is untouched', async (t) => {
  const dir = tmpDir('segflow-hunt-');
  const clip = await testClip(path.join(dir, 'clip.mp4'), { width: 64, height: 48, frames: 4 });
  const before = readFileSync(clip);
  const g = path.join(dir, 'g.yaml');
  writeFileSync(g, `version: 1
nodes:
  decode: { type: decoder, options: { path: "${clip}" } }
  video:  { type: encoder, options: { path: "${clip}", preset: ultrafast }, in: { frame: decode.frame } }
`);
  const r = await segflow(['run', g, '--overwrite']);
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /g\.yaml:4 › video\.options\.path: '.*clip\.mp4' is also decode\.options\.path; the output would overwrite its input/);
  t.deepEqual(readFileSync(clip), before);
});

test('graph hunt › a graph with no sink, or a node whose outputs feed no sink, is refused (it ran nothing and exited 0)', async (t) => {
  const none = err(head);
  t.is(none.line, 2);
  t.regex(none.message, /expected at least one sink node \(encoder, label-map-sink, statistics-sink, websocket-sink, zmq-sink\), found none/);
  const dead = err(`${head}  stats:   { type: statistics-sink, options: { json: s.json }, in: { labels: seg.labels } }
  overlay: { type: overlay, in: { frame: decode.frame, labels: seg.labels } }
`);
  t.is(dead.line, 7);
  t.regex(dead.message, /node 'overlay' \(overlay\): its outputs feed no sink, so it would never run; expected overlay\.frame in the 'in:' of another node/);
  const dir = tmpDir('segflow-hunt-');
  const g = path.join(dir, 'g.yaml');
  writeFileSync(g, head);
  const r = await segflow(['validate', g]);
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /g\.yaml:2 › expected at least one sink node/);
});

test('graph hunt › a mistyped --var is refused with a did-you-mean (it was ignored: the graph ran on its default input)', async (t) => {
  const dir = tmpDir('segflow-hunt-');
  const out = path.join(dir, 'out');
  const r = await segflow(['run', 'graphs/dashcam-offline.yaml', '--var', 'inptu=clip.mp4', '--var', `out=${out}`]);
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /--var inptu: graphs\/dashcam-offline\.yaml has no \$\{inptu\} \(did you mean 'input'\?\); expected one of: input, out/);
  t.false(existsSync(out), 'nothing written');
  t.regex(err(head, { input: 'x.mp4' }).message, /--var input: g\.yaml has no \$\{input\}; expected one of: none/);
  // Declared or used: accepted; without strictVars (segflow process gives input and out to any graph): accepted.
  const g = `version: 1\nvars: { out: o }\nnodes:\n  decode: { type: decoder, options: { path: "\${input}" } }\n  v: { type: encoder, options: { path: o.mp4 }, in: { frame: decode.frame } }\n`;
  t.notThrows(() => parseGraph(g, 'g.yaml', registry, { vars: { input: 'a.mp4', out: 'x' }, strictVars: true }));
  t.notThrows(() => parseGraph(g.replace('vars: { out: o }\n', ''), 'g.yaml', registry, { vars: { input: 'a.mp4', out: 'x' } }));
});

test('graph hunt › a graph file that is not UTF-8 is refused naming its line and byte (a Latin-1 é became U+FFFD in a path); a BOM with CRLF loads', (t) => {
  const dir = tmpDir('segflow-hunt-');
  const f = path.join(dir, 'latin1.yaml');
  writeFileSync(f, Buffer.concat([Buffer.from(`${head}  v: { type: encoder, options: { path: "caf`), Buffer.from([0xe9]), Buffer.from(`.mp4" }, in: { frame: decode.frame } }\n  s: { type: statistics-sink, options: { json: s.json }, in: { labels: seg.labels } }\n`)]));
  const e = t.throws(() => loadGraphFile(f, registry), { instanceOf: GraphError });
  t.regex(e!.message, /latin1\.yaml:6 › expected UTF-8 text, found byte 0xE9, which is not UTF-8/);
  t.is(e!.line, 6);
  const bom = path.join(dir, 'bom.yaml');
  writeFileSync(bom, '\ufeff' + `${head}  s: { type: statistics-sink, options: { json: "caf\u00e9.json" }, in: { labels: seg.labels } }\n`.replace(/\n/g, '\r\n'));
  const g = loadGraphFile(bom, registry);
  t.is(g.nodes.find((n) => n.name === 's')!.options.json, 'caf\u00e9.json');
});

test('graph hunt › a second YAML document, a mistyped node reference and a bare node name get plain messages', (t) => {
  const multi = err(`${head}  s: { type: statistics-sink, options: { json: s.json }, in: { labels: seg.labels } }\n---\nversion: 1\n`);
  t.is(multi.line, 7);
  t.regex(multi.message, /YAML: expected one document, found a second one \('---' starts another; one graph per file\)$/);
  t.notRegex(multi.message, /parseAllDocuments/);
  t.regex(err(`${head}  stats: { type: statistics-sink, options: { json: s.json }, in: { labels: sge.labels } }\n`).message,
    /stats\.in\.labels: no node named 'sge' \(did you mean 'seg'\?\); expected one of: decode, small, seg, stats/);
  // A bare node name, without its port.
  t.regex(err(`${head}  stats: { type: statistics-sink, options: { json: s.json }, in: { labels: seg } }\n`).message,
    /g\.yaml:6 › stats\.in\.labels: expected 'node\.port', found 'seg' \(did you mean 'seg\.labels'\?\)$/);
});

test('graph hunt › frames and labels from two different sources are refused (overlay, label-propagation: the run stalled at 0 frames)', (t) => {
  const two = `version: 1
nodes:
  d1:    { type: decoder, options: { path: a.mp4 } }
  d2:    { type: decoder, options: { path: b.mp4 } }
  small: { type: downsampler, options: { width: 64, height: 48 }, in: { frame: d2.frame } }
  seg:   { type: two-branch-segmenter, in: { frame: small.frame } }
`;
  const over = err(`${two}  o: { type: overlay, in: { frame: d1.frame, labels: seg.labels } }
  v: { type: encoder, options: { path: o.mp4 }, in: { frame: o.frame } }
`);
  t.is(over.line, 7);
  t.regex(over.message, /o\.in\.labels: o \(overlay\) pairs its frame and labels packets by source and frame number, but o\.in\.frame comes from d1 and o\.in\.labels from d2, so none would pair and the run would stall; expected both from the same source/);
  t.regex(err(`${two}  p: { type: label-propagation, in: { frame: d1.frame, labels: seg.labels } }
  s: { type: statistics-sink, options: { json: s.json }, in: { labels: p.labels } }
`).message, /p\.in\.labels: p \(label-propagation\) pairs its frame and labels .* from d1 .* from d2/);
  // The same source through other nodes pairs; zmq-sink sends unmatched packets of both ports alone.
  t.notThrows(() => parseGraph(`${two}  o: { type: overlay, in: { frame: small.frame, labels: seg.labels } }
  v: { type: encoder, options: { path: o.mp4 }, in: { frame: o.frame } }
  z: { type: zmq-sink, options: { endpoint: "tcp://127.0.0.1:5599" }, in: { frame: d1.frame, labels: seg.labels } }
`, 'g.yaml', registry));
});

test('graph hunt › a decoder straight into the segmenter (no downsampler) validates with a warning (full-size frames to the segmenter, resized there)', async (t) => {
  const direct = `version: 1
nodes:
  decode: { type: decoder, options: { path: a.mp4 } }
  seg:    { type: two-branch-segmenter, in: { frame: decode.frame } }
  stats:  { type: statistics-sink, options: { json: s.json }, in: { labels: seg.labels } }
`;
  const w = parseGraph(direct, 'g.yaml', registry).warnings ?? [];
  t.is(w.length, 1);
  t.regex(w[0]!, /^g\.yaml:4 › seg: its frames come from decode \(decoder\) at the video's own size, with no downsampler between.*expected a downsampler \(options: \{ longSidePx: 480 \}\) before seg, or set seg\.inputWidth and inputHeight$/);
  // Not for a downsampler on the way (through a keyframe-scheduler), a decoder that scales, or an inference size.
  t.is(parseGraph(head + '  stats: { type: statistics-sink, options: { json: s.json }, in: { labels: seg.labels } }\n', 'g.yaml', registry).warnings, undefined);
  t.is(parseGraph(direct.replace('path: a.mp4', 'path: a.mp4, maxSidePx: 480'), 'g.yaml', registry).warnings, undefined);
  t.is(parseGraph(direct.replace('in: { frame: decode.frame }', 'options: { inputWidth: 480, inputHeight: 272 }, in: { frame: decode.frame }'), 'g.yaml', registry).warnings, undefined);
  for (const g of ['dashcam-offline', 'dashcam-offline-fuser', 'rtsp-live', 'rtsp-live-every-frame']) {
    t.is(loadGraphFile(path.join('graphs', `${g}.yaml`), registry).warnings, undefined, g);
  }
  const dir = tmpDir('segflow-hunt-');
  writeFileSync(path.join(dir, 'g.yaml'), direct);
  const r = await segflow(['validate', path.join(dir, 'g.yaml')]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /^warning: .*g\.yaml:4 › seg: its frames come from decode/);
  t.regex(r.stdout, /^ok: /);
});

test('graph hunt › an encoder path ending in .avi, .mkv or .gif is refused (an MP4 was written under that name)', (t) => {
  const g = (p: string) => `version: 1
nodes:
  decode: { type: decoder, options: { path: a.mp4 } }
  video:  { type: encoder, options: { path: "${p}" }, in: { frame: decode.frame } }
`;
  for (const p of ['out.avi', 'out/overlay.mkv', 'o.mp4/x.gif']) {
    const e = err(g(p));
    t.is(e.line, 4, p);
    t.regex(e.message, new RegExp(`video\\.options\\.path: expected an \\.mp4 path \\(the encoder writes H\\.264 in MP4, whatever the extension\\), got '${p.replace(/\./g, '\\.')}'`));
  }
  for (const p of ['out.mp4', 'OUT.MP4', 'o/x.m4v', 'o.d/no-extension']) t.notThrows(() => parseGraph(g(p), 'g.yaml', registry), p);
});

test('graph hunt › a queue on a source (no inputs) is refused (it was ignored: the decoder\'s frames were never dropped)', (t) => {
  const e = err(head.replace('options: { path: in.mp4 } }', 'options: { path: in.mp4 }, queue: { policy: freshest, size: 1 } }') + '  stats: { type: statistics-sink, options: { json: s.json }, in: { labels: seg.labels } }\n');
  t.is(e.line, 3);
  t.regex(e.message, /decode\.queue: decode \(decoder\) has no inputs, and a queue holds a node's inputs; expected it on the nodes that take decode\.frame/);
  t.notThrows(() => parseGraph(head.replace('in: { frame: small.frame } }', 'in: { frame: small.frame }, queue: { policy: freshest, size: 1 } }') + '  stats: { type: statistics-sink, options: { json: s.json }, in: { labels: seg.labels } }\n', 'g.yaml', registry));
});

test('graph hunt › a YAML merge key (<<: *anchor) gets a message saying so (it was "unknown key \'<<\'"); an alias of a whole value loads', (t) => {
  const merged = err(`${head}  a: &sink { type: statistics-sink, options: { json: a.json }, in: { labels: seg.labels } }
  b:
    <<: *sink
    options: { json: b.json }
`);
  t.is(merged.line, 8);
  t.regex(merged.message, /YAML: merge keys \('<<: \*anchor', YAML 1\.1\) are not supported; expected the keys written out/);
  const g = parseGraph(`${head}  a: { type: statistics-sink, options: &o { json: a.json }, in: { labels: seg.labels } }
  o: { type: overlay, in: { frame: decode.frame, labels: seg.labels } }
  v: { type: encoder, options: { path: v.mp4, preset: &p ultrafast }, in: { frame: o.frame } }
  w: { type: encoder, options: { path: w.mp4, preset: *p }, in: { frame: o.frame } }
`, 'g.yaml', registry);
  t.is(g.nodes.find((n) => n.name === 'w')!.options.preset, 'ultrafast');
});

test('graph hunt › an encoder\'s audioFrom naming a missing file fails the run, nothing written (it gave a silent video and exit 0)', async (t) => {
  const dir = tmpDir('segflow-hunt-');
  const clip = await testClip(path.join(dir, 'clip.mp4'), { width: 64, height: 48, frames: 4 });
  const out = path.join(dir, 'out');
  const g = path.join(dir, 'g.yaml');
  writeFileSync(g, `version: 1
nodes:
  decode: { type: decoder, options: { path: "${clip}" } }
  video:  { type: encoder, options: { path: "${out}/v.mp4", audioFrom: "${path.join(dir, 'clip.mp3')}", preset: ultrafast }, in: { frame: decode.frame } }
`);
  const r = await segflow(['run', g]);
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /clip\.mp3: no such file \(video\.audioFrom: the file whose audio goes into .*out\/v\.mp4\)/);
  t.false(existsSync(out), 'no output folder');
});

test('graph hunt › `segflow process` with a graph writing outside ${out} is refused (every input wrote that one file: the second failed, or with --overwrite replaced the first)', async (t) => {
  const dir = tmpDir('segflow-hunt-');
  const a = await testClip(path.join(dir, 'a.mp4'), { width: 64, height: 48, frames: 4 });
  const b = await testClip(path.join(dir, 'b.mp4'), { width: 64, height: 48, frames: 4 });
  const fixed = path.join(dir, 'fixed');
  const g = path.join(dir, 'g.yaml');
  writeFileSync(g, `version: 1
vars: { input: x.mp4, out: o }
nodes:
  decode: { type: decoder, options: { path: "\${input}" } }
  video:  { type: encoder, options: { path: "\${out}/overlay.mp4", preset: ultrafast }, in: { frame: decode.frame } }
  stats:  { type: statistics-sink, options: { json: "${fixed}/s.json" }, in: { labels: seg.labels } }
  small:  { type: downsampler, options: { width: 64, height: 48 }, in: { frame: decode.frame } }
  seg:    { type: two-branch-segmenter, in: { frame: small.frame } }
`);
  const out = path.join(dir, 'out');
  const r = await segflow(['process', a, b, '--out', out, '--graph', g, '--overwrite']);
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /g\.yaml:6 › stats\.options\.json: '.*fixed\/s\.json' is not under --out, so every input would write it .*expected a path under "\$\{out\}\/"/);
  t.false(existsSync(out), 'no --out folder');
  t.false(existsSync(fixed), 'nothing written');
});

test('graph hunt › YAML 1.1 habits get a hint: `legend: yes` (text in YAML 1.2), `width: "64"` (a quoted number)', (t) => {
  const over = `${head}  o: { type: overlay, options: { legend: yes }, in: { frame: decode.frame, labels: seg.labels } }
  v: { type: encoder, options: { path: v.mp4 }, in: { frame: o.frame } }
`;
  t.regex(err(over).message, /g\.yaml:6 › o\.options\.legend: .*expected boolean.*, got 'yes' \(YAML 1\.2 reads yes as text; write true or false\)$/);
  t.regex(err(over.replace('legend: yes', 'legend: On')).message, /got 'On' \(YAML 1\.2 reads On as text; write true or false\)$/);
  t.regex(err(head.replace('width: 64', 'width: "64"') + '  s: { type: statistics-sink, options: { json: s.json }, in: { labels: seg.labels } }\n').message,
    /g\.yaml:4 › small\.options\.width: .*expected number.*, got '64' \(text, not a number: write 64 without quotes; a \$\{var\} is always text\)$/);
  t.notRegex(err(head.replace('width: 64', 'width: "wide"') + '  s: { type: statistics-sink, options: { json: s.json }, in: { labels: seg.labels } }\n').message, /without quotes/);
});

test('graph hunt › a freshest queue fed by a file (README\'s example) validates with a warning: the outputs miss frames', (t) => {
  const g = `version: 1
nodes:
  decode:  { type: decoder, options: { path: in.mp4 } }
  small:   { type: downsampler, options: { width: 64, height: 48 }, in: { frame: decode.frame } }
  segment: { type: two-branch-segmenter, in: { frame: small.frame },
             queue: { policy: freshest, size: 1 } }
  overlay: { type: overlay, in: { frame: decode.frame, labels: segment.labels } }
  video:   { type: encoder, options: { path: o.mp4 }, in: { frame: overlay.frame } }
`;
  const w = parseGraph(g, 'g.yaml', registry).warnings ?? [];
  t.is(w.length, 1);
  t.regex(w[0]!, /^g\.yaml:6 › segment\.queue: freshest, fed by a file \(decode\) read as fast as it goes, drops every packet segment cannot take at once, so the outputs miss frames; expected lossless/);
  // A file played at its own rate (realtime: true) stands in for a camera; lossless is the default.
  t.is(parseGraph(g.replace('path: in.mp4', 'path: in.mp4, realtime: true'), 'g.yaml', registry).warnings, undefined);
  t.is(parseGraph(g.replace('policy: freshest, size: 1', 'policy: lossless'), 'g.yaml', registry).warnings, undefined);
});

test('graph hunt › an output under /proc fails with one clear line (Node\'s recursive mkdir spun there for ever, deaf to SIGTERM)', async (t) => {
  if (!existsSync('/proc/self')) return t.pass('no /proc on this system');
  const dir = tmpDir('segflow-hunt-');
  const clip = await testClip(path.join(dir, 'clip.mp4'), { width: 64, height: 48, frames: 4 });
  const g = path.join(dir, 'g.yaml');
  writeFileSync(g, `version: 1
nodes:
  decode: { type: decoder, options: { path: "${clip}" } }
  video:  { type: encoder, options: { path: /proc/segflow-hunt/v.mp4, preset: ultrafast }, in: { frame: decode.frame } }
`);
  const child = spawnSegflow(['run', g]);
  const w = watchChild(child);
  // A deadline with SIGKILL: the old hang ignored SIGTERM.
  const kill = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const code = await w.exit;
  clearTimeout(kill);
  t.is(code, 1, w.text());
  t.regex(w.text(), /video: cannot create the folder \/proc\/segflow-hunt for \/proc\/segflow-hunt\/v\.partial\.mp4: ENOENT/);
});
