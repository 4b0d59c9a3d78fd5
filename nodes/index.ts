/**
 * Every node type, listed explicitly. The registry maps type names to specs.
 *
 * Loading it is cheap: a spec is its contract (ports, option schema) and an
 * `open()`; native and heavy packages (onnxruntime and TF.js through the
 * model, zeromq, ws) are imported inside `open()`, so `import 'segflow'`
 * loads none of them until a node that needs one is created
 * (test/package.test.ts checks this on the installed package).
 */
import type { NodeSpec } from '../src/core/node.ts';
import { decoder } from './decoder.ts';
import { downsampler } from './downsampler.ts';
import { encoder } from './encoder.ts';
import { keyframeScheduler } from './keyframe-scheduler.ts';
import { labelMapSink } from './label-map-sink.ts';
import { labelPropagation } from './label-propagation.ts';
import { labelResizer } from './label-resizer.ts';
import { overlay } from './overlay.ts';
import { rtspSource } from './rtsp-source.ts';
import { statisticsSink } from './statistics-sink.ts';
import { temporalFuser } from './temporal-fuser.ts';
import { twoBranchSegmenter } from './two-branch-segmenter.ts';
import { websocketSink } from './websocket-sink.ts';
import { zmqSink } from './zmq-sink.ts';
import { zmqSource } from './zmq-source.ts';

export { decoder, downsampler, encoder, keyframeScheduler, labelMapSink, labelPropagation, labelResizer, overlay, rtspSource, statisticsSink, temporalFuser, twoBranchSegmenter, websocketSink, zmqSink, zmqSource };

export const nodeSpecs: readonly NodeSpec[] = [decoder, downsampler, keyframeScheduler, twoBranchSegmenter, temporalFuser, overlay, encoder, labelMapSink, statisticsSink, labelPropagation, labelResizer, rtspSource, websocketSink, zmqSink, zmqSource];

export const registry: ReadonlyMap<string, NodeSpec> = new Map(nodeSpecs.map((s) => [s.type, s]));
