/**
 * onnxruntime-node engine (default). CPU execution provider here, CUDA used
 * automatically when onnxruntime-node's CUDA provider is installed. ORT tensors
 * on the CPU are plain typed arrays, so `release()` only drops the reference;
 * sessions hold the native memory and are released in `dispose()`.
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import './ort-env.ts'; // telemetry off (before the import below creates anything)
import * as ort from 'onnxruntime-node';
import { upsampleArgmax } from '../../kernels/upsample.ts';
import type { EngineOptions, SegEngine, Tensor4 } from './engine.ts';

type Dims = readonly [number, number, number, number];
class OrtT implements Tensor4 {
  constructor(readonly t: ort.Tensor, readonly dims: Dims) {}
}

function providers(): string[] {
  const want = process.env.SEGFLOW_ORT_PROVIDERS?.split(',');
  if (want) return want;
  const available = ort.listSupportedBackends().filter((b) => b.bundled || b.name === 'cuda');
  return available.some((b) => b.name === 'cuda' && b.bundled) ? ['cuda', 'cpu'] : ['cpu'];
}

/**
 * Initialise ONNX Runtime in this thread now (its environment: ~90 ms, done otherwise by the first
 * session): a spare segmenter thread does it while its caller still loads. Best effort: a no-op
 * where the package's layout differs.
 */
export function warmOnnx(): void {
  try {
    (createRequire(import.meta.url)('onnxruntime-node/dist/binding.js') as { initOrt?: () => void }).initOrt?.();
  } catch {
    // the first session initialises it
  }
}

export async function createOnnxEngine(dir: string, parts: Record<string, string>, o: EngineOptions = {}): Promise<SegEngine> {
  const threads = o.threads || os.availableParallelism();
  const eps = providers();
  const opts: ort.InferenceSession.SessionOptions = {
    executionProviders: eps,
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    // Spin-waiting threads steal the core that ffmpeg and the JS thread need in a pipeline.
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  };
  const load = (p: string) => ort.InferenceSession.create(path.join(dir, p), opts);
  // parts.upsample (Resize + ArgMax) is not loaded: upsampleArgmax gives the same labels faster.
  const [shallow, deep, head, fuser] = await Promise.all([
    load(parts.shallow!), load(parts.deep!), load(parts.head!), o.fuser ? load(o.fuser.onnx) : undefined,
  ]);
  let live = 0;
  const mk = (t: ort.Tensor): OrtT => {
    live++;
    return new OrtT(t, t.dims as unknown as Dims);
  };
  const out = (r: ort.InferenceSession.OnnxValueMapType, k: string) => r[k] as ort.Tensor;
  return {
    name: 'onnx',
    backend: eps[0]!,
    async shallow(image, h, w) {
      return mk(out(await shallow.run({ image: new ort.Tensor('float32', image, [1, 3, h, w]) }), 'high'));
    },
    async deep(high) {
      return mk(out(await deep.run({ high: (high as OrtT).t }), 'low'));
    },
    async head(high, low) {
      return mk(out(await head.run({ high: (high as OrtT).t, low: (low as OrtT).t }), 'scores'));
    },
    fuse: fuser && (async (high, state) => mk(out(await fuser.run({ high: (high as OrtT).t, state: (state as OrtT).t }), 'next'))),
    fuserCell: fuser && o.fuser!.cell,
    fuserState(low) {
      const [n, c, h, w] = (low as OrtT).dims;
      const data = new Float32Array(2 * c * h * w);
      data.set((low as OrtT).t.data as Float32Array);
      return mk(new ort.Tensor('float32', data, [n, 2 * c, h, w]));
    },
    fuserFeatures(state) {
      // NCHW with N = 1: the first half of the channels is the first half of the data (no copy).
      const [n, c2, h, w] = (state as OrtT).dims;
      if (c2 % 2) throw new Error(`onnx engine: a fuser state has an even channel count, got ${c2}`);
      const c = c2 / 2;
      return mk(new ort.Tensor('float32', ((state as OrtT).t.data as Float32Array).subarray(0, c * h * w), [n, c, h, w]));
    },
    async labels(scores, h, w) {
      const [, c, sh, sw] = (scores as OrtT).dims;
      return upsampleArgmax((scores as OrtT).t.data as Float32Array, c, sh, sw, h, w);
    },
    async read(t) {
      return (t as OrtT).t.data as Float32Array;
    },
    wrap(data, dims) {
      return mk(new ort.Tensor('float32', data, [...dims]));
    },
    release(t) {
      if (t) live--;
    },
    liveTensors: () => live,
    async dispose() {
      await Promise.all([shallow.release(), deep.release(), head.release(), fuser?.release()]);
    },
  };
}
