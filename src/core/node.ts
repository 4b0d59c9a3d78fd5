/**
 * The node contract. A node type is a static description (typed ports, an
 * options schema with defaults and units, which inputs it joins) checked when
 * the graph loads, and an `open()` that allocates what the node needs (models,
 * child processes, sockets) and returns an instance whose `process()` wires
 * streams in to streams out. `close()` is idempotent and frees everything
 * `open()` took.
 *
 * The runtime owns the edges (src/core/runtime/wire.ts): before `process()`
 * sees a stream it has passed its edge's queue (lossless, or freshest: bounded,
 * dropping the oldest, delivering when the node is ready), and the inputs a
 * spec names in `join` arrive as one stream of records joined by (source,
 * seq). The runtime times every node (from a packet entering it to the output
 * with the same source and seq), counts what it emits, and, for a sink, awaits
 * `finish()` when the inputs end. Ports are typed from the declaration: a spec
 * with `inputs: { frame: 'frame' }` gets `process({ frame })` with `frame:
 * Observable<Frame>`. See "Writing a node" in README.md.
 */
import type { Observable } from 'rxjs';
import type { z } from 'zod';
import type { PacketMeta, PacketOf, PortKind } from './packet.ts';
import type { EdgeQueue } from './runtime/queue.ts';
import type { Metrics } from './runtime/metrics.ts';
import type { FlowControl } from './runtime/flow.ts';

export type Ports = Readonly<Record<string, PortKind>>;
export type Role = 'source' | 'transform' | 'sink';

/** The stream on a port of kind `K`. */
export type PortStream<K extends PortKind> = Observable<PacketOf<K>>;

export interface NodeContext<O> {
  /** The node's name in the graph. */
  readonly name: string;
  readonly options: O;
  /** Directory of the graph file; relative paths in options resolve against the working directory. */
  readonly graphDir: string;
  /** Aborted when the run is asked to stop (SIGINT, SIGTERM, error elsewhere). */
  readonly signal: AbortSignal;
  /** Counters and gauges of the run (`metrics.count(…)`); per-node latency is the runtime's. */
  readonly metrics: Metrics;
  /** Only for source nodes: wait for downstream progress before emitting more (lossless edges). */
  readonly flow: FlowControl;
  /** The input ports wired in this graph (optional inputs may be absent). */
  readonly wired: ReadonlySet<string>;
  /**
   * The queue on the edge into `port`, as declared in the graph. The runtime
   * applies it before `process()` sees the stream (`EdgeQueue.edge()`), so a
   * node never queues or drops inputs itself; an asynchronous node passes it to
   * `serial(ctx.queue(port), fn, depth)`, which tells the edge when the node is
   * ready for more (src/runtime/queue.ts). For a node that joins, any of its
   * ports will do: the node's edges share one hand-over.
   */
  queue(port: string): EdgeQueue;
  log(message: string): void;
}

/**
 * Inputs joined by sequence number. The runtime pairs the packets of these
 * ports that share a source and seq into one record `{ frame, labels }` on the
 * input `joined` (ports not listed stay separate streams). Discontinuity marks
 * pass through: a record carries a mark on every member when any member has
 * one, and the mark of a packet released unmatched moves to the next record of
 * its source. A packet whose partner can no longer come (a later seq arrived on
 * the partner's port, the partner's stream ended, or more than `maxWaiting` records
 * wait) is released unmatched and counted in `node_unmatched_total{node,port}`.
 */
export interface JoinSpec<P extends string = string, K extends string = string> {
  readonly ports: readonly P[];
  /**
   * Ports whose packets still reach the node when released unmatched, in a
   * record without the missing members (a labels map sent without its video
   * frame). Unmatched packets of the other ports are dropped. Default: none.
   */
  readonly keepUnmatched?: readonly K[];
  /** Records that may wait for their partners before the oldest is released. @default 256 */
  readonly maxWaiting?: number;
}

/** True when port P is in every record: wired always (not optional) and never released alone without it. */
type Sure<P, Opt, Keep> = [P] extends [Opt] ? false : [Exclude<Keep, P>] extends [never] ? true : false;

/** One record of a join: a packet per joined port, keyed by port name. */
export type JoinedRecord<I extends Ports, J extends keyof I & string, Opt extends string, Keep extends string> =
  { readonly [P in J as Sure<P, Opt, Keep> extends true ? P : never]: PacketOf<I[P]> } &
  { readonly [P in J as Sure<P, Opt, Keep> extends true ? never : P]?: PacketOf<I[P]> };

/** What `process()` receives: a stream per input port, joined ports as one `joined` stream of records. */
export type InputStreams<I extends Ports, Opt extends string = never, J extends keyof I & string = never, Keep extends string = never> =
  string extends keyof I ? Streams : (
  { readonly [P in Exclude<keyof I & string, J | Opt>]: PortStream<I[P]> } &
  { readonly [P in Exclude<keyof I & string, J> & Opt]?: PortStream<I[P]> } &
  ([J] extends [never] ? unknown
    : [Exclude<J, Opt>] extends [never] ? { readonly joined?: Observable<JoinedRecord<I, J, Opt, Keep>> }
    : { readonly joined: Observable<JoinedRecord<I, J, Opt, Keep>> }));

/** What a source's or transform's `process()` returns: a stream per output port. */
export type OutputStreams<O extends Ports> = string extends keyof O ? Streams : { readonly [P in keyof O & string]: PortStream<O[P]> };

/** Untyped streams keyed by port name (the runtime's view). */
export type Streams = Record<string, Observable<any>>;

export interface StreamInstance<In, Out> {
  /** Wire the node: input streams in, output streams out. */
  process(inputs: In): Out;
  close(): Promise<void>;
}

export interface SinkInstance<In> {
  /**
   * Wire the sink: input streams in, out the packets it has finished with (written,
   * sent), in order. The runtime drives each source's flow control with them.
   */
  process(inputs: In): Observable<PacketMeta>;
  /**
   * Called once when the inputs have ended and every packet is finished (not after
   * an error): finalise outputs (flush, write an index, rename into place;
   * `ctx.signal.aborted` says the run was stopped). May return packets it
   * finished only now (held ones). Its promise is awaited before the run ends.
   */
  finish?(): Promise<readonly PacketMeta[] | void>;
  close(): Promise<void>;
}

/** Any node's instance, as the runtime and untyped callers see it. */
export interface AnyInstance {
  process(inputs: Streams): any;
  finish?(): Promise<readonly PacketMeta[] | void>;
  close(): Promise<void>;
}

export type NodeInstance<I extends Ports = Ports, O extends Ports = Ports, Opt extends string = string, J extends keyof I & string = keyof I & string, Keep extends string = string, R extends Role = Role> =
  [Role] extends [R] ? AnyInstance : R extends 'sink' ? SinkInstance<InputStreams<I, Opt, J, Keep>> : StreamInstance<InputStreams<I, Opt, J, Keep>, OutputStreams<O>>;

export interface NodeSpec<S extends z.ZodType = z.ZodType, I extends Ports = Ports, O extends Ports = Ports, Opt extends string = string, J extends keyof I & string = keyof I & string, Keep extends string = string, R extends Role = Role> {
  /** Registry key, kebab-case. */
  readonly type: string;
  readonly description: string;
  readonly inputs: I;
  readonly outputs: O;
  /** Inputs that may be left unwired. */
  readonly optionalInputs?: readonly Opt[];
  /** Inputs the runtime joins by (source, seq) before the node sees them. */
  readonly join?: JoinSpec<J, Keep>;
  readonly options: S;
  /** Sources emit without inputs; sinks end a branch. */
  readonly role: R;
  /** Source nodes: live sources drop rather than wait (edge default `freshest`). */
  readonly live?: boolean;
  /**
   * Frames in yuv420p (src/core/packet.ts `format`), checked by the graph loader: `takes`, the frame
   * inputs that accept them (every other frame input takes RGB24 only); `emits`, whether this node's
   * frame outputs carry them, from its options; `passes`, frame outputs that carry yuv420p when the
   * named input does.
   */
  readonly yuv?: {
    readonly takes?: readonly (keyof I & string)[];
    emits?(options: z.infer<S>): boolean;
    readonly passes?: Readonly<Partial<Record<keyof O & string, keyof I & string>>>;
  };
  open(ctx: NodeContext<z.infer<S>>): Promise<NodeInstance<I, O, Opt, J, Keep, R>>;
  /**
   * Optional: start slow set-up that `open()` will take over (a model loading in its thread), as
   * soon as the graph is known — `segflow process` calls it once the graph is validated, before it
   * probes inputs and prepares folders. Never throws. Returns what ends the set-up if `open()` never
   * took it (the caller runs it when its job is done).
   */
  warm?(options: z.infer<S>): (() => Promise<void>) | undefined;
}

/** A node spec, its port types inferred from the literal (`inputs`, `outputs`, `optionalInputs`, `join`, `role`). */
export function defineNode<S extends z.ZodType, const I extends Ports, const O extends Ports, const R extends Role,
  const Opt extends keyof I & string = never, const J extends keyof I & string = never, const Keep extends J = never>(
  spec: NodeSpec<S, I, O, Opt, J, Keep, R>,
): NodeSpec<S, I, O, Opt, J, Keep, R> {
  const where = `defineNode(${spec.type})`;
  for (const p of spec.optionalInputs ?? []) if (!(p in spec.inputs)) throw new TypeError(`${where}: optionalInputs: '${p}' is not an input; expected one of ${Object.keys(spec.inputs).join(', ')}`);
  if (spec.join) {
    for (const p of spec.join.ports) if (!(p in spec.inputs)) throw new TypeError(`${where}: join.ports: '${p}' is not an input; expected one of ${Object.keys(spec.inputs).join(', ')}`);
    for (const p of spec.join.keepUnmatched ?? []) if (!spec.join.ports.includes(p)) throw new TypeError(`${where}: join.keepUnmatched: '${p}' is not a joined port`);
    if (spec.join.ports.length < 2) throw new TypeError(`${where}: join.ports: expected at least 2 ports, got ${spec.join.ports.length}`);
  }
  return spec;
}

export type { PacketMeta };
