/**
 * The one place a NodeContext is made — by the runner, the library operators
 * (src/operators.ts), the zmq worker and tests alike.
 *
 * `createNodeContext(spec, { options, … })` gives a context with a queue per
 * input edge (all the node's edges share one hand-over: src/runtime/queue.ts
 * NodeGate), the node's timer (./timing.ts) and, where not given, a fresh
 * Metrics, a never-blocking flow control and a quiet log. `runtimeOf(ctx)`
 * returns the parts only the runtime uses (./wire.ts).
 *
 * ```ts
 * const ctx = createNodeContext(overlay, { options: overlay.options.parse({}) });
 * const inst = await overlay.open(ctx);
 * ```
 */
import type { NodeContext, NodeSpec } from '../node.ts';
import { unlimitedFlow, type FlowControl } from './flow.ts';
import { Metrics } from './metrics.ts';
import { EdgeQueue, NodeGate, type QueuePolicy } from './queue.ts';
import { NodeTimer } from './timing.ts';

export interface NodeContextInit<O> {
  /** Parsed options (`spec.options.parse(…)`). */
  readonly options: O;
  /** The node's name in the graph (default: its type). */
  readonly name?: string;
  readonly signal?: AbortSignal;
  readonly metrics?: Metrics;
  readonly flow?: FlowControl;
  readonly graphDir?: string;
  /** Receives the node's log lines, without its name (default: dropped). */
  readonly log?: (message: string) => void;
  /** Input ports wired (default: those in `edges`, else every declared input). */
  readonly wired?: Iterable<string>;
  /** Each wired input's edge: its name in metrics and its queue policy (default: lossless, named `<node>.<port>`). */
  readonly edges?: Readonly<Record<string, { readonly name: string; readonly policy: QueuePolicy }>>;
  /** How a synchronous consumer's credit comes back (default: setImmediate; tests pass a virtual scheduler). */
  readonly yieldTo?: (fn: () => void) => void;
}

/** What the runtime keeps for a node besides its context. */
export interface NodeRuntime {
  readonly type: string;
  readonly gate: NodeGate;
  readonly timer: NodeTimer;
}

const runtimes = new WeakMap<object, NodeRuntime>();

const LOSSLESS: QueuePolicy = { policy: 'lossless', size: Infinity };

export function createNodeContext<O>(spec: Pick<NodeSpec, 'type' | 'inputs'>, init: NodeContextInit<O>): NodeContext<O> {
  const name = init.name ?? spec.type;
  const metrics = init.metrics ?? new Metrics();
  const gate = new NodeGate();
  const timer = new NodeTimer(metrics.node(name, spec.type));
  gate.onStart = (x) => timer.enter(x);
  gate.onEnd = (x) => timer.settle(x);
  const queues = new Map<string, EdgeQueue>();
  for (const [port, e] of Object.entries(init.edges ?? {})) queues.set(port, metrics.edge(new EdgeQueue(e.name, e.policy, init.yieldTo, gate)));
  const log = init.log ?? (() => {});
  const ctx: NodeContext<O> = {
    name,
    options: init.options,
    graphDir: init.graphDir ?? process.cwd(),
    signal: init.signal ?? new AbortController().signal,
    metrics,
    flow: init.flow ?? unlimitedFlow(),
    wired: new Set(init.wired ?? (init.edges ? Object.keys(init.edges) : Object.keys(spec.inputs))),
    queue: (port) => {
      let q = queues.get(port);
      if (!q) queues.set(port, (q = new EdgeQueue(`${name}.${port}`, LOSSLESS, init.yieldTo, gate)));
      return q;
    },
    log: (m) => log(m),
  };
  runtimes.set(ctx, { type: spec.type, gate, timer });
  return ctx;
}

/** The runtime's parts of a context made by `createNodeContext`. */
export function runtimeOf(ctx: NodeContext<unknown>): NodeRuntime {
  const r = runtimes.get(ctx);
  if (!r) throw new TypeError(`${ctx.name}: expected a context made by createNodeContext()`);
  return r;
}
