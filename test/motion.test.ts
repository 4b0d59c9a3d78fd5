/**
 * The motion kernels label propagation runs on (src/kernels/motion.ts): block matching recovers a
 * known shift, and thumbnail() and warpLabels() equal their plain reference loops on real frames.
 * (Moved from temporal.test.ts.)
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { ffmpegPaths } from '../src/media/ffmpeg.ts';
import { blockMotion, blockMotionScalar, changeScore, changeScoreScalar, thumbnail, thumbnail2Scalar, warpLabels, type Thumb } from '../src/kernels/motion.ts';
import { motionSimd } from '../src/kernels/motion-simd.ts';
import { SAMPLE } from './helpers/cli.ts';

const W = 320, H = 180;
/** The first n frames of the bundled sample at 320x180, decoded by the real ffmpeg. */
function sampleFrames(n: number): Uint8Array[] {
  const buf = execFileSync(ffmpegPaths().ffmpeg, ['-v', 'error', '-i', SAMPLE, '-frames:v', String(n), '-vf', `scale=${W}:${H}`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { maxBuffer: 1 << 28 });
  return Array.from({ length: n }, (_, i) => new Uint8Array(buf.subarray(i * W * H * 3, (i + 1) * W * H * 3)));
}

test('motion › block matching recovers a known shift and warps labels with it', (t) => {
  const w = 480, h = 272;
  const a = new Uint8Array(w * h * 3);
  for (let i = 0; i < a.length; i++) a[i] = (Math.imul(i / 3 | 0, 2654435761) >>> 24);
  const b = new Uint8Array(a.length); // content moved 8 px right
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) b[(y * w + x) * 3 + c] = a[(y * w + Math.max(0, x - 8)) * 3 + c]!;
  const m = blockMotion(thumbnail(a, w, h), thumbnail(b, w, h));
  const labels = new Uint8Array(w * h).map((_, i) => ((i % w) >> 4) % 11);
  const warped = warpLabels(labels, w, h, m);
  let ok = 0;
  for (let y = 0; y < h; y++) for (let x = 16; x < w - 16; x++) ok += warped[y * w + x] === labels[y * w + x - 8] ? 1 : 0;
  t.true(ok / (h * (w - 32)) > 0.98, `${ok / (h * (w - 32))}`);
});

/** The plain per-byte box filter thumbnail() must equal (its word-wise fast path is an optimisation). */
function thumbnailReference(rgb: Uint8Array, w: number, h: number, thumbWidth = 240): Uint8Array {
  const f = Math.max(1, Math.round(w / thumbWidth));
  const tw = Math.floor(w / f), th = Math.floor(h / f);
  const out = new Uint8Array(tw * th);
  for (let ty = 0; ty < th; ty++) for (let tx = 0; tx < tw; tx++) {
    let s = 0;
    for (let y = ty * f; y < ty * f + f; y++) for (let x = tx * f; x < tx * f + f; x++) for (let c = 0; c < 3; c++) s += rgb[(y * w + x) * 3 + c]!;
    out[ty * tw + tx] = s / (f * f * 3);
  }
  return out;
}

/** warpLabels() without its run merging and block copies: every pixel from its cell's vector. */
function warpReference(labels: Uint8Array, lw: number, lh: number, m: ReturnType<typeof blockMotion>, cell = 8): Uint8Array {
  const out = new Uint8Array(lw * lh);
  const { bw, bh, block, vectors: v } = m;
  const sx = m.thumb.width / lw, sy = m.thumb.height / lh;
  for (let cy = 0; cy < lh; cy += cell) for (let cx = 0; cx < lw; cx += cell) {
    const xEnd = Math.min(lw, cx + cell), yEnd = Math.min(lh, cy + cell);
    const t = (((xEnd + cx) / 2) * sx) / block - 0.5, u = (((cy + yEnd) / 2) * sy) / block - 0.5;
    // the horizontal weight is kept in float32, as warpLabels keeps it per column of cells
    const x0 = Math.max(0, Math.min(bw - 1, Math.floor(t))), x1 = Math.min(bw - 1, x0 + 1), a = Math.fround(Math.max(0, Math.min(1, t - x0)));
    const y0 = Math.max(0, Math.min(bh - 1, Math.floor(u))), y1 = Math.min(bh - 1, y0 + 1), b = Math.max(0, Math.min(1, u - y0));
    const at = (bx: number, by: number, k: number) => v[(by * bw + bx) * 2 + k]!;
    const vx = (1 - b) * ((1 - a) * at(x0, y0, 0) + a * at(x1, y0, 0)) + b * ((1 - a) * at(x0, y1, 0) + a * at(x1, y1, 0));
    const vy = (1 - b) * ((1 - a) * at(x0, y0, 1) + a * at(x1, y0, 1)) + b * ((1 - a) * at(x0, y1, 1) + a * at(x1, y1, 1));
    const dx = Math.round(vx / sx), dy = Math.round(vy / sy);
    for (let y = cy; y < yEnd; y++) for (let x = cx; x < xEnd; x++) {
      const sy_ = Math.max(0, Math.min(lh - 1, y + dy)), sx_ = Math.max(0, Math.min(lw - 1, x + dx));
      out[y * lw + x] = labels[sy_ * lw + sx_]!;
    }
  }
  return out;
}

test('motion › thumbnail and label warp equal their plain reference loops (real frames, odd sizes, random motion)', (t) => {
  const data = sampleFrames(2);
  let rng = 12345;
  const rand = () => ((rng = Math.imul(rng ^ (rng >>> 15), 2246822507) + 1) >>> 0) / 2 ** 32;
  // sizes: word-aligned fast path (320, 960), and ones that take the byte path (f*3 or w*3 not a multiple of 4)
  for (const [w, h] of [[W, H], [960, 540], [482, 271], [250, 97]] as const) {
    const rgb = new Uint8Array(w * h * 3).map((_, i) => data[0]![i % data[0]!.length]! ^ (i * 7));
    t.deepEqual(thumbnail(rgb, w, h).data, thumbnailReference(rgb, w, h), `thumbnail ${w}x${h}`);
    const off = new Uint8Array(rgb.length + 1);
    off.set(rgb, 1); // an unaligned view takes the byte path too
    t.deepEqual(thumbnail(off.subarray(1), w, h).data, thumbnailReference(rgb, w, h), `thumbnail ${w}x${h}, unaligned`);
  }
  const a = data[0]!, b = data[1]!;
  const real = blockMotion(thumbnail(a, W, H), thumbnail(b, W, H));
  for (const [lw, lh] of [[W, H], [960, 540], [333, 201]] as const) {
    const labels = new Uint8Array(lw * lh).map((_, i) => ((i % lw) * 7 + ((i / lw) | 0) * 3) % 11);
    t.deepEqual(warpLabels(labels, lw, lh, real), warpReference(labels, lw, lh, real), `real motion, labels ${lw}x${lh}`);
    for (let k = 0; k < 5; k++) {
      // smooth fields (long runs), noisy ones (short runs), and large ones (cells leaving the frame)
      const amp = [1, 4, 16, 30, 2][k]!;
      const v = new Int8Array(real.vectors.length).map((_, i) => k === 4 ? (i % 2 ? -1 : 2) : Math.round((rand() - 0.5) * 2 * amp));
      const m = { ...real, vectors: v };
      t.deepEqual(warpLabels(labels, lw, lh, m), warpReference(labels, lw, lh, m), `random motion ±${amp}, labels ${lw}x${lh}`);
    }
  }
});

test('motion › the WebAssembly SIMD block matching and change score equal their scalar loops (random and real thumbnails, odd sizes)', (t) => {
  t.truthy(motionSimd, 'Node 20 has WebAssembly SIMD');
  let rng = 987654321;
  const rand = () => ((rng = Math.imul(rng ^ (rng >>> 15), 2246822507) + 1) >>> 0) / 2 ** 32;
  const thumb = (w: number, h: number, f: (i: number) => number): Thumb => ({ width: w, height: h, scale: 0.5, data: new Uint8Array(w * h).map((_, i) => f(i)) });
  const data = sampleFrames(3);
  const real = data.map((d) => thumbnail(d, W, H));
  const cases: [Thumb, Thumb][] = [[real[0]!, real[1]!], [real[0]!, real[2]!]];
  for (const [w, h] of [[240, 135], [97, 61], [16, 16], [33, 7], [250, 3]] as const) {
    const a = thumb(w, h, () => (rand() * 256) | 0);
    cases.push([a, thumb(w, h, (i) => (a.data[i]! + ((rand() * 40) | 0) - 20) & 255)]); // noisy copy
    cases.push([a, thumb(w, h, (i) => a.data[Math.max(0, i - 3)]!)]); // shifted 3 px
    cases.push([a, thumb(w, h, () => (rand() * 256) | 0)]); // unrelated
  }
  let compared = 0;
  for (const [a, b] of cases) {
    t.is(changeScore(a, b), changeScoreScalar(a, b), `changeScore ${a.width}x${a.height}`);
    for (const [block, radius, lambda] of [[8, 4, 4], [4, 2, 4], [13, 5, 1], [16, 3, 0], [7, 6, 4]] as const) {
      const fast = blockMotion(a, b, block, radius, lambda), slow = blockMotionScalar(a, b, block, radius, lambda);
      t.deepEqual(fast, slow, `blockMotion ${a.width}x${a.height}, block ${block}, radius ${radius}, lambda ${lambda}`);
      compared++;
    }
  }
  t.is(compared, cases.length * 5);
  // the tails of changeScore's 16-byte steps, lengths 1..40
  for (let n = 1; n <= 40; n++) {
    const a = thumb(n, 1, () => (rand() * 256) | 0), b = thumb(n, 1, () => (rand() * 256) | 0);
    t.is(changeScore(a, b), changeScoreScalar(a, b), `changeScore length ${n}`);
  }
});

test('motion › the WebAssembly SIMD 2x2 thumbnail equals its scalar loop (random, saturated and real frames, odd sizes)', (t) => {
  let rng = 4242;
  const rand = () => ((rng = Math.imul(rng ^ (rng >>> 15), 2246822507) + 1) >>> 0) / 2 ** 32;
  // the SIMD path's ⌊s/12⌋ = (s · 2731) >> 15 against JS's s · (1/12) truncated, for every sum of 12 bytes
  for (let s = 0; s <= 12 * 255; s++) if (((s * 2731) >>> 15) !== Math.trunc(s * (1 / 12))) t.fail(`sum ${s}`);
  const real = sampleFrames(1)[0]!;
  for (const [w, h] of [[480, 270], [482, 271], [16, 2], [17, 3], [30, 9], [14, 4], [501, 37]] as const) {
    for (const fill of ['random', 'max', 'real'] as const) {
      const rgb = new Uint8Array(w * h * 3).map((_, i) => fill === 'max' ? 255 : fill === 'real' ? real[i % real.length]! : (rand() * 256) | 0);
      const tw = Math.floor(w / 2), th = Math.floor(h / 2);
      const ref = new Uint8Array(tw * th);
      thumbnail2Scalar(rgb, w, tw, th, 1 / 12, ref);
      const got = thumbnail(rgb, w, h, w / 2);
      t.is(got.width, tw);
      t.deepEqual(got.data, ref, `${w}x${h} ${fill}`);
    }
  }
});
