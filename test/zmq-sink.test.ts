/**
 * zmq-sink: a graph's frames and labels pushed to another process's zmq-source, losslessly
 * (two real `segflow run` processes, a real TCP socket). The wire format, the dispatcher and the
 * scale-out runs are in test/zmq.test.ts; pub/sub joining in test/zmq-source.test.ts.
 */
import test from 'ava';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SAMPLE, segflow, spawnSegflow, tmpDir, videoFacts } from './helpers/cli.ts';
import { watch } from './helpers/child.ts';

test.serial('zmq-sink › zmq-sink → zmq-source carries frames and labels between two processes, losslessly', async (t) => {
  const dir = tmpDir('segflow-zmq-nodes-');
  const send = path.join(dir, 'send.yaml');
  const recv = path.join(dir, 'recv.yaml');
  writeFileSync(send, `version: 1
nodes:
  decode:  { type: decoder, options: { path: "${SAMPLE}", maxFrames: 30 } }
  small:   { type: downsampler, options: { width: 160, height: 96 }, in: { frame: decode.frame } }
  segment: { type: two-branch-segmenter, options: { threads: 1 }, in: { frame: small.frame } }
  masks:   { type: label-map-sink, options: { dir: "${dir}/sent" }, in: { labels: segment.labels } }
  out:     { type: zmq-sink, options: { endpoint: "tcp://127.0.0.1:0", pattern: push, hwmMessages: 4 }, in: { frame: small.frame, labels: segment.labels } }
`);
  const a = spawnSegflow(['run', send]);
  const aw = watch(a);
  const endpoint = (await aw.until(/push on (tcp:\/\/\S+)/))[1]!;
  writeFileSync(recv, `version: 1
nodes:
  in:      { type: zmq-source, options: { endpoint: "${endpoint}", pattern: pull } }
  masks:   { type: label-map-sink, options: { dir: "${dir}/received" }, in: { labels: in.labels } }
  video:   { type: encoder, options: { path: "${dir}/received.mp4" }, in: { frame: in.frame } }
`);
  const r = await segflow(['run', recv]);
  t.is(r.code, 0, r.stderr);
  t.is(await aw.exit, 0, aw.text());
  const sent = readdirSync(path.join(dir, 'sent')).filter((f) => f.endsWith('.png')).sort();
  t.is(sent.length, 30);
  t.deepEqual(readdirSync(path.join(dir, 'received')).filter((f) => f.endsWith('.png')).sort(), sent);
  t.deepEqual(sent.filter((f) => !readFileSync(path.join(dir, 'sent', f)).equals(readFileSync(path.join(dir, 'received', f)))), []);
  const v = await videoFacts(path.join(dir, 'received.mp4'));
  t.deepEqual([v.frames, v.width, v.height], [30, 160, 96]);
});
