/**
 * The thread side of an executor (src/core/executor.ts): imports the node
 * registry, opens the group's nodes with contexts like the runner's, wires
 * them (each input through its edge's queue, every output shared) and
 * exchanges only the outer streams with the parent: packets in and out,
 * end and error of each stream. Node statistics, counters, gauges and logs
 * are forwarded to the parent. `close` closes every node (models are freed in
 * this thread) and ends the thread; `close` with `keep` closes the nodes and
 * keeps the thread for another run (a folder job's next file, src/core/executor.ts
 * poolExecutors): `open` with a plan then opens that run's nodes afresh, with
 * modules already loaded. A thread started without a plan (prewarmed before
 * the graph was loaded) loads the modules of the node types it was given and
 * waits for `open`.
 */
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { merge, share, Subject, tap, type Observable, type Subscription } from 'rxjs';
import type { NodeContext, NodeInstance, NodeSpec, Streams } from './node.ts';
import type { PacketMeta } from './packet.ts';
import { unlimitedFlow } from './runtime/flow.ts';
import { Metrics, NodeStats } from './runtime/metrics.ts';
import { createNodeContext } from './runtime/context.ts';
import { wireNode } from './runtime/wire.ts';
import { toWire, type ExecutorPlan, type FromThread, type ToThread } from './executor.ts';

const port = parentPort!;
const boot = workerData as ExecutorPlan | { registry: string; executor: string; types: string[] };
// Nodes can tell that they run in an executor's thread (a segmenter then runs its model here, not in a thread of its own).
(globalThis as { segflowExecutor?: string }).segflowExecutor = boot.executor;
// Statistics, counters and logs go in batches (one message per turn of the event loop, or with the next packet out).
let batch: FromThread[] = [];
let edgeState = '';
let flushing = false;
/** A flush on the next turn (once): after a batched message, or after a packet came in (its edge counted it). */
const soon = () => {
  if (flushing) return;
  flushing = true;
  setImmediate(flush);
};
const flush = () => {
  flushing = false;
  // The edges' queue state, when it changed since the last batch (compared as numbers: this runs for every packet in).
  let state = '';
  for (const q of metrics.edges.values()) state += `${q.depth},${q.maxDepth},${q.drops},${q.delivered};`;
  if (state !== edgeState) {
    edgeState = state;
    const edges = [...metrics.edges.values()].map((q) => ({ name: q.name, policy: q.policy, depth: q.depth, maxDepth: q.maxDepth, drops: q.drops, delivered: q.delivered }));
    batch.push({ t: 'edges', edges });
  }
  if (batch.length) port.postMessage({ t: 'batch', items: batch } satisfies FromThread);
  batch = [];
};
const send = (m: FromThread, transfer: ArrayBuffer[] = []) => {
  if (m.t === 'obs' || m.t === 'count' || m.t === 'gauge' || m.t === 'log') {
    batch.push(m);
    soon();
    return;
  }
  flush();
  port.postMessage(m, transfer);
};

class ForwardedStats extends NodeStats {
  override observe(ms: number): void {
    super.observe(ms);
    send({ t: 'obs', node: this.name, type: this.type, ms });
  }
}

class ForwardedMetrics extends Metrics {
  override node(name: string, type = ''): NodeStats {
    let s = this.nodes.get(name);
    if (!s) this.nodes.set(name, (s = new ForwardedStats(name, type)));
    return s;
  }
  override count(name: string, labels: Record<string, string>, by = 1, help = ''): void {
    super.count(name, labels, by, help);
    send({ t: 'count', name, labels, by, help });
  }
  override gauge(name: string, labels: Record<string, string>, value: number, help = ''): void {
    super.gauge(name, labels, value, help);
    send({ t: 'gauge', name, labels, value, help });
  }
}

// One run's state (a run: the group's nodes opened for one graph, until `close`).
let metrics = new ForwardedMetrics();
let ac = new AbortController();
let ext = new Map<string, Subject<PacketMeta>>();
let opened: { name: string; inst: NodeInstance }[] = [];
/** The run's outer outputs: ended at `close`, so work still in flight then (a run stopped early) sends nothing after it. */
let outputsSub: Subscription | undefined;

/** The node specs by type, imported as runs need them (kept for the thread's later runs). */
const registry = new Map<string, NodeSpec>();
async function specsFor(types: readonly string[], registryUrl: string): Promise<void> {
  // Each node's own module (a node is one file named after its type: nodes/<type>), not every node's.
  for (const type of new Set(types)) {
    if (registry.has(type)) continue;
    const own = await import(new URL(`./${type}${path.extname(new URL(registryUrl).pathname)}`, registryUrl).href).catch(() => undefined) as Record<string, unknown> | undefined;
    const spec = Object.values(own ?? {}).find((x): x is NodeSpec => typeof x === 'object' && x !== null && (x as NodeSpec).type === type);
    if (spec) registry.set(type, spec);
  }
  if (types.some((t) => !registry.has(t))) {
    for (const [type, spec] of ((await import(registryUrl)) as { registry: ReadonlyMap<string, NodeSpec> }).registry) if (!registry.has(type)) registry.set(type, spec);
  }
}

async function closeAll(): Promise<void> {
  for (const { name, inst } of opened.reverse()) {
    try {
      await inst.close();
    } catch (e) {
      send({ t: 'log', node: name, message: `close failed: ${(e as Error).message}` });
    }
  }
  opened.length = 0;
}

async function start(plan: ExecutorPlan): Promise<void> {
  // A fresh run: new metrics (the parent's node takes them from here), stop signal and outer streams.
  (globalThis as { segflowExecutor?: string }).segflowExecutor = plan.executor;
  metrics = new ForwardedMetrics();
  edgeState = '';
  ac = new AbortController();
  ext = new Map(plan.inputs.map((id) => [id, new Subject<PacketMeta>()]));
  opened = [];
  await specsFor(plan.nodes.map((n) => n.type), plan.registry);
  // One context factory and one wiring for every node (src/core/runtime/context.ts, wire.ts): the
  // thread's nodes get the same edge queues, joins, timing and counting as on the main thread.
  const ctxs = plan.nodes.map((n) => {
    const spec = registry.get(n.type);
    if (!spec) throw new Error(`executor '${plan.executor}': unknown node type '${n.type}'`);
    return createNodeContext(spec, {
      name: n.name, options: n.options, signal: ac.signal, metrics,
      edges: Object.fromEntries(Object.entries(n.inputs).map(([p, r]) => [p, { name: `${'ext' in r ? r.ext : `${r.node}.${r.port}`}→${n.name}.${p}`, policy: n.queue }])),
      log: (message) => send({ t: 'log', node: n.name, message }),
    });
  });
  const settled = await Promise.allSettled(plan.nodes.map((n, i) => registry.get(n.type)!.open(ctxs[i]!)));
  settled.forEach((r, i) => {
    if (r.status === 'fulfilled') opened.push({ name: plan.nodes[i]!.name, inst: r.value });
  });
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  const outputs = new Map<string, Observable<PacketMeta>>();
  plan.nodes.forEach((n, i) => {
    const inputs: Streams = {};
    for (const [p, r] of Object.entries(n.inputs)) inputs[p] = 'ext' in r ? ext.get(r.ext)! : outputs.get(`${r.node}.${r.port}`)!;
    const w = wireNode(registry.get(n.type)!, opened[i]!.inst, ctxs[i]!, inputs);
    for (const [p, o] of Object.entries(w.outputs)) outputs.set(`${n.name}.${p}`, (o as Observable<PacketMeta>).pipe(share()));
  });
  // The outer outputs, subscribed now: the parent sends packets only after `open`.
  outputsSub = merge(...plan.outputs.map((id) => {
    const o = outputs.get(id);
    if (!o) throw new Error(`executor '${plan.executor}': no output ${id}`);
    return o.pipe(tap({
      next: (p) => {
        const w = toWire(p);
        send({ t: 'out', id, p: w.p }, w.transfer);
      },
      complete: () => send({ t: 'done', id }),
    }));
  })).subscribe({ error: (e) => send({ t: 'error', message: `executor '${plan.executor}': ${e instanceof Error ? e.message : String(e)}` }) });
}

/** Open a run's nodes and answer `open` (with the error, after which the thread ends). */
async function run(plan: ExecutorPlan): Promise<void> {
  try {
    await start(plan);
    send({ t: 'open' });
  } catch (e) {
    await closeAll();
    send({ t: 'open', error: e instanceof Error ? e.message : String(e) });
    port.close();
  }
}

// Opening and closing runs happen in order; packets go to the run that is open.
// Without a plan: the modules of the node types it is expected to run are loaded now; errors wait for the run.
let chain: Promise<void> = 'nodes' in boot ? run(boot) : specsFor(boot.types, boot.registry).catch(() => {});
port.on('message', (m: ToThread) => {
  switch (m.t) {
    case 'in':
      ext.get(m.id)?.next(Object.freeze(m.p));
      // The edge's counters (delivered, dropped, waiting) reach the run's metrics with the next flush, not only with the next packet out.
      soon();
      return;
    case 'end': return ext.get(m.id)?.complete();
    case 'fail': return ext.get(m.id)?.error(new Error(m.message));
    case 'stop': return ac.abort();
    case 'open':
      chain = chain.then(() => run(m.plan));
      return;
    case 'close':
      chain = chain.then(async () => {
        // The parent takes nothing of this run after `closed` (a kept thread's next run would get it).
        outputsSub?.unsubscribe();
        outputsSub = undefined;
        ac.abort();
        await closeAll();
        flush();
        send({ t: 'closed' });
        if (!m.keep) port.close();
      });
      return;
  }
});
