/**
 * Renders samples/synthetic-road.mp4: a 4 s, 640x360, 25 fps procedural
 * dashcam-like scene (sky, buildings, trees, road with moving lane marks, a
 * car) so `npm start` has an input on a fresh clone. Run:
 *   node --import tsx samples/make-sample.ts
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FfmpegWriter } from '../src/media/pipe-writer.ts';

const W = 640, H = 360, FPS = 25, N = 100;
const out = path.join(path.dirname(fileURLToPath(import.meta.url)), 'synthetic-road.mp4');
const horizon = Math.round(H * 0.45);

function rnd(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

function frame(t: number): Uint8Array {
  const px = new Uint8Array(W * H * 3);
  const set = (x: number, y: number, r: number, g: number, b: number) => {
    if (x < 0 || y < 0 || x >= W || y >= H) return;
    const o = (y * W + x) * 3;
    px[o] = r; px[o + 1] = g; px[o + 2] = b;
  };
  const noise = rnd(t * 7919 + 1);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      if (y < horizon) {
        const k = y / horizon;
        set(x, y, 150 + 60 * k, 180 + 40 * k, 225 + 20 * k); // sky
      } else {
        const d = (y - horizon) / (H - horizon); // 0 at horizon .. 1 at bottom
        const half = 20 + d * W * 0.55;
        const inRoad = Math.abs(x - W / 2) < half;
        const n = (noise() - 0.5) * 12;
        if (inRoad) set(x, y, 95 + n, 92 + n, 98 + n);
        else set(x, y, 150 + n, 145 + n, 135 + n); // pavement
      }
    }
  }
  // buildings on both sides, drifting outward with time
  const r = rnd(42);
  for (let i = 0; i < 14; i++) {
    const side = i % 2 ? 1 : -1;
    const base = (r() * 0.5 + ((t * 0.004 + i * 0.07) % 0.5)) ;
    const cx = W / 2 + side * (60 + base * W * 0.9);
    const bw = 40 + r() * 70, bh = 60 + r() * 110;
    const col = [120 + r() * 60, 70 + r() * 40, 60 + r() * 30];
    for (let y = Math.round(horizon + 8 - bh); y < horizon + 8; y++) for (let x = Math.round(cx - bw / 2); x < cx + bw / 2; x++) {
      const win = (Math.floor(x / 9) + Math.floor(y / 11)) % 3 === 0;
      set(x, y, win ? 60 : col[0]!, win ? 70 : col[1]!, win ? 90 : col[2]!);
    }
  }
  // trees
  for (let i = 0; i < 6; i++) {
    const side = i % 2 ? 1 : -1;
    const cx = W / 2 + side * (140 + ((i * 37 + t * 3) % 200));
    const cy = horizon - 10 - (i % 3) * 8, rad = 22 + (i % 3) * 6;
    for (let y = cy - rad; y < cy + rad; y++) for (let x = cx - rad; x < cx + rad; x++) {
      if ((x - cx) ** 2 + (y - cy) ** 2 < rad * rad) set(Math.round(x), Math.round(y), 60, 110 + (i * 13) % 40, 40);
    }
    for (let y = cy + rad - 4; y < horizon + 12; y++) for (let x = cx - 3; x < cx + 3; x++) set(Math.round(x), Math.round(y), 90, 60, 40);
  }
  // dashed centre line moving toward the viewer
  for (let y = horizon; y < H; y++) {
    const d = (y - horizon) / (H - horizon);
    const phase = (1 / (d + 0.05) + t * 0.6) % 6;
    if (phase < 3) for (let x = -Math.round(1 + d * 5); x <= Math.round(1 + d * 5); x++) set(W / 2 + x, y, 235, 235, 225);
  }
  // a car ahead, slowly approaching
  const s = 0.6 + (t / N) * 0.5;
  const cw = 90 * s, ch = 55 * s, cx = W / 2 + 60 - t * 0.3, cy = horizon + 60 * s;
  for (let y = cy - ch; y < cy; y++) for (let x = cx - cw / 2; x < cx + cw / 2; x++) {
    const top = y < cy - ch * 0.55 && Math.abs(x - cx) > cw * 0.35;
    if (!top) set(Math.round(x), Math.round(y), y < cy - ch * 0.55 ? 70 : 150, 25, 30);
  }
  return px;
}

const w = new FfmpegWriter(['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${W}x${H}`, '-r', String(FPS), '-i', 'pipe:0',
  '-c:v', 'libx264', '-preset', 'veryslow', '-crf', '28', '-pix_fmt', 'yuv420p', '-movflags', '+faststart', '-y', out], 'make-sample');
for (let t = 0; t < N; t++) await w.write(frame(t));
await w.end();
console.log(`wrote ${out}`);
