import * as ort from 'onnxruntime-node';
import { createRequire } from 'node:module';
const dir = 'models/fast-scnn-camvid/';
const level = process.argv[2] ?? 'all';
const suffix = process.argv[3] ?? '';
const c0 = process.cpuUsage(); const t0 = performance.now();
createRequire(import.meta.url)('onnxruntime-node/dist/binding.js').initOrt?.();
const c1 = process.cpuUsage(c0); const t1 = performance.now();
const opts = (p) => ({ executionProviders: ['cpu'], intraOpNumThreads: 2, interOpNumThreads: 1, graphOptimizationLevel: level, executionMode: 'sequential',
  extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } }, ...(process.env.SAVE ? { optimizedModelFilePath: `/tmp/su/opt-${p}` } : {}) });
const s = await Promise.all(['shallow', 'deep', 'head', 'fuser'].map((p) => ort.InferenceSession.create(dir.replace('models', process.env.MDIR ?? 'models') + p + suffix + '.onnx', opts(p + '.onnx'))));
const c2 = process.cpuUsage(c0);
console.log(level, suffix, 'init', ((c1.user + c1.system) / 1000).toFixed(0), 'ms cpu; sessions', ((c2.user + c2.system - c1.user - c1.system) / 1000).toFixed(0), 'ms cpu', (performance.now() - t1).toFixed(0), 'ms wall');
