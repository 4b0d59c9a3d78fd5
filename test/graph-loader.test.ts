import test from 'ava';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { registry } from '../nodes/index.ts';
import { GraphError } from '../src/core/errors.ts';
import { toDot } from '../src/core/graph/dot.ts';
import { parseGraph } from '../src/core/graph/loader.ts';
import { segflow, tmpDir } from './helpers/cli.ts';

const ok = `version: 1
nodes:
  decode:  { type: decoder, options: { path: a.mp4 } }
  segment: { type: two-branch-segmenter, in: { frame: decode.frame } }
  overlay: { type: overlay, in: { frame: decode.frame, labels: segment.labels } }
  video:   { type: encoder, options: { path: out.mp4 }, in: { frame: overlay.frame } }
`;

function err(text: string, sets: string[] = []): GraphError {
  const e = (() => {
    try {
      parseGraph(text, 'g.yaml', registry, { sets });
    } catch (x) {
      return x;
    }
    return undefined;
  })();
  if (!(e instanceof GraphError)) throw new Error(`expected a GraphError, got ${String(e)}`);
  return e;
}

test('validate › a good graph loads in topological order with defaults filled in', (t) => {
  const g = parseGraph(ok, 'g.yaml', registry);
  t.deepEqual(g.nodes.map((n) => n.name), ['decode', 'segment', 'overlay', 'video']);
  t.is(g.nodes[1]!.options.keyframeIntervalFrames, 1);
  t.is(g.nodes[3]!.queue.policy, 'lossless');
});

test('validate › unknown node type on line 4 → exit 2 naming line 4 and the type', async (t) => {
  const dir = tmpDir();
  const f = path.join(dir, 'bad.yaml');
  writeFileSync(f, ok.replace('type: two-branch-segmenter', 'type: two-branch-segmentr'));
  const r = await segflow(['validate', f]);
  t.is(r.code, 2);
  t.regex(r.stderr, /bad\.yaml:4 /);
  t.regex(r.stderr, /unknown node type 'two-branch-segmentr'/);
  t.notRegex(r.stderr, /at .*\.ts:\d+/); // no stack trace
});

test('validate › a bad option names node, option, expected and found', (t) => {
  const e = err(ok.replace('{ frame: decode.frame } }\n  overlay', '{ frame: decode.frame }, options: { keyframeIntervalFrames: 0 } }\n  overlay'));
  t.is(e.line, 4);
  t.regex(e.message, /segment\.options\.keyframeIntervalFrames/);
  t.regex(e.message, /got 0/);
});

test('validate › an unknown option is refused', (t) => {
  const e = err(ok.replace('path: out.mp4', 'path: out.mp4, bitrateKbps: 5'));
  t.regex(e.message, /video\.options/);
  t.regex(e.message, /bitrateKbps/);
});

test('validate › an unwired input is named', (t) => {
  const e = err(ok.replace(', labels: segment.labels', ''));
  t.regex(e.message, /input 'labels' \(labels\) is not wired/);
  t.is(e.line, 5);
});

test('validate › a mis-kinded port says what was expected and what was found', (t) => {
  const e = err(ok.replace('labels: segment.labels', 'labels: decode.frame'));
  t.regex(e.message, /expected a 'labels' stream, but decode\.frame is 'frame'/);
});

test('validate › a missing upstream node and port are named', (t) => {
  t.regex(err(ok.replace('in: { frame: decode.frame } }', 'in: { frame: decoder.frame } }')).message, /no node named 'decoder'/);
  t.regex(err(ok.replace('in: { frame: decode.frame } }', 'in: { frame: decode.frames } }')).message, /has no output 'frames'/);
});

test('validate › a cycle is refused', (t) => {
  const g = `version: 1
nodes:
  decode: { type: decoder, options: { path: a.mp4 } }
  a: { type: overlay, in: { frame: b.frame, labels: s.labels } }
  b: { type: downsampler, in: { frame: a.frame } }
  s: { type: two-branch-segmenter, in: { frame: decode.frame } }
`;
  t.regex(err(g).message, /cycle between nodes a → b/);
});

test('validate › broken YAML reports its line', (t) => {
  const e = err('version: 1\nnodes:\n  a: { type: decoder\n  b: [\n');
  t.regex(e.message, /YAML/);
  t.truthy(e.line);
});

test('validate › --set overrides an option and is validated like the file', (t) => {
  const g = parseGraph(ok, 'g.yaml', registry, { sets: ['segment.keyframeIntervalFrames=5'] });
  t.is(g.nodes.find((n) => n.name === 'segment')!.options.keyframeIntervalFrames, 5);
  t.regex(err(ok, ['segment.keyframeIntervalFrames=-1']).message, /--set segment\.keyframeIntervalFrames=-1/);
  t.regex(err(ok, ['nosuch.x=1']).message, /no node named 'nosuch'/);
});

test('validate › edges fed by a live source default to freshest', (t) => {
  const g = parseGraph(ok.replace('path: out.mp4 }, in', 'path: out.mp4 }, queue: { policy: freshest, size: 3 }, in'), 'g.yaml', registry);
  t.deepEqual(g.nodes.find((n) => n.name === 'video')!.queue, { policy: 'freshest', size: 3 });
});

test('graph › --dot draws every node and edge', async (t) => {
  const r = await segflow(['graph', 'graphs/dashcam-offline.yaml', '--dot']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^digraph segflow/);
  for (const n of ['decode', 'small', 'keys', 'segment', 'carry', 'labels', 'overlay', 'video', 'masks', 'stats']) t.true(r.stdout.includes(`"${n}"`), n);
  t.is((r.stdout.match(/->/g) ?? []).length, 12);
  t.regex(r.stdout, /subgraph "cluster_segmentation" \{\n.*label="executor segmentation \(one worker thread\)"(.*\n){1,2}\s+"keys" \[/, 'the executor\'s nodes in one box');
});

test('validate › a camera URL with a password is not echoed in a graph error (a mistyped rtsp:// scheme, an unknown node in --set)', (t) => {
  const live = `version: 1
nodes:
  camera: { type: rtsp-source, options: { url: "rtsp://127.0.0.1:8554/cam" } }
  small:  { type: downsampler, in: { frame: camera.frame } }
  segment: { type: two-branch-segmenter, in: { frame: small.frame } }
  browser: { type: websocket-sink, options: { port: 8090 }, in: { labels: segment.labels } }
`;
  for (const sets of [['camera.url=rstp://admin:s3cret@10.0.0.5/stream1'], ['cam.url=rtsp://admin:s3cret@10.0.0.5/stream1'], ['camera.url=rtsp://admin:s3 cret@10.0.0.5/stream1']]) {
    const e = err(live, sets);
    t.false(/s3 ?cret/.test(e.message), e.message);
    t.regex(e.message, /admin:\*\*\*@10\.0\.0\.5/);
  }
  // In the file itself too.
  const e = err(live.replace('rtsp://127.0.0.1:8554/cam', 'rtps://admin:s3cret@10.0.0.5/stream1'));
  t.false(e.message.includes('s3cret'), e.message);
  t.regex(e.message, /expected an rtsp:\/\/ or rtsps:\/\/ URL, got 'rtps:\/\/admin:\*\*\*@10\.0\.0\.5\/stream1'/);
});

test('graph › the drawing shows no secrets: a camera password (user:***@) and a WebSocket token are hidden', (t) => {
  const g = parseGraph(`version: 1
nodes:
  camera: { type: rtsp-source, options: { url: "rtsp://admin:s3cret@10.0.0.5/s1" } }
  small:  { type: downsampler, in: { frame: camera.frame } }
  segment: { type: two-branch-segmenter, in: { frame: small.frame } }
  browser: { type: websocket-sink, options: { port: 8090, token: tok-0123456789 }, in: { labels: segment.labels } }
`, 'g.yaml', registry);
  const dot = toDot(g);
  t.false(dot.includes('s3cret'), dot);
  t.false(dot.includes('tok-0123456789'), dot);
  t.regex(dot, /url: rtsp:\/\/admin:\*\*\*@10\.0\.0\.5\/s1/);
  t.regex(dot, /token: \*\*\*/);
});
