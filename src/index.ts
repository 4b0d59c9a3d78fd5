/**
 * segflow as a library: the graph loader and runner, every node as a typed
 * factory, and RxJS operators for composing nodes in your own `pipe()`.
 */
export * from './packet.ts';
export * from './errors.ts';
export * from './node.ts';
export { loadGraphFile, parseGraph, type GraphDef, type NodeDef } from './graph/loader.ts';
export { runGraph, type RunOptions, type RunResult } from './graph/runner.ts';
export { toDot } from './graph/dot.ts';
export { Metrics } from './runtime/metrics.ts';
export { EdgeQueue, serial, type QueuePolicy } from './runtime/queue.ts';
export { freshest, type FreshestOptions } from './runtime/operators/freshest.ts';
export { FlowControl } from './runtime/flow.ts';
export { joinBySeq, type JoinOptions } from './core/runtime/operators/join-by-seq.ts';
export { createNodeContext, type NodeContextInit } from './core/runtime/context.ts';
export { wireNode } from './core/runtime/wire.ts';
export { loadModel, Model, type Manifest } from './engine/model.ts';
export { processFiles, type Summary } from './process.ts';
export { probe, ffmpegPaths } from './ffmpeg.ts';
export { registry, nodeSpecs } from '../nodes/index.ts';
export * from './operators.ts';
