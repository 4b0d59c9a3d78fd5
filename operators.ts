/**
 * Nodes as RxJS operators, for programs that compose their own `pipe()`.
 *
 * ```ts
 * import { share, lastValueFrom } from 'rxjs';
 * import { decode, segment, overlay, encode } from 'segflow';
 * const frames = decode({ path: 'clip.mp4' }).pipe(share());
 * await lastValueFrom(frames.pipe(overlay(frames.pipe(segment())), encode({ path: 'out.mp4', overwrite: true })));
 * ```
 *
 * Each operator opens its node when subscribed and closes it (model, child
 * process) when the stream completes, errors or is unsubscribed. There is no
 * runner here, so no flow control: a source emits as fast as it decodes.
 */
import { Observable, type OperatorFunction, type Subscriber } from 'rxjs';
import type { z } from 'zod';
import { decoder, downsampler, encoder, labelMapSink, overlay as overlayNode, statisticsSink, twoBranchSegmenter } from './nodes/index.ts';
import { createNodeContext } from './src/core/runtime/context.ts';
import { wireNode } from './src/core/runtime/wire.ts';
import type { NodeContext, NodeInstance, NodeSpec, Streams } from './src/core/node.ts';
import type { Frame, Labels, PacketMeta } from './src/core/packet.ts';

let counter = 0;

function context<S extends z.ZodType>(spec: NodeSpec<S>, options: z.input<S>, signal: AbortSignal, wired: Iterable<string>): NodeContext<z.infer<S>> {
  const parsed = spec.options.safeParse(options);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new TypeError(`${spec.type} options.${i.path.join('.')}: ${i.message}`);
  }
  return createNodeContext(spec, { name: `${spec.type}-${counter++}`, options: parsed.data, signal, wired });
}

/**
 * Open `spec`, wire `inputs` (joins, queues and timing as in a graph), emit its `port`
 * output (a sink's: `done`, the packets it finished); close the node when done.
 */
export function fromNode<S extends z.ZodType, T>(spec: NodeSpec<S>, options: z.input<S>, inputs: Streams, port: string): Observable<T> {
  return new Observable<T>((sub) => {
    const ac = new AbortController();
    let inst: NodeInstance | undefined;
    let s: { unsubscribe(): void } | undefined;
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      s?.unsubscribe();
      void inst?.close();
    };
    // Subscribe to the inputs now, not after the async open(): a shared source
    // starts with its first subscriber, and a branch that subscribed late would
    // miss its first packets. What arrives meanwhile is held and replayed once.
    const held = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, holdUntilSubscribed(v)]));
    const ctx = context(spec, options, ac.signal, Object.keys(inputs));
    spec.open(ctx).then((i) => {
      inst = i;
      if (closed) return void i.close();
      const w = wireNode(spec, i, ctx, Object.fromEntries(Object.entries(held).map(([k, h]) => [k, h.stream])));
      const out = spec.role === 'sink' && port === 'done' ? w.done : w.outputs[port];
      if (!out) throw new TypeError(`${spec.type}: no output '${port}'`);
      s = out.subscribe({
        next: (v) => sub.next(v as T),
        error: (e) => { close(); sub.error(e); },
        complete: () => { close(); sub.complete(); },
      });
    }, (e) => sub.error(e));
    return () => {
      ac.abort();
      close();
      for (const h of Object.values(held)) h.dispose();
    };
  });
}

/** Subscribe to `src` now; replay what arrived to the (single) later subscriber, then pass through. */
function holdUntilSubscribed<T>(src: Observable<T>): { stream: Observable<T>; dispose(): void } {
  let held: { kind: 'N' | 'E' | 'C'; v?: unknown }[] | undefined = [];
  let target: Subscriber<T> | undefined;
  const deliver = (n: { kind: 'N' | 'E' | 'C'; v?: unknown }, to: Subscriber<T>) =>
    n.kind === 'N' ? to.next(n.v as T) : n.kind === 'E' ? to.error(n.v) : to.complete();
  const upstream = src.subscribe({
    next: (v) => (target ? target.next(v) : held?.push({ kind: 'N', v })),
    error: (e) => (target ? target.error(e) : held?.push({ kind: 'E', v: e })),
    complete: () => (target ? target.complete() : held?.push({ kind: 'C' })),
  });
  return {
    stream: new Observable<T>((sub) => {
      const backlog = held ?? [];
      held = undefined;
      for (const n of backlog) deliver(n, sub);
      target = sub;
      return () => upstream.unsubscribe();
    }),
    dispose: () => upstream.unsubscribe(),
  };
}

type Opts<S extends NodeSpec> = z.input<S['options']>;

/** Decode a file or URL to RGB24 frames. */
export const decode = (o: Opts<typeof decoder>): Observable<Frame> => fromNode(decoder, o, {}, 'frame');
/** Resize frames. */
export const downsample = (o: Opts<typeof downsampler> = {}): OperatorFunction<Frame, Frame> => (f) => fromNode(downsampler, o, { frame: f }, 'frame');
/** Segment frames into label maps. */
export const segment = (o: Opts<typeof twoBranchSegmenter> = {}): OperatorFunction<Frame, Labels> => (f) => fromNode(twoBranchSegmenter, o, { frame: f }, 'labels');
/** Blend `labels` (joined by seq) onto the frames. */
export const overlay = (labels: Observable<Labels>, o: Opts<typeof overlayNode> = {}): OperatorFunction<Frame, Frame> => (f) => fromNode(overlayNode, o, { frame: f, labels }, 'frame');
/** Encode frames to mp4; emits each frame once written. */
export const encode = (o: Opts<typeof encoder>): OperatorFunction<Frame, PacketMeta> => (f) => fromNode(encoder, o, { frame: f }, 'done');
/** Write class-id PNGs; emits each label map once written. */
export const writeLabelMaps = (o: Opts<typeof labelMapSink>): OperatorFunction<Labels, PacketMeta> => (l) => fromNode(labelMapSink, o, { labels: l }, 'done');
/** Accumulate class shares and write JSON/CSV at the end. */
export const writeStatistics = (o: Opts<typeof statisticsSink>): OperatorFunction<Labels, PacketMeta> => (l) => fromNode(statisticsSink, o, { labels: l }, 'done');
