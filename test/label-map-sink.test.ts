/**
 * label-map-sink: class-id PNGs written by the real ffmpeg and read back pixel for pixel, the
 * classes.json beside them, the colour masks in the palette's colours, and a map whose size changes
 * refused. (The default graph's label folders are checked in offline-outputs.test.ts.)
 */
import test from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { from, lastValueFrom, toArray } from 'rxjs';
import sharp from 'sharp';
import { writeLabelMaps } from '../operators.ts';
import type { Labels } from '../src/core/packet.ts';
import { classesJson, colourFilter } from '../src/media/label-maps.ts';
import { tmpDir } from './helpers/cli.ts';

const W = 7, H = 5; // odd sizes: no row padding hides an off-by-one
const PALETTE = [[0, 0, 0], [128, 64, 128], [250, 170, 30]] as [number, number, number][];
const labels = (seq: number, w = W, h = H): Labels => ({
  kind: 'labels', source: 'cam', seq, ptsMs: seq * 40, width: w, height: h,
  classes: Uint8Array.from({ length: w * h }, (_, i) => (i * 5 + seq) % 3), classNames: ['Void', 'Road', 'Sign'], palette: PALETTE, path: 'full',
});

/** A PNG's size, its stored channels, and its pixels (gray: one byte each; else RGB). */
async function pixels(png: string): Promise<{ data: Buffer; width: number; height: number; channels: number }> {
  const channels = (await sharp(png).metadata()).channels!;
  const img = channels === 1 ? sharp(png).toColourspace('b-w') : sharp(png);
  const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels };
}

test('label-map-sink › PNG pixel values are the class ids; classes.json says so; colour masks are the palette colours', async (t) => {
  const dir = path.join(tmpDir('segflow-masks-'), 'labels');
  const maps = [labels(0), labels(1), labels(2)];
  const done = await lastValueFrom(from(maps).pipe(writeLabelMaps({ dir, color: true }), toArray()));
  t.deepEqual(done.map((l) => l.seq), [0, 1, 2]);
  t.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.png')).sort(), ['000000.png', '000001.png', '000002.png']);
  for (const [i, m] of maps.entries()) {
    const p = await pixels(path.join(dir, `00000${i}.png`));
    t.deepEqual([p.width, p.height, p.channels], [W, H, 1], `map ${i}: 8-bit gray`);
    t.deepEqual([...p.data], [...m.classes], `map ${i}: pixel = class id`);
    const c = await pixels(path.join(dir, 'color', `00000${i}.png`));
    t.deepEqual([c.width, c.height, c.channels], [W, H, 3]);
    t.deepEqual([...c.data], [...m.classes].flatMap((k) => PALETTE[k]!), `colour mask ${i}`);
  }
  const cj = JSON.parse(readFileSync(path.join(dir, 'classes.json'), 'utf8'));
  t.deepEqual([cj.width, cj.height, cj.frames], [W, H, 3]);
  t.deepEqual(cj.classes, [{ id: 0, name: 'Void', color: [0, 0, 0] }, { id: 1, name: 'Road', color: [128, 64, 128] }, { id: 2, name: 'Sign', color: [250, 170, 30] }]);
  t.regex(cj.format, /pixel value = class id/);
  t.regex(JSON.parse(readFileSync(path.join(dir, 'color', 'classes.json'), 'utf8')).format, /pixel colour = the class colour/);
  t.false(existsSync(`${dir}.partial`), 'the temporary folder was renamed');
});

test('label-map-sink › a map whose size changes is refused with both sizes; nothing is left under the output name', async (t) => {
  const dir = path.join(tmpDir('segflow-masks-'), 'labels');
  await t.throwsAsync(lastValueFrom(from([labels(0), labels(1, 8, 5)]).pipe(writeLabelMaps({ dir }))), { message: /label size changed from 7x5 to 8x5/ });
  t.false(existsSync(dir));
});

// ---- the per-run pure functions (src/media/label-maps.ts) ------------------------------------

test('label-maps › classesJson: the text by hand, one class a line; a class without a colour is black; plain JSON', (t) => {
  const l: Labels = { ...labels(0), classNames: ['Void', 'Road', 'Pole'], palette: [[0, 0, 0], [128, 64, 128]] };
  const text = classesJson(l, 12, 'class id');
  t.is(text, [
    '{',
    '  "format": "8-bit grayscale PNG per frame (000000.png = the first frame); pixel value = class id",',
    '  "width": 7,',
    '  "height": 5,',
    '  "frames": 12,',
    '  "classes": [',
    '    {"id":0,"name":"Void","color":[0,0,0]},',
    '    {"id":1,"name":"Road","color":[128,64,128]},',
    '    {"id":2,"name":"Pole","color":[0,0,0]}',
    '  ]',
    '}',
    '',
  ].join('\n'));
  t.deepEqual(JSON.parse(classesJson(l, 0, 'colour')).format, 'RGB PNG per frame (000000.png = the first frame); pixel colour = the class colour');
});

test('label-maps › colourFilter: one lutrgb expression per channel, ids in order, any other id black', (t) => {
  t.is(colourFilter([[10, 20, 30], [250, 170, 0]]),
    'format=rgb24,lutrgb=r=if(eq(val\\,0)\\,10\\,if(eq(val\\,1)\\,250\\,0)):g=if(eq(val\\,0)\\,20\\,if(eq(val\\,1)\\,170\\,0)):b=if(eq(val\\,0)\\,30\\,if(eq(val\\,1)\\,0\\,0))');
  t.is(colourFilter([]), 'format=rgb24,lutrgb=r=0:g=0:b=0');
});
