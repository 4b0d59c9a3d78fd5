/**
 * segflow as a library: the graph loader and runner, every node as a typed
 * factory, and RxJS operators for composing nodes in your own `pipe()`.
 * The composition root of the library: src/ never imports nodes/; this file
 * gives the apps (processFiles) the package's node types.
 */
import './src/segmentation/engine/ort-env.ts'; // ONNX Runtime's telemetry off before any thread starts
import type { Registry } from './src/core/graph/loader.ts';
import { processFiles as processWith, type ProcessOptions, type Summary } from './src/apps/process.ts';
import { registry } from './nodes/index.ts';

export * from './src/core/packet.ts';
export * from './src/core/errors.ts';
export * from './src/core/node.ts';
export { loadGraphFile, parseGraph, type GraphDef, type NodeDef } from './src/core/graph/loader.ts';
export { runGraph, type RunOptions, type RunResult } from './src/core/graph/runner.ts';
export { toDot } from './src/core/graph/dot.ts';
export { Metrics } from './src/core/runtime/metrics.ts';
export { EdgeQueue, serial, type QueuePolicy } from './src/core/runtime/queue.ts';
export { freshest, type FreshestOptions } from './src/core/runtime/operators/freshest.ts';
export { FlowControl } from './src/core/runtime/flow.ts';
export { joinBySeq, type JoinOptions } from './src/core/runtime/operators/join-by-seq.ts';
export { createNodeContext, type NodeContextInit } from './src/core/runtime/context.ts';
export { wireNode } from './src/core/runtime/wire.ts';
export { loadModel, Model, type Manifest } from './src/segmentation/engine/model.ts';
export type { Summary };
export { probe, ffmpegPaths } from './src/media/ffmpeg.ts';
export { subscribe, streamUrl, type MaskFrame, type SubscribeOptions } from './src/net/ws/client.ts';
export { registry, nodeSpecs } from './nodes/index.ts';
export * from './operators.ts';

/** `segflow process` as a function: every file through the graph, with this package's node types unless `registry` is given. */
export function processFiles(o: Omit<ProcessOptions, 'registry'> & { readonly registry?: Registry }): Promise<Summary> {
  return processWith({ ...o, registry: o.registry ?? registry });
}
