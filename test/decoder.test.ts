import test from 'ava';
import { lastValueFrom, toArray } from 'rxjs';
import { InputError } from '../src/errors.ts';
import { decode } from '../src/operators.ts';
import { SAMPLE } from './helpers/cli.ts';

test('decoder › emits every frame with seq, timestamps and a start mark', async (t) => {
  const frames = await lastValueFrom(decode({ path: SAMPLE, maxFrames: 30 }).pipe(toArray()));
  t.is(frames.length, 30);
  t.deepEqual(frames.map((f) => f.seq), Array.from({ length: 30 }, (_, i) => i));
  t.is(frames[0]!.discontinuity, 'start');
  t.is(frames[1]!.discontinuity, undefined);
  t.is(frames[25]!.ptsMs, 1000);
  t.deepEqual([frames[0]!.width, frames[0]!.height, frames[0]!.data.length], [640, 360, 640 * 360 * 3]);
});

test('decoder › refuses frames larger than maxPixels before allocating any', async (t) => {
  const e = await t.throwsAsync(lastValueFrom(decode({ path: SAMPLE, maxPixels: 640 * 360 - 1 })));
  t.true(e instanceof InputError);
  t.regex(e!.message, /frames are 640x360 \(230400 pixels\); expected at most 230399/);
});
