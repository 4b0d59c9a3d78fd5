/**
 * segflow as a library: the graph loader and runner, every node as a typed
 * factory, and RxJS operators for composing nodes in your own `pipe()`.
 */
export * from './core/packet.ts';
export * from './core/errors.ts';
export * from './core/node.ts';
export { loadGraphFile, parseGraph, type GraphDef, type NodeDef } from './core/graph/loader.ts';
export { runGraph, type RunOptions, type RunResult } from './core/graph/runner.ts';
export { toDot } from './core/graph/dot.ts';
export { Metrics } from './core/runtime/metrics.ts';
export { EdgeQueue, serial, type QueuePolicy } from './core/runtime/queue.ts';
export { freshest, type FreshestOptions } from './core/runtime/operators/freshest.ts';
export { FlowControl } from './core/runtime/flow.ts';
export { joinBySeq } from './core/runtime/join.ts';
export { loadModel, Model, type Manifest } from './segmentation/engine/model.ts';
export { processFiles, type Summary } from './apps/process.ts';
export { probe, ffmpegPaths } from './media/ffmpeg.ts';
export { registry, nodeSpecs } from '../nodes/index.ts';
export * from './operators.ts';
