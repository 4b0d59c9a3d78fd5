/** Every node type, listed explicitly. The registry maps type names to specs. */
import type { NodeSpec } from '../src/node.ts';
import { decoder } from './decoder.ts';
import { downsampler } from './downsampler.ts';
import { encoder } from './encoder.ts';
import { labelMapSink } from './label-map-sink.ts';
import { overlay } from './overlay.ts';
import { statisticsSink } from './statistics-sink.ts';
import { twoBranchSegmenter } from './two-branch-segmenter.ts';

export { decoder, downsampler, encoder, labelMapSink, overlay, statisticsSink, twoBranchSegmenter };

export const nodeSpecs: readonly NodeSpec[] = [decoder, downsampler, twoBranchSegmenter, overlay, encoder, labelMapSink, statisticsSink];

export const registry: ReadonlyMap<string, NodeSpec> = new Map(nodeSpecs.map((s) => [s.type, s]));
