/**
 * Runs a validated graph on RxJS streams.
 *
 * Nodes open in topological order (a failure closes what opened), then each
 * node's `process()` is wired to its upstream outputs; every output is shared
 * (`share()`), so fan-out hands the same packet object to every consumer, and
 * every input passes through its edge's queue (`EdgeQueue.edge()`: lossless
 * passes through, freshest buffers, drops the oldest and delivers when the node
 * is ready; src/runtime/queue.ts), whatever the node does with it; declared
 * joins, per-node timing and output counts are the runtime's too
 * (src/core/runtime/wire.ts). Each sink's finished packets (then its
 * `finish()`) drive each source's flow control (lossless edges) and end the
 * run when every sink completes. Aborting the
 * signal (SIGINT/SIGTERM) makes sources complete, so the end of stream flows
 * through and sinks finalise their outputs; then every node is closed.
 */
import { map, merge, share, type Observable } from 'rxjs';
import { createNodeContext } from '../runtime/context.ts';
import { wireNode } from '../runtime/wire.ts';
import type { NodeInstance, Streams } from '../node.ts';
import type { PacketMeta } from '../packet.ts';
import { FlowControl } from '../runtime/flow.ts';
import { Metrics } from '../runtime/metrics.ts';
import { EdgeQueue } from '../runtime/queue.ts';
import { withExecutors } from '../executor.ts';
import type { GraphDef } from './loader.ts';

export interface RunOptions {
  readonly signal?: AbortSignal;
  readonly metrics?: Metrics;
  readonly log?: (message: string) => void;
  /** Called for every packet a sink finishes. */
  readonly onDone?: (sink: string, p: PacketMeta) => void;
  /** Called once every node has opened, before packets flow (not when an open failed or the signal came first). */
  readonly onOpened?: () => void;
}

export interface RunResult {
  readonly metrics: Metrics;
  /** True when the run was stopped by its signal before the sources ended. */
  readonly interrupted: boolean;
}

export async function runGraph(graph: GraphDef, opts: RunOptions = {}): Promise<RunResult> {
  // Nodes that share an `executor:` become one node running them in a worker thread (src/core/executor.ts).
  const def = withExecutors(graph);
  const metrics = opts.metrics ?? new Metrics();
  const ac = new AbortController();
  const onAbort = () => ac.abort(opts.signal?.reason);
  if (opts.signal?.aborted) ac.abort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const log = opts.log ?? ((m: string) => process.stderr.write(m + '\n'));

  // Which sinks each source feeds (for its flow control).
  const downstream = new Map<string, Set<string>>();
  for (const n of def.nodes) downstream.set(n.name, new Set());
  for (const n of [...def.nodes].reverse()) {
    for (const r of Object.values(n.inputs)) {
      const set = downstream.get(r.node)!;
      set.add(n.name);
      for (const x of downstream.get(n.name)!) set.add(x);
    }
  }
  const sinkNames = def.nodes.filter((n) => n.spec.role === 'sink').map((n) => n.name);
  const flows = new Map<string, FlowControl>();
  for (const n of def.nodes) {
    if (n.spec.role !== 'source') continue;
    flows.set(n.name, new FlowControl(def.maxInFlight, sinkNames.filter((s) => downstream.get(n.name)!.has(s))));
  }

  const opened: { name: string; inst: NodeInstance }[] = [];
  const closeAll = async () => {
    for (const f of flows.values()) f.stop();
    for (const { name, inst } of opened.reverse()) {
      try {
        await inst.close();
      } catch (e) {
        log(`${name}: close failed: ${(e as Error).message}`);
      }
    }
    opened.length = 0;
  };

  // Nodes open concurrently (probing a file, loading a model in its thread and
  // starting an encoder overlap); if any fails, the others are closed and the
  // first failure in graph order is thrown.
  const ctxs = def.nodes.map((n) => createNodeContext(n.spec, {
    name: n.name,
    options: n.options,
    signal: ac.signal,
    metrics,
    ...(flows.has(n.name) ? { flow: flows.get(n.name)! } : {}),
    edges: Object.fromEntries(Object.entries(n.inputs).map(([port, r]) => [port, { name: `${r.node}.${r.port}→${n.name}.${port}`, policy: n.queue }])),
    log: (m) => log(`${n.name}: ${m}`),
  }));
  const settled = await Promise.allSettled(def.nodes.map((n, i) => n.spec.open(ctxs[i]!)));
  settled.forEach((r, i) => {
    if (r.status === 'fulfilled') opened.push({ name: def.nodes[i]!.name, inst: r.value });
  });
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed || ac.signal.aborted) {
    await closeAll();
    opts.signal?.removeEventListener('abort', onAbort);
    if (failed) throw failed.reason;
    return { metrics, interrupted: true };
  }
  opts.onOpened?.();

  const outputs = new Map<string, Observable<unknown>>();
  const sinks: Observable<{ sink: string; p: PacketMeta }>[] = [];
  def.nodes.forEach((n, i) => {
    const inputs: Streams = {};
    for (const [port, r] of Object.entries(n.inputs)) inputs[port] = outputs.get(`${r.node}.${r.port}`)!;
    // The runtime owns the edges: queues, joins, timing and counting (src/core/runtime/wire.ts).
    const w = wireNode(n.spec, opened[i]!.inst, ctxs[i]!, inputs);
    for (const [port, o] of Object.entries(w.outputs)) outputs.set(`${n.name}.${port}`, o.pipe(share()));
    if (w.done) sinks.push(w.done.pipe(map((p) => ({ sink: n.name, p }))));
  });

  let failure: unknown;
  await new Promise<void>((resolve) => {
    const sub = merge(...sinks).subscribe({
      next: ({ sink, p }) => {
        flows.get(p.source)?.finished(sink, p.seq);
        opts.onDone?.(sink, p);
      },
      error: (e) => {
        failure = e;
        ac.abort(e);
        resolve();
      },
      complete: () => resolve(),
    });
    ac.signal.addEventListener('abort', () => {
      for (const f of flows.values()) f.stop();
      // An error already ended the stream; a plain stop lets sources complete.
      if (failure) sub.unsubscribe();
    }, { once: true });
  });
  const interrupted = ac.signal.aborted && !failure;
  await closeAll();
  opts.signal?.removeEventListener('abort', onAbort);
  if (failure) throw failure;
  return { metrics, interrupted };
}
