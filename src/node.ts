/**
 * The node contract. A node type is a static description (typed ports, an
 * options schema with defaults and units) checked when the graph loads, and an
 * `open()` that allocates what the node needs (models, child processes,
 * sockets) and returns an instance whose `process()` wires streams in to
 * streams out. `close()` is idempotent and frees everything `open()` took.
 *
 * Edges belong to the runtime: each input stream a node receives has already
 * passed its edge's queue (lossless, or freshest: bounded, dropping the oldest,
 * delivering when the node is ready). See "Writing a node" in README.md.
 */
import type { Observable } from 'rxjs';
import type { z } from 'zod';
import type { PacketMeta, PortKind } from './packet.ts';
import type { EdgeQueue } from './runtime/queue.ts';
import type { Metrics, NodeStats } from './runtime/metrics.ts';
import type { FlowControl } from './runtime/flow.ts';

export type Ports = Readonly<Record<string, PortKind>>;

export interface NodeContext<O> {
  /** The node's name in the graph. */
  readonly name: string;
  readonly options: O;
  /** Directory of the graph file; relative paths in options resolve against the working directory. */
  readonly graphDir: string;
  /** Aborted when the run is asked to stop (SIGINT, SIGTERM, error elsewhere). */
  readonly signal: AbortSignal;
  readonly metrics: Metrics;
  /** This node's frame count and latency; call `stats.observe(ms)` per packet. */
  readonly stats: NodeStats;
  /** Only for source nodes: wait for downstream progress before emitting more (lossless edges). */
  readonly flow: FlowControl;
  /**
   * The queue on the edge into `port`, as declared in the graph. The runner
   * applies it before `process()` sees the stream (`EdgeQueue.edge()`), so a
   * node never queues or drops inputs itself; an asynchronous node passes it to
   * `serial(ctx.queue(port), fn, depth)`, which tells the edge when the node is
   * ready for more (src/runtime/queue.ts).
   */
  queue(port: string): EdgeQueue;
  log(message: string): void;
}

/** Streams keyed by port name. */
export type Streams = Record<string, Observable<any>>;

export interface NodeInstance {
  /**
   * Wire the node: input streams in, output streams out. Sinks return `done`,
   * a stream of the packets they have finished with (used for flow control
   * and metrics).
   */
  process(inputs: Streams): Streams;
  close(): Promise<void>;
}

export interface NodeSpec<S extends z.ZodType = z.ZodType> {
  /** Registry key, kebab-case. */
  readonly type: string;
  readonly description: string;
  readonly inputs: Ports;
  readonly outputs: Ports;
  /** Inputs that may be left unwired. */
  readonly optionalInputs?: readonly string[];
  readonly options: S;
  /** Sources emit without inputs; sinks end a branch. */
  readonly role: 'source' | 'transform' | 'sink';
  /** Source nodes: live sources drop rather than wait (edge default `freshest`). */
  readonly live?: boolean;
  open(ctx: NodeContext<z.infer<S>>): Promise<NodeInstance>;
  /**
   * Optional: start slow set-up that `open()` will take over (a model loading in its thread), as
   * soon as the graph is known — `segflow process` calls it once the graph is validated, before it
   * probes inputs and prepares folders. Never throws. Returns what ends the set-up if `open()` never
   * took it (the caller runs it when its job is done).
   */
  warm?(options: z.infer<S>): (() => Promise<void>) | undefined;
}

export function defineNode<S extends z.ZodType>(spec: NodeSpec<S>): NodeSpec<S> {
  return spec;
}

export type { PacketMeta };
