/**
 * Wiring one node — the runtime's side of every edge, in one place (used by the
 * runner, src/graph/runner.ts, and the library operators, src/operators.ts):
 *
 *  1. each input passes its edge's queue (`EdgeQueue.edge()`: lossless passes
 *     through; freshest buffers, drops the oldest and counts, and hands the node
 *     a packet when it is ready), then starts the node's clock;
 *  2. the ports the spec names in `join` are joined by (source, seq)
 *     (./operators/join-by-seq.ts) into the one input `joined`; unmatched
 *     packets are counted in `node_unmatched_total{node,port}`;
 *  3. the node's `process()` is called with the typed streams;
 *  4. each output stops the node's clock (./timing.ts) and is counted in
 *     `node_output_packets_total{node,port}`; a sink's finished packets are
 *     followed, when its inputs end, by its `finish()`, and come back as
 *     `done` (flow control and progress; port `done` in the counter).
 */
import { concat, defer, from, mergeMap, tap, type Observable } from 'rxjs';
import type { NodeContext, NodeInstance, NodeSpec, SinkInstance, StreamInstance, Streams } from '../node.ts';
import type { PacketMeta } from '../packet.ts';
import { runtimeOf } from './context.ts';
import { joinBySeq } from './operators/join-by-seq.ts';

export interface Wired {
  /** Output streams by port (not shared: the caller shares them). */
  readonly outputs: Streams;
  /** A sink's finished packets, then those its `finish()` returns. */
  readonly done?: Observable<PacketMeta>;
}

export function wireNode(spec: Pick<NodeSpec, 'role' | 'join'>, inst: NodeInstance, ctx: NodeContext<unknown>, inputs: Readonly<Streams>): Wired {
  const { timer } = runtimeOf(ctx);
  const streams: Streams = {};
  for (const [port, s] of Object.entries(inputs)) streams[port] = (s as Observable<PacketMeta>).pipe(ctx.queue(port).edge(), timer.entering<PacketMeta>());
  if (spec.join) {
    const members: Streams = {};
    for (const port of spec.join.ports) {
      if (!streams[port]) continue;
      members[port] = streams[port];
      delete streams[port];
      ctx.metrics.count('node_unmatched_total', { node: ctx.name, port }, 0, 'Packets a join released without their partners (dropped upstream), per node and port.');
    }
    if (Object.keys(members).length > 0) {
      streams.joined = joinBySeq(members, {
        keep: spec.join.keepUnmatched ?? [],
        ...(spec.join.maxWaiting ? { maxWaiting: spec.join.maxWaiting } : {}),
        onUnmatched: (port) => ctx.metrics.count('node_unmatched_total', { node: ctx.name, port }),
      });
    }
  }
  const counted = (port: string) => tap<PacketMeta>(() => ctx.metrics.count('node_output_packets_total', { node: ctx.name, port }, 1, 'Packets a node emitted, per output port (sinks: finished packets on done).'));
  if (spec.role === 'sink') {
    const sink = inst as SinkInstance<Streams>;
    const finished = concat(sink.process(streams), defer(() => from(Promise.resolve(sink.finish?.())).pipe(mergeMap((ps): readonly PacketMeta[] => ps ?? []))));
    return { outputs: {}, done: finished.pipe(timer.leaving<PacketMeta>(), counted('done')) };
  }
  const outs: Streams = (inst as StreamInstance<Streams, Streams>).process(streams);
  const outputs: Streams = {};
  for (const [port, o] of Object.entries(outs)) outputs[port] = (o as Observable<PacketMeta>).pipe(spec.role === 'source' ? timer.emitting<PacketMeta>() : timer.leaving<PacketMeta>(), counted(port));
  return { outputs };
}
