/**
 * TensorFlow.js engine: Fast-SCNN (training/fast_scnn.py) re-built from tf ops,
 * for machines without onnxruntime or where TF.js is the better runtime.
 *
 * Weights come from weights.json + weights.bin (training/export.py): every conv
 * with its BatchNorm folded in, PyTorch layout OIHW; they are converted once at
 * load to HWIO (conv) or [kh,kw,C,1] (depthwise). Activations are NHWC; the
 * `dims` of a tensor still read [1,C,H,W] and `read()`/`wrap()` are
 * channel-major. Paddings are PyTorch's symmetric ones (never 'same') and every
 * resize is bilinear with half-pixel centres (PyTorch align_corners=False).
 *
 * Backend: tfjs-node(-gpu) ('tensorflow') when installed, else WASM (SIMD,
 * single-threaded in Node), else the plain JS CPU backend. SEGFLOW_TFJS_BACKEND
 * forces one. Math runs synchronously inside tf.tidy; only the tensors handed
 * back to the caller survive, and each has one owner (see engine.ts).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { upsampleArgmax } from '../../kernels/upsample.ts';
import type { EngineOptions, SegEngine, Tensor4 } from './engine.ts';

type Dims = readonly [number, number, number, number];

class TfT implements Tensor4 {
  constructor(readonly t: tf.Tensor4D) {}
  get dims(): Dims {
    const [n, h, w, c] = this.t.shape;
    return [n, c, h, w];
  }
}

/** One exported conv: BN folded, optional ReLU. */
interface Conv {
  readonly w: tf.Tensor4D;
  readonly b: tf.Tensor1D;
  readonly stride: number;
  readonly pad: number;
  readonly dilation: number;
  readonly depthwise: boolean;
  readonly relu: boolean;
  readonly cin: number;
  readonly cout: number;
}

interface Entry {
  readonly name: string;
  readonly shape: number[];
  readonly offset: number;
  readonly conv?: { stride: number; pad: number; dilation: number; groups: number; relu: boolean };
}

/** PyramidPooling: a fixed GRID x GRID resample, average-pooled into BINS x BINS cells. */
const GRID = 12;
const BINS = [1, 2, 3, 6] as const;

async function useBackend(name: string): Promise<boolean> {
  try {
    if (name === 'tensorflow') {
      for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
        try {
          await import(pkg);
          break;
        } catch {
          /* not installed */
        }
      }
      if (!tf.findBackendFactory('tensorflow')) return false;
    } else if (name === 'wasm') {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      const dist = path.join(path.dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
      wasm.setWasmPaths(dist + path.sep);
    } else if (name === 'cpu') {
      await import('@tensorflow/tfjs-backend-cpu');
    }
    return await tf.setBackend(name);
  } catch {
    return false;
  }
}

async function pickBackend(): Promise<string> {
  const forced = process.env.SEGFLOW_TFJS_BACKEND;
  if (forced) {
    if (await useBackend(forced)) return forced;
    throw new Error(`tfjs engine: SEGFLOW_TFJS_BACKEND=${forced} could not be started`);
  }
  if (await useBackend('tensorflow')) return 'tensorflow';
  if (await useBackend('wasm')) return 'wasm';
  console.warn('tfjs engine: the WASM backend failed to start; falling back to the (slow) JS cpu backend');
  if (await useBackend('cpu')) return 'cpu';
  throw new Error('tfjs engine: no TF.js backend could be started (tried tensorflow, wasm, cpu)');
}

/** Read weights.json + weights.bin (or another such pair) into TF-layout convs keyed by module path. */
function loadConvs(dir: string, file: string): Map<string, Conv> {
  const jsonPath = path.join(dir, file);
  const meta = JSON.parse(readFileSync(jsonPath, 'utf8')) as { format?: string; layout?: string; tensors: Entry[] };
  if (meta.format !== 'segflow-weights-1' || meta.layout !== 'OIHW') {
    throw new Error(`${jsonPath}: expected format segflow-weights-1, layout OIHW (got ${meta.format}, ${meta.layout})`);
  }
  const buf = readFileSync(jsonPath.replace(/\.json$/, '.bin'));
  const all = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  const byName = new Map(meta.tensors.map((e) => [e.name, e]));
  const values = (e: Entry) => {
    const n = e.shape.reduce((a, b) => a * b, 1);
    if (e.offset + n > all.length) throw new Error(`${jsonPath}: ${e.name} runs past the end of the .bin`);
    return all.subarray(e.offset, e.offset + n);
  };
  const convs = new Map<string, Conv>();
  for (const be of meta.tensors) {
    if (!be.conv || !be.name.endsWith('.b')) continue;
    const key = be.name.slice(0, -2);
    const we = byName.get(`${key}.w`);
    if (!we || we.shape.length !== 4) throw new Error(`${jsonPath}: ${key}.w missing or not 4-D`);
    const [cout, cinPerGroup, kh, kw] = we.shape as [number, number, number, number];
    const { stride, pad, dilation, groups, relu } = be.conv;
    const depthwise = groups > 1;
    if (depthwise && (groups !== cout || cinPerGroup !== 1)) throw new Error(`${jsonPath}: ${key}: only depthwise grouped convs are supported`);
    // OIHW -> HWIO (conv2d) or [kh, kw, C, 1] (depthwise): same transpose of O and I/g.
    const w = tf.tidy(() => tf.transpose(tf.tensor4d(values(we), [cout, cinPerGroup, kh, kw]), depthwise ? [2, 3, 0, 1] : [2, 3, 1, 0]));
    const b = tf.tensor1d(values(be));
    convs.set(key, { w, b, stride, pad, dilation, depthwise, relu, cin: depthwise ? cout : cinPerGroup, cout });
  }
  return convs;
}

/** `m`: the model's manifest (model.ts `Manifest`); only its parts are read. */
export async function createTfjsEngine(dir: string, m: { readonly parts: Readonly<Record<string, string>> }, o: EngineOptions = {}): Promise<SegEngine> {
  const backend = await pickBackend();
  const before = tf.memory().numTensors;
  const mainFile = m.parts.tfjsWeights ?? 'weights.json';
  const convs = loadConvs(dir, mainFile);
  // A fuser beside the model's own (export.py --add-fuser) has its own weights file.
  const fuserFile = o.fuser?.tfjsWeights ?? mainFile;
  const fuserConvs = o.fuser?.tfjsWeights ? loadConvs(dir, o.fuser.tfjsWeights) : convs;
  const weightCount = tf.memory().numTensors - before;
  let disposed = false;
  const find = (name: string, from: Map<string, Conv>, file: string): Conv => {
    const c = from.get(name);
    if (!c) throw new Error(`tfjs engine: ${path.join(dir, file)} has no conv '${name}'`);
    return c;
  };
  const L = (name: string) => find(name, convs, mainFile);
  const F = (name: string) => find(name, fuserConvs, fuserFile);

  // The network, resolved once so that a missing weight fails at load.
  const shallowNet = ['shallow.net.0', 'shallow.net.1.0', 'shallow.net.1.1', 'shallow.net.2.0', 'shallow.net.2.1'].map(L);
  const blocks: { convs: Conv[]; residual: boolean }[] = [];
  for (let i = 0; convs.has(`deep.blocks.${i}.block.0`); i++) {
    const c = [0, 1, 2].map((j) => L(`deep.blocks.${i}.block.${j}`));
    blocks.push({ convs: c, residual: c[1]!.stride === 1 && c[0]!.cin === c[2]!.cout });
  }
  const ppmStages = BINS.map((_, i) => L(`deep.ppm.stages.${i}`));
  const ppmOut = L('deep.ppm.out');
  const [lowDw, lowPw, highPw] = [L('head.low_dw'), L('head.low_pw'), L('head.high_pw')];
  const cls = ['head.cls.0.0', 'head.cls.0.1', 'head.cls.1.0', 'head.cls.1.1', 'head.cls.3'].map(L);
  const cell = o.fuser?.cell;
  const fuser = cell ? { inp: F('fuser.inp'), gates: F('fuser.gates'), cand: F('fuser.cand'), dw: F('fuser.cand_dw'), out: cell === 'lstm' ? F('fuser.out') : undefined } : undefined;

  const conv = (x: tf.Tensor4D, c: Conv): tf.Tensor4D => {
    const args = { x, filter: c.w, bias: c.b, strides: c.stride, pad: c.pad, dilations: c.dilation, activation: c.relu ? ('relu' as const) : ('linear' as const) };
    return c.depthwise ? tf.fused.depthwiseConv2d(args) : tf.fused.conv2d(args);
  };
  const seq = (x: tf.Tensor4D, cs: readonly Conv[]) => cs.reduce(conv, x);
  const resize = (x: tf.Tensor4D, size: [number, number]) => tf.image.resizeBilinear(x, size, false, true);
  const hw = (x: tf.Tensor4D): [number, number] => [x.shape[1], x.shape[2]];
  const own = (t: Tensor4): tf.Tensor4D => {
    if (!(t instanceof TfT)) throw new TypeError('tfjs engine: tensor from another engine');
    if (t.t.isDisposed) throw new Error('tfjs engine: tensor already released');
    return t.t;
  };

  const readChw = async (t: Tensor4): Promise<Float32Array> => {
    const x = own(t);
    const chw = tf.tidy(() => tf.transpose(x, [0, 3, 1, 2]));
    try {
      return (await chw.data()) as Float32Array;
    } finally {
      chw.dispose();
    }
  };
  return {
    name: 'tfjs',
    backend,
    async shallow(image, h, w) {
      return new TfT(tf.tidy(() => seq(tf.transpose(tf.tensor4d(image, [1, 3, h, w]), [0, 2, 3, 1]), shallowNet)));
    },
    async deep(high) {
      const x0 = own(high);
      return new TfT(
        tf.tidy(() => {
          const x = blocks.reduce((x, b) => (b.residual ? tf.add<tf.Tensor4D>(x, seq(x, b.convs)) : seq(x, b.convs)), x0);
          const g = resize(x, [GRID, GRID]);
          const pooled = BINS.map((bin, i) => resize(conv(tf.avgPool(g, GRID / bin, GRID / bin, 'valid'), ppmStages[i]!), hw(x)));
          return conv(tf.concat([x, ...pooled], 3), ppmOut);
        }),
      );
    },
    async head(high, low) {
      const [h, l] = [own(high), own(low)];
      return new TfT(
        tf.tidy(() => {
          const lowF = seq(resize(l, hw(h)), [lowDw, lowPw]);
          return seq(tf.relu(tf.add<tf.Tensor4D>(lowF, conv(h, highPw))), cls);
        }),
      );
    },
    // training/fast_scnn.py TemporalFuser (gru) or TemporalFuserLSTM (lstm), step for step.
    fuse: fuser && (async (high, state) => {
      const [h, s] = [own(high), own(state)];
      if (fuser.out) {
        const out = fuser.out;
        return new TfT(
          tf.tidy(() => {
            const c = s.shape[3] / 2;
            const [hh, cc] = tf.split(s, [c, c], 3) as [tf.Tensor4D, tf.Tensor4D];
            const x = tf.relu(conv(resize(h, hw(s)), fuser.inp));
            const xh = tf.concat([x, hh], 3);
            const [i, f, o] = tf.split(tf.sigmoid(conv(xh, fuser.gates)), [c, c, c], 3) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
            const g = tf.tanh(conv(conv(xh, fuser.cand), fuser.dw));
            const c2 = tf.add<tf.Tensor4D>(tf.mul<tf.Tensor4D>(f, cc), tf.mul<tf.Tensor4D>(i, g));
            const h2 = tf.relu(tf.add<tf.Tensor4D>(hh, conv(tf.mul<tf.Tensor4D>(o, tf.tanh(c2)), out)));
            return tf.concat([h2, c2], 3);
          }),
        );
      }
      return new TfT(
        tf.tidy(() => {
          const c = s.shape[3];
          const x = tf.relu(conv(resize(h, hw(s)), fuser.inp));
          const zr = tf.sigmoid(conv(tf.concat([x, s], 3), fuser.gates));
          const [z, r] = tf.split(zr, [c, c], 3) as [tf.Tensor4D, tf.Tensor4D];
          const n = tf.relu(conv(conv(tf.concat([x, tf.mul<tf.Tensor4D>(r, s)], 3), fuser.cand), fuser.dw));
          return tf.add<tf.Tensor4D>(tf.mul<tf.Tensor4D>(tf.sub<tf.Tensor4D>(1, z), s), tf.mul<tf.Tensor4D>(z, n));
        }),
      );
    }),
    fuserCell: cell,
    fuserState(low) {
      const l = own(low);
      return new TfT(tf.tidy(() => tf.concat([l, tf.zerosLike(l)], 3)));
    },
    fuserFeatures(state) {
      const s = own(state);
      const c = s.shape[3];
      if (c % 2) throw new Error(`tfjs engine: a fuser state has an even channel count, got ${c}`);
      return new TfT(tf.tidy(() => tf.slice(s, [0, 0, 0, 0], [-1, -1, -1, c / 2])));
    },
    async labels(scores, h, w) {
      // Scores come back at 1/8 (small); upsampleArgmax interpolates only near class boundaries,
      // exactly as the ONNX engine does.
      const [, sh, sw, c] = own(scores).shape as number[];
      return upsampleArgmax(await readChw(scores), c!, sh!, sw!, h, w);
    },
    read: readChw,
    wrap(data, dims) {
      const [n, c, h, w] = dims;
      return new TfT(tf.tidy(() => tf.transpose(tf.tensor4d(data, [n, c, h, w]), [0, 2, 3, 1])));
    },
    release(t) {
      if (t instanceof TfT) t.t.dispose();
    },
    liveTensors: () => tf.memory().numTensors - (disposed ? 0 : weightCount),
    async dispose() {
      if (disposed) return;
      disposed = true;
      for (const map of new Set([convs, fuserConvs])) {
        for (const c of map.values()) tf.dispose([c.w, c.b]);
        map.clear();
      }
    },
  };
}
