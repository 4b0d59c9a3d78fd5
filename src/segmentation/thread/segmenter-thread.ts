/**
 * The worker-thread side of ThreadedSegmenter (src/thread/segmenter.ts): it
 * owns a Model and a ReuseSegmenter and answers one message per frame, in
 * order. Everything native (ONNX Runtime sessions, TF.js tensors) lives and
 * dies in this thread: `close` disposes the model before the thread exits.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadModel, type Model } from '../engine/model.ts';
import { ReuseSegmenter } from '../temporal.ts';
import type { FrameReply, FrameRequest, InitRequest, OpenReply, ThreadInit } from './segmenter.ts';

const port = parentPort!;
let model: Model | undefined;
let reuse: ReuseSegmenter | undefined;

// One listener for the thread's life (a message that came while none was attached would be lost).
// Frames and `close` are handled strictly one after another (the reuse state is sequential), after
// the model has loaded; a spare closed before it was given a model just ends.
let giveInit: (init: ThreadInit) => void = () => {};
let hasInit = workerData !== undefined;
let chain: Promise<void> = Promise.resolve();
port.on('message', (m: FrameRequest | InitRequest | { type: 'close' }) => {
  if (m.type === 'init') {
    hasInit = true;
    return giveInit(m.init);
  }
  if (m.type === 'close' && !hasInit) return port.close();
  chain = chain.then(() => handle(m));
});

// A spare thread (ThreadedSegmenter.prewarm() without a model) starts with no workerData: it loads
// the ONNX engine and initialises ONNX Runtime while the caller's JS thread is still loading, then
// waits for the model to load.
const init = (workerData as ThreadInit | undefined) ?? await (async () => {
  const given = new Promise<ThreadInit>((resolve) => (giveInit = resolve));
  await import('../engine/onnx.ts').then((m) => m.warmOnnx()).catch(() => {});
  return given;
})();

chain = (async () => {
  try {
    model = await loadModel({ model: init.model, engine: init.engine, threads: init.threads, fuserCell: init.mode.fuserCell });
    reuse = new ReuseSegmenter(model, init.mode);
    const boot = (globalThis as { segflowThreadBoot?: 'bundle' | 'tsx' }).segflowThreadBoot ?? 'tsx';
    port.postMessage({ type: 'open', manifest: model.manifest, engine: model.engine.name, backend: model.engine.backend, dir: model.dir, boot } satisfies OpenReply);
  } catch (e) {
    await model?.dispose().catch(() => {});
    model = undefined;
    port.postMessage({ type: 'open', error: e instanceof Error ? e.message : String(e) } satisfies OpenReply);
    port.close();
  }
})();

async function handle(m: FrameRequest | { type: 'close' }): Promise<void> {
  if (m.type === 'close') {
    await model?.dispose().catch(() => {});
    model = undefined;
    port.close();
    return;
  }
  try {
    if (!reuse) throw new Error('segmenter thread: the model did not load');
    if (m.reset) reuse.reset();
    const r = await reuse.run(m.rgb, m.width, m.height, m.thumb, m.key);
    // A copy handed over: the propagator keeps these labels for the next frame.
    const classes = r.classes.slice();
    const transfer: ArrayBuffer[] = [classes.buffer];
    let scores = r.scores;
    if (scores) {
      scores = { ...scores, data: scores.data.slice() };
      transfer.push(scores.data.buffer as ArrayBuffer);
    }
    port.postMessage({ type: 'frame', id: m.id, classes, path: r.path, scores, runs: { ...model!.runs } } satisfies FrameReply, transfer);
  } catch (e) {
    port.postMessage({ type: 'frame', id: m.id, error: e instanceof Error ? e.message : String(e) } satisfies FrameReply);
  }
}
