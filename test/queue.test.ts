/**
 * Fleet processing: the pieces (Redis URLs, job identity, chunk ranges, path
 * checks) and a worker's life (SIGTERM finishes the job, a second SIGTERM
 * releases it, Prometheus metrics), with a real redis-server.
 */
import test from 'ava';
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { chunkIdentity, chunkRanges, chunksDir, fileJobId, optionsHash, requireAbsolute } from '../src/apps/queue/jobs.ts';
import { folderNow } from '../src/apps/queue/worker.ts';
import { parseRedisUrl } from '../src/apps/queue/redis-url.ts';
import { SAMPLE, segflow, spawnSegflow, tmpDir, watchChild } from './helpers/cli.ts';
import { redisServerPath, startRedis } from './helpers/redis.ts';
import { ffmpeg } from './helpers/videos.ts';

const HAVE_REDIS = redisServerPath() !== undefined;
const withRedis = HAVE_REDIS ? test.serial : test.serial.skip;
if (!HAVE_REDIS) console.log('queue: redis-server is not installed (apt-get install redis-server): skipping the tests that need it');

test('queue › redis URL: host, port, password, db, TLS', (t) => {
  t.like(parseRedisUrl('redis://127.0.0.1:6380').options, { host: '127.0.0.1', port: 6380, db: 0, maxRetriesPerRequest: null });
  const p = parseRedisUrl('redis://:s%40cret@redis.fleet:6379/3');
  t.like(p.options, { host: 'redis.fleet', port: 6379, db: 3, password: 's@cret' });
  t.is(p.display, 'redis://:***@redis.fleet:6379/3', 'the password never reaches a message');
  t.like(parseRedisUrl('rediss://user:pw@[::1]:6390/1').options, { host: '::1', port: 6390, db: 1, username: 'user', password: 'pw', tls: { servername: '::1' } });
});

test('queue › redis URL: a wrong one says what was expected and what arrived', (t) => {
  t.throws(() => parseRedisUrl('http://x:1'), { instanceOf: TypeError, message: /--queue: expected redis:\/\/.*got the scheme 'http:'/ });
  t.throws(() => parseRedisUrl('redis://host'), { message: /got no port in 'redis:\/\/host'/ });
  t.throws(() => parseRedisUrl('redis://host:6379/x'), { message: /expected a database number .* got '\/x'/ });
  t.throws(() => parseRedisUrl('localhost:6379'), { message: /expected redis:\/\/.* got/ });
});

test('queue › chunk ranges: N frames each, the last reads to the end', (t) => {
  t.deepEqual(chunkRanges(25, 10), [{ start: 0, count: 10 }, { start: 10, count: 10 }, { start: 20, count: 0 }]);
  t.deepEqual(chunkRanges(20, 10), [{ start: 0, count: 10 }, { start: 10, count: 0 }]);
  t.deepEqual(chunkRanges(5, 10), [{ start: 0, count: 0 }]);
});

test('queue › job ids follow the input identity and the options', (t) => {
  const o1 = optionsHash({ graphHash: 'g', sets: [], chunkFrames: 10, out: '/o' });
  const o2 = optionsHash({ graphHash: 'g', sets: [], chunkFrames: 20, out: '/o' });
  const id = fileJobId('/a.mp4', 100, 5000, o1);
  t.is(fileJobId('/a.mp4', 100, 5000, o1), id, 'stable');
  t.not(fileJobId('/a.mp4', 101, 5000, o1), id, 'size');
  t.not(fileJobId('/a.mp4', 100, 6000, o1), id, 'mtime');
  t.not(fileJobId('/b.mp4', 100, 5000, o1), id, 'path');
  t.not(fileJobId('/a.mp4', 100, 5000, o2), id, 'options');
  t.notRegex(id, /:/, 'BullMQ ids may not contain ":"');
});

test('queue › output folder at run time: the submitted name if free or ours, else the next free one (as process names it)', (t) => {
  const out = tmpDir('segflow-q-names-');
  const id = { rel: 'cars/0001.mp4', size: 10, mtimeMs: 5, sample: 'x' };
  t.deepEqual(folderNow(out, 'cars__0001', path.join(out, 'cars__0001'), id), { name: 'cars__0001', dir: path.join(out, 'cars__0001') });
  // Someone else's folder under that name: left alone, the next name, with a note saying why.
  mkdirSync(path.join(out, 'cars__0001'));
  writeFileSync(path.join(out, 'cars__0001', 'notes.txt'), 'mine');
  const other = folderNow(out, 'cars__0001', path.join(out, 'cars__0001'), id);
  t.is(other.name, 'cars__0001-2');
  t.regex(other.note ?? '', /exists and is left alone: no result\.json/);
  // This input's complete output: reused (the job is already done).
  mkdirSync(path.join(out, 'cars__0001-2'));
  writeFileSync(path.join(out, 'cars__0001-2', 'result.json'), JSON.stringify({ status: 'ok', identity: id }));
  t.like(folderNow(out, 'cars__0001-2', path.join(out, 'cars__0001-2'), id), { name: 'cars__0001-2', existing: { status: 'ok' } });
  t.like(folderNow(out, 'cars__0001-2', path.join(out, 'cars__0001-2'), { ...id, size: 11 }), { name: 'cars__0001-3' }, 'another version of the file');
});

test('queue › chunks: a hidden folder per file, an identity per range', (t) => {
  t.is(chunksDir('/o', 'rec1'), path.join('/o', '.segflow-rec1.chunks'));
  const id = { rel: 'a.mp4', size: 1, mtimeMs: 2 };
  t.is(chunkIdentity(id, 10, 10).rel, 'a.mp4#frames=10+10');
  t.not(chunkIdentity(id, 10, 10).rel, chunkIdentity(id, 10, 20).rel);
  t.is(chunkIdentity(id, 20, 0).rel, 'a.mp4#frames=20+end');
});

test('queue › relative paths are refused with --queue', async (t) => {
  t.throws(() => requireAbsolute('clips/a.mp4', 'input'), { message: /input 'clips\/a\.mp4': expected an absolute path with --queue .* e\.g\. \// });
  const r = await segflow(['process', 'samples/synthetic-road.mp4', '--out', '/tmp/x', '--queue', 'redis://127.0.0.1:1']);
  t.is(r.code, 2);
  t.regex(r.stderr, /input 'samples\/synthetic-road\.mp4': expected an absolute path with --queue/);
  const o = await segflow(['process', SAMPLE, '--out', 'out', '--queue', 'redis://127.0.0.1:1']);
  t.is(o.code, 2);
  t.regex(o.stderr, /--out 'out': expected an absolute path/);
  const u = await segflow(['worker', '--queue', 'redis://nowhere']);
  t.is(u.code, 2);
  t.regex(u.stderr, /got no port/);
});

withRedis('queue › worker: SIGTERM finishes the current job; twice releases it to the queue with no attempt used; metrics on --metrics-port', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const inDir = tmpDir('segflow-q-in-');
  const out = tmpDir('segflow-q-out-');
  const a = path.join(inDir, 'a.mp4');
  const b = path.join(inDir, 'b.mp4');
  await ffmpeg(['-i', SAMPLE, '-frames:v', '100', '-vf', 'scale=320:180', '-c:v', 'libx264', '-preset', 'ultrafast', a]);
  await ffmpeg(['-i', SAMPLE, '-frames:v', '20', '-vf', 'scale=320:180', '-c:v', 'libx264', '-preset', 'ultrafast', b]);
  utimesSync(b, new Date(), new Date(Date.now() - 1000));

  // Decoded at the video's rate, so a job lasts its duration (a: 4 s) however fast the machine is.
  const REALTIME = ['--set', 'decode.realtime=true'];
  // One SIGTERM: the job in hand is finished, then the worker exits 0.
  t.is((await segflow(['process', a, '--out', out, '--queue', redis.url, '--no-wait', ...REALTIME])).code, 0);
  const w1 = spawnSegflow(['worker', '--queue', redis.url, '--metrics-port', '0']);
  const x1 = watchChild(w1);
  t.teardown(() => w1.kill('SIGKILL'));
  const port = Number((await x1.until(/metrics on http:\/\/127\.0\.0\.1:(\d+)/))[1]);
  await x1.until(/file \S+a\.mp4 \(attempt 1 of 3\)/);
  // The queue's counts are refreshed every 2 s: poll while the job runs.
  const ACTIVE = /segflow_queue_bullmq_job_count\{[^}]*state="active"[^}]*\} 1/;
  let text = '';
  for (let i = 0; i < 40 && !ACTIVE.test(text) && !/a\.mp4 done/.test(x1.text()); i++) {
    await new Promise((r) => setTimeout(r, 250));
    text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  }
  t.regex(text, ACTIVE);
  w1.kill('SIGTERM');
  await x1.until(/finishing the current job/);
  t.is(await x1.exit, 0, x1.text());
  t.regex(x1.text(), /file \S+a\.mp4 done: 100 frames/);

  // Two SIGTERMs: the job goes back to the queue, its attempt not counted; the next worker does it.
  t.is((await segflow(['process', b, '--out', out, '--queue', redis.url, '--no-wait', ...REALTIME])).code, 0);
  const w2 = spawnSegflow(['worker', '--queue', redis.url]);
  const x2 = watchChild(w2);
  t.teardown(() => w2.kill('SIGKILL'));
  await x2.until(/file \S+b\.mp4 \(attempt 1 of 3\)/);
  w2.kill('SIGTERM');
  await x2.until(/finishing the current job/);
  w2.kill('SIGTERM');
  t.is(await x2.exit, 130, x2.text());
  t.regex(x2.text(), /released \S+b\.mp4 to the queue/);
  const st = JSON.parse((await segflow(['status', '--queue', redis.url, '--json'])).stdout);
  t.like(st.files.find((f: { input: string }) => f.input === b), { state: 'waiting', attempts: 0 });
  const w3 = spawnSegflow(['worker', '--queue', redis.url]);
  const x3 = watchChild(w3);
  t.teardown(() => w3.kill('SIGKILL'));
  await x3.until(/file \S+b\.mp4 done: 20 frames/);
  t.regex(x3.text(), /file \S+b\.mp4 \(attempt 1 of 3\)/, 'the release used no attempt');
  const r = await segflow(['process', a, b, '--out', out, '--queue', redis.url, ...REALTIME]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /2 files: 0 submitted, 2 already done, 0 already queued/);
  w3.kill('SIGTERM');
  t.is(await x3.exit, 0);
});
