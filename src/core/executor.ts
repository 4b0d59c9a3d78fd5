/**
 * Executors: nodes that name the same `executor:` in a graph file run
 * together in one worker thread. The runner (src/graph/runner.ts) calls
 * `withExecutors(def)` first: each executor's nodes are replaced by one node
 * of type `executor` (named `executor:<name>`) whose inputs are the streams
 * that enter the group from outside (each once, however many of its nodes
 * take it) and whose outputs are the group's ports that nodes outside take.
 * Opening it starts the thread (src/core/executor-thread.ts), which opens
 * the group's nodes there and wires them exactly as the runner wires a graph
 * (each input through its edge's queue, outputs shared). Only packets on
 * those outer edges cross the thread boundary (frames in, labels out, copied
 * once and handed over); everything between the group's nodes — features
 * handles included — stays in the thread. The loader refuses a `features`
 * edge between executors. Node statistics, counters, gauges and log lines
 * made in the thread are forwarded to the run's metrics and log under the
 * nodes' own names, and its edges' queue depths and drops as they change.
 *
 * ```yaml
 * keys:    { type: keyframe-scheduler,   executor: seg, in: { frame: small.frame } }
 * segment: { type: two-branch-segmenter, executor: seg, in: { frame: keys.frame } }
 * carry:   { type: label-propagation,    executor: seg, in: { frame: keys.frame, labels: segment.labels } }
 * ```
 */
import { Worker } from 'node:worker_threads';
import { defer, Subject, type Observable, type Subscription } from 'rxjs';
import { z } from 'zod';
import { GraphError } from './errors.ts';
import { BUNDLED } from './package-root.ts';
import type { EdgeRef, GraphDef, NodeDef } from './graph/loader.ts';
import type { NodeContext, NodeInstance, NodeSpec, Ports } from './node.ts';
import type { Frame, Labels, PacketMeta, PortKind } from './packet.ts';
import { EdgeQueue, type QueuePolicy } from './runtime/queue.ts';

/** A group node's input inside the thread: an outer stream (by id) or a port of a node in the group. */
export type PlanRef = { readonly ext: string } | { readonly node: string; readonly port: string };

/** What the thread needs to rebuild its part of the graph (structured-cloneable). */
export interface ExecutorPlan {
  readonly executor: string;
  /** The node registry module (nodes/index): the thread imports it when a node's own module (nodes/<type>) does not give its spec. */
  readonly registry: string;
  readonly nodes: readonly { name: string; type: string; options: Record<string, unknown>; inputs: Record<string, PlanRef>; queue: QueuePolicy }[];
  /** Outer streams in (ids `node.port` of the upstream). */
  readonly inputs: readonly string[];
  /** Ports of the group's nodes taken outside (`node.port`). */
  readonly outputs: readonly string[];
}

/** Messages from the thread. */
export type FromThread =
  | { t: 'open'; error?: string }
  | { t: 'out'; id: string; p: PacketMeta }
  | { t: 'done'; id: string }
  | { t: 'error'; message: string }
  | { t: 'obs'; node: string; type: string; ms: number }
  | { t: 'count'; name: string; labels: Record<string, string>; by: number; help: string }
  | { t: 'gauge'; name: string; labels: Record<string, string>; value: number; help: string }
  | { t: 'log'; node: string; message: string }
  | { t: 'closed' }
  | { t: 'batch'; items: FromThread[] }
  | { t: 'edges'; edges: { name: string; policy: QueuePolicy; depth: number; maxDepth: number; drops: number; delivered: number }[] };

/** Messages to the thread. */
export type ToThread =
  | { t: 'in'; id: string; p: PacketMeta }
  | { t: 'end'; id: string }
  | { t: 'fail'; id: string; message: string }
  | { t: 'stop' }
  | { t: 'open'; plan: ExecutorPlan }
  | { t: 'close'; keep?: boolean };

export const executorNodeName = (executor: string) => `executor:${executor}`;

const JS = import.meta.url.endsWith('.js');
// The bundled command line (dist/src/bundle/) has the registry, each node type's module and the thread's
// entry beside it, sharing its chunks (one copy of RxJS and zod in the thread); the compiled modules and
// the sources have them in their own folders.
const REGISTRY = new URL(BUNDLED ? './nodes.js' : `../../nodes/index.${JS ? 'js' : 'ts'}`, import.meta.url).href;
const ENTRY = new URL(JS ? './executor-thread.js' : './executor-boot.mjs', import.meta.url);

/**
 * A packet as a message: its pixel or label buffer copied once and handed
 * over (the sender may share the packet or keep it; a view on a larger buffer
 * would otherwise be cloned whole). Only frames and labels cross threads.
 */
export function toWire(p: PacketMeta & { kind?: PortKind }): { p: PacketMeta; transfer: ArrayBuffer[] } {
  if (p.kind === 'frame') {
    const data = (p as Frame).data.slice();
    return { p: { ...p, data } as Frame, transfer: [data.buffer] };
  }
  if (p.kind === 'labels') {
    const l = p as Labels;
    const classes = l.classes.slice();
    const transfer: ArrayBuffer[] = [classes.buffer];
    let scores = l.scores;
    if (scores) {
      scores = { ...scores, data: scores.data.slice() };
      transfer.push(scores.data.buffer as ArrayBuffer);
    }
    return { p: { ...l, classes, scores } as Labels, transfer };
  }
  throw new TypeError(`a '${String(p.kind)}' packet (${p.source}#${p.seq}) cannot cross threads: only frames and labels go in and out of an executor`);
}

/** The graph with each executor's nodes replaced by one `executor` node (unchanged without executors). */
export function withExecutors(def: GraphDef): GraphDef {
  const groups = new Map<string, NodeDef[]>();
  for (const n of def.nodes) if (n.executor) groups.set(n.executor, [...(groups.get(n.executor) ?? []), n]);
  if (groups.size === 0) return def;
  const byName = new Map(def.nodes.map((n) => [n.name, n]));
  const kindOf = (r: EdgeRef) => byName.get(r.node)!.spec.outputs[r.port]!;
  /** An edge's upstream as the rewritten graph names it. */
  const outer = (r: EdgeRef): EdgeRef => {
    const e = byName.get(r.node)!.executor;
    return e ? { node: executorNodeName(e), port: `${r.node}.${r.port}` } : r;
  };
  const taken = new Map<string, Set<string>>(); // executor → its ports taken outside
  for (const n of def.nodes) {
    for (const r of Object.values(n.inputs)) {
      const e = byName.get(r.node)!.executor;
      if (e && e !== n.executor) taken.set(e, (taken.get(e) ?? new Set()).add(`${r.node}.${r.port}`));
    }
  }
  const replaced = new Map<string, NodeDef>();
  for (const [e, members] of groups) {
    const inputs: Record<string, EdgeRef> = {};
    const inPorts: Record<string, PortKind> = {};
    const nodes = members.map((m) => ({
      name: m.name, type: m.type, options: m.options, queue: m.queue,
      inputs: Object.fromEntries(Object.entries(m.inputs).map(([port, r]): [string, PlanRef] => {
        if (byName.get(r.node)!.executor === e) return [port, { node: r.node, port: r.port }];
        const o = outer(r);
        const id = `${o.node}.${o.port}`;
        inputs[id] = o;
        inPorts[id] = kindOf(r);
        return [port, { ext: id }];
      })),
    }));
    const outputs = [...(taken.get(e) ?? [])];
    const outPorts: Ports = Object.fromEntries(outputs.map((id) => {
      const [node, port] = id.split('.') as [string, string];
      return [id, kindOf({ node, port })];
    }));
    const plan: ExecutorPlan = { executor: e, registry: REGISTRY, nodes, inputs: Object.keys(inputs), outputs };
    const spec: NodeSpec & { plan: ExecutorPlan } = {
      plan,
      type: 'executor',
      description: `Nodes ${members.map((m) => m.name).join(', ')} in one worker thread`,
      role: 'transform',
      inputs: inPorts,
      outputs: outPorts,
      options: z.object({}),
      open: (ctx) => openExecutor(ctx as NodeContext<unknown>, plan),
    };
    replaced.set(e, { name: executorNodeName(e), type: 'executor', spec, options: {}, inputs, queue: { policy: 'lossless', size: Infinity }, line: members[0]!.line });
  }
  // The new node list: outer nodes with their inputs re-pointed, executors in place of their members; ordered anew.
  const list: NodeDef[] = [];
  for (const n of def.nodes) {
    if (n.executor) {
      if (n === groups.get(n.executor)![0]) list.push(replaced.get(n.executor)!);
      continue;
    }
    list.push({ ...n, inputs: Object.fromEntries(Object.entries(n.inputs).map(([p, r]) => [p, outer(r)])) });
  }
  const order: NodeDef[] = [];
  const done = new Set<string>();
  while (order.length < list.length) {
    const next = list.find((n) => !done.has(n.name) && Object.values(n.inputs).every((r) => done.has(r.node)));
    if (!next) {
      const stuck = list.filter((n) => !done.has(n.name)).map((n) => n.name);
      throw new GraphError(`${def.file} › executors: ${stuck.join(', ')} depend on each other through nodes outside an executor; expected each executor's nodes to be connected without leaving it`, def.file);
    }
    order.push(next);
    done.add(next.name);
  }
  return { ...def, nodes: order };
}

/**
 * An executor's worker thread: started for a plan (its nodes opening at once), or bare (prewarmed
 * before the graph is known: it loads the node modules and waits for a plan). Between runs (a
 * folder job's files) a thread is kept idle with its modules loaded; a run's nodes are always
 * opened afresh, so nothing of one file's state reaches the next.
 */
class ExecutorThread {
  readonly worker: Worker;
  /** The plan (as JSON) whose nodes are open or opening in the thread; undefined when none are. */
  key: string | undefined;
  /** The thread's answer to the last `open`: undefined when its nodes opened, else the error. */
  opened: Promise<string | undefined> = Promise.resolve('executor thread: no plan given');
  exited = false;
  /** The executor node using the thread: its messages and its failure. */
  private sink: ((m: FromThread) => void) | undefined;
  private onFailure: ((e: Error, exited: boolean) => void) | undefined;
  /** Messages of nodes opened ahead (prewarmed), for the node that takes the thread. */
  private held: FromThread[] = [];
  /** Messages of a run being closed for another plan, dropped until its `closed`. */
  private skipping = 0;
  private answer: (error?: string) => void = () => {};
  private closedAck: () => void = () => {};

  constructor(plan?: ExecutorPlan, types: readonly string[] = []) {
    this.worker = new Worker(ENTRY, { workerData: plan ?? { executor: '', registry: REGISTRY, types } });
    this.worker.unref(); // referenced while a node uses it
    if (plan) this.expect(plan);
    this.worker.on('message', (m: FromThread) => {
      if (m.t === 'closed') {
        if (this.skipping) this.skipping--;
        else this.closedAck();
        return;
      }
      if (this.skipping) return;
      if (m.t === 'open') return this.answer(m.error);
      if (this.sink) this.sink(m);
      else if (this.key !== undefined) this.held.push(m);
    });
    this.worker.on('error', (e) => {
      this.answer(e.message);
      this.onFailure?.(e, false);
    });
    this.worker.on('exit', (code) => {
      this.exited = true;
      const i = idle.indexOf(this);
      if (i >= 0) idle.splice(i, 1);
      const e = new Error(`its thread exited (code ${code})`);
      this.answer(e.message);
      this.closedAck();
      this.onFailure?.(e, true);
    });
  }

  private expect(plan: ExecutorPlan): void {
    this.key = JSON.stringify(plan);
    this.held = [];
    this.opened = new Promise((resolve) => (this.answer = resolve));
  }

  /** Open `plan`'s nodes (closing those of another plan first). */
  open(plan: ExecutorPlan): void {
    if (this.key !== undefined) {
      this.skipping++;
      this.worker.postMessage({ t: 'close', keep: true } satisfies ToThread);
    }
    this.expect(plan);
    this.worker.postMessage({ t: 'open', plan } satisfies ToThread);
  }

  /** A node takes the thread: messages held so far first. */
  attach(sink: (m: FromThread) => void, onFailure: (e: Error, exited: boolean) => void): void {
    this.worker.ref();
    this.sink = sink;
    this.onFailure = onFailure;
    for (const m of this.held.splice(0)) sink(m);
  }

  private detach(): void {
    this.sink = undefined;
    this.onFailure = undefined;
    this.worker.unref();
  }

  /** Close the run's nodes and keep the thread (idle) while a pool is open; else end it. */
  async release(): Promise<void> {
    if (pools === 0 || this.exited) return this.end();
    const acked = new Promise<void>((resolve) => (this.closedAck = resolve));
    this.worker.postMessage({ t: 'close', keep: true } satisfies ToThread);
    const timer = setTimeout(() => void this.worker.terminate(), 10_000);
    await acked;
    clearTimeout(timer);
    this.detach();
    this.key = undefined;
    if (pools > 0 && !this.exited) idle.push(this);
    else await this.end();
  }

  /** End the thread: its nodes closed (models freed in it) unless `now`, then it exits. */
  async end(now = false): Promise<void> {
    this.detach();
    this.worker.on('error', () => {}); // a thread that fails while ending is ended all the same
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    if (now) {
      await this.worker.terminate();
      return;
    }
    this.worker.postMessage({ t: 'close' } satisfies ToThread);
    const timer = setTimeout(() => void this.worker.terminate(), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

/** Threads not in use: prewarmed, or kept between the graphs of a pool. */
const idle: ExecutorThread[] = [];
/** Pools open (poolExecutors): threads are kept between graphs while any is. */
let pools = 0;

/** A thread for `plan`: one idle with its nodes already opening for it, else any idle one, else a new one. */
function acquire(plan: ExecutorPlan): ExecutorThread {
  const key = JSON.stringify(plan);
  let i = idle.findIndex((t) => t.key === key);
  if (i < 0) i = idle.findIndex((t) => t.key === undefined);
  if (i < 0) i = idle.length - 1;
  const t = i >= 0 ? idle.splice(i, 1)[0]! : new ExecutorThread(plan);
  if (t.key !== key) t.open(plan);
  return t;
}

/**
 * Start an executor thread now, before the graph is loaded: it boots and loads the modules of the
 * node `types` it will run beside the caller's own loading (`segflow process` with a graph that
 * names an executor), then waits. The next executor opened (or poolExecutors' warm-up) takes it.
 * End it with endExecutorThreads() if nothing does.
 */
export function prewarmExecutorThread(types: readonly string[]): void {
  if (!idle.some((t) => t.key === undefined)) idle.push(new ExecutorThread(undefined, types));
}

/**
 * Keep executors' threads between the graphs run until the returned function is called (a folder
 * job: one thread for all its files; each file's nodes are opened afresh in it, so the thread's
 * module loading is paid once). `warm`: a graph whose executors start now — their nodes open
 * (models load) while the caller prepares, and the first graph with the same executor plan takes
 * them. The returned function ends the threads no graph is using.
 */
export function poolExecutors(warm?: GraphDef): () => Promise<void> {
  pools++;
  if (warm) {
    for (const n of withExecutors(warm).nodes) {
      const plan = (n.spec as NodeSpec & { plan?: ExecutorPlan }).plan;
      if (n.type !== 'executor' || !plan) continue;
      const bare = idle.find((t) => t.key === undefined);
      if (bare) bare.open(plan);
      else idle.push(new ExecutorThread(plan));
    }
  }
  let done = false;
  return async () => {
    if (done) return;
    done = true;
    if (--pools === 0) await endExecutorThreads();
  };
}

/** End the executor threads not in use (prewarmed or kept), as a graph's close ends its own. */
export async function endExecutorThreads(): Promise<void> {
  await Promise.all(idle.splice(0).map((t) => t.end()));
}

/** Executor threads started and not in use (tests). */
export function idleExecutorThreads(): number {
  return idle.length;
}

async function openExecutor(ctx: NodeContext<unknown>, plan: ExecutorPlan): Promise<NodeInstance> {
  const thread = acquire(plan);
  const worker = thread.worker;
  const outs = new Map(plan.outputs.map((id) => [id, new Subject<PacketMeta>()]));
  let failure: Error | undefined;
  let closing: Promise<void> | undefined;
  const fail = (e: Error) => {
    if (failure) return;
    failure = e;
    for (const s of outs.values()) s.error(e);
  };
  // Labels' class names and palette arrive as new arrays with every packet (structured clone); nodes
  // downstream cache by identity (the overlay's legend and blend table, the label-map sink's
  // classes.json), so equal ones are given the same objects again.
  const interned = new Map<string, unknown>();
  const intern = <T>(x: T): T => {
    const k = JSON.stringify(x);
    const have = interned.get(k);
    if (have !== undefined) return have as T;
    if (interned.size < 64) interned.set(k, Object.freeze(x));
    return x;
  };
  const fromWire = (p: PacketMeta): PacketMeta => {
    if ((p as Labels).kind === 'labels') {
      const l = p as Labels;
      return Object.freeze({ ...l, classNames: intern(l.classNames), palette: intern(l.palette) });
    }
    return Object.freeze(p);
  };
  // The thread's edges (queue depth and drops), mirrored into the run's metrics.
  const edges = new Map<string, EdgeQueue>();
  const onMessage = (m: FromThread): void => {
    switch (m.t) {
      case 'edges':
        for (const e of m.edges) {
          let q = edges.get(e.name);
          if (!q) edges.set(e.name, (q = ctx.metrics.edge(new EdgeQueue(e.name, e.policy))));
          Object.assign(q, { depth: e.depth, maxDepth: e.maxDepth, drops: e.drops, delivered: e.delivered });
        }
        return;
      case 'batch':
        for (const x of m.items) onMessage(x);
        return;
      case 'out': return outs.get(m.id)?.next(fromWire(m.p));
      case 'done': return outs.get(m.id)?.complete();
      case 'error': return fail(new Error(m.message));
      case 'obs': return ctx.metrics.node(m.node, m.type).observe(m.ms);
      case 'count': return ctx.metrics.count(m.name, m.labels, m.by, m.help);
      case 'gauge': return ctx.metrics.gauge(m.name, m.labels, m.value, m.help);
      case 'log': return ctx.log(`${m.node}: ${m.message}`);
    }
  };
  thread.attach(onMessage, (e, exited) => {
    if (!exited) fail(e);
    else if (!closing) fail(new Error(`executor '${plan.executor}': ${e.message}`));
  });
  const error = await thread.opened;
  if (error !== undefined) {
    await thread.end(true);
    throw new Error(error);
  }
  const post = (m: ToThread, transfer: ArrayBuffer[] = []) => {
    if (!failure && !closing) worker.postMessage(m, transfer);
  };
  const onAbort = () => post({ t: 'stop' });
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  const subs: Subscription[] = [];
  return {
    process(inputs) {
      let started = false;
      // The outer inputs are subscribed when the first output is (the runner subscribes from the sinks).
      const start = () => {
        if (started) return;
        started = true;
        for (const id of plan.inputs) {
          const in$ = inputs[id] as Observable<PacketMeta> | undefined;
          if (!in$) throw new Error(`executor '${plan.executor}': input ${id} is not wired`);
          subs.push(in$.subscribe({
            next: (p) => {
              const w = toWire(p);
              post({ t: 'in', id, p: w.p }, w.transfer);
            },
            error: (e) => post({ t: 'fail', id, message: e instanceof Error ? e.message : String(e) }),
            complete: () => post({ t: 'end', id }),
          }));
        }
      };
      return Object.fromEntries([...outs].map(([id, s]) => [id, defer(() => {
        start();
        return s;
      })]));
    },
    close() {
      closing ??= (async () => {
        ctx.signal.removeEventListener('abort', onAbort);
        for (const s of subs) s.unsubscribe();
        // Its nodes closed (models freed); the thread is kept for the pool's next graph, or ends.
        // After a failure too the thread is asked to end, not terminated: a thread terminated while
        // ONNX Runtime runs in it aborts the whole process (its binding throws a C++ exception that
        // nothing catches), with every other file of the job. It is terminated only when it has not
        // ended 10 s later (ExecutorThread.end).
        if (!failure) await thread.release();
        else await thread.end();
      })();
      return closing;
    },
  };
}
