/**
 * Edge queues (the `serial` stage in front of an asynchronous node is in src/core/runtime/operators/serial.ts, re-exported here).
 *
 * Each edge declares a policy in the graph file:
 *  - `lossless`: nothing is dropped; the queue is bounded by the source's flow
 *    control (back-pressure reaches the decoder). Default for file sources.
 *  - `freshest`: at most `size` packets wait; when full, the oldest is dropped
 *    and counted. Default for live sources, so latency stays bounded when the
 *    model is slower than the camera.
 *
 * A dropped packet that carried a discontinuity passes the mark to the packet
 * that replaces it, so stateful nodes downstream still reset.
 *
 * **The runtime owns the edges.** The runner pipes every input of every node
 * through its edge's `EdgeQueue.edge()` before the node sees it, so a node
 * never implements edge semantics itself:
 *  - lossless: a pass-through (flow control at the source bounds it);
 *  - freshest: the `freshest` operator (./operators/freshest.ts) holds the
 *    packets and hands the node one when it is ready. A node that handles a
 *    packet synchronously (a `map`) is ready again once that call returns and
 *    the event loop has had a turn (`setImmediate`), so packets that arrive
 *    meanwhile (I/O, other branches) wait here and the oldest are dropped.
 * A node that works asynchronously wraps its work in `serial(ctx.queue(port),
 * fn, depth)`. On an edge the runtime owns, serial *claims* each packet it is
 * handed and releases it when fn's result is emitted, so the edge hands it at
 * most `depth` packets at once and packets wait in exactly one place — the
 * edge — under its policy. Without a runner (library use, `defaultQueue`),
 * serial applies the queue's policy to its own buffer, as before.
 */
import { identity, Observable, Subject, type OperatorFunction } from 'rxjs';
import { withDiscontinuity, type PacketMeta } from '../packet.ts';
import { freshest } from './operators/freshest.ts';

export interface QueuePolicy {
  readonly policy: 'lossless' | 'freshest';
  /** Maximum packets waiting (freshest only). */
  readonly size: number;
}

/**
 * What the edges into one node share: the hand-over in progress (so `serial`
 * claims a packet whichever edge handed it, also through a join), how many
 * packets the node may hold, and the runtime's hooks that restart the node's
 * clock when it starts work on a packet and stop it when that work is over
 * (src/core/runtime/timing.ts).
 */
export class NodeGate {
  /** The credit line of the edge handing a packet over right now, if any. */
  handing: Subject<void> | undefined;
  /** Packets the consumer may hold at once; `serial` raises it to its depth before it subscribes. */
  capacity = 1;
  /** Called with what `serial` starts work on (a packet, or a joined record). */
  onStart: ((x: unknown) => void) | undefined;
  /** Called with what `serial` finished work on, after its result (if any) was emitted. */
  onEnd: ((x: unknown) => void) | undefined;
}

export class EdgeQueue {
  depth = 0;
  maxDepth = 0;
  drops = 0;
  delivered = 0;
  /** True once the runtime applies this queue on its edge (`edge()`); serial then only claims packets. */
  owned = false;

  /**
   * @param yieldTo how a synchronous consumer's credit comes back after it handled a
   *   packet: on the next event-loop turn, so I/O that arrived meanwhile is queued first.
   * @param gate shared by the edges into one node (src/core/runtime/context.ts); its own by default.
   */
  constructor(readonly name: string, readonly policy: QueuePolicy, private readonly yieldTo: (fn: () => void) => void = setImmediate, readonly gate: NodeGate = new NodeGate()) {}

  /** Packets the consumer may hold at once (shared by the node's edges). */
  get capacity(): number {
    return this.gate.capacity;
  }
  set capacity(n: number) {
    this.gate.capacity = n;
  }

  /**
   * The runtime's operator for this edge (see the file comment): lossless passes
   * packets through; freshest buffers them under the policy, counts drops and
   * depth here, and delivers one when the consumer is ready.
   */
  edge<T extends PacketMeta>(): OperatorFunction<T, T> {
    if (this.policy.policy === 'lossless') return identity;
    this.owned = true;
    return (source) =>
      new Observable<T>((sub) => {
        const ready = new Subject<void>();
        return source.pipe(freshest<T>({
          size: this.policy.size,
          ready,
          credits: this.capacity,
          onDrop: () => this.drops++,
          onDepth: (d) => {
            this.depth = d;
            if (d > this.maxDepth) this.maxDepth = d;
          },
        })).subscribe({
          next: (x) => {
            this.delivered++;
            const gate = this.gate;
            const outer = gate.handing;
            gate.handing = ready;
            try {
              sub.next(x);
            } finally {
              const unclaimed = gate.handing === ready;
              gate.handing = outer;
              // Not claimed: the consumer finished it in next() (or a join holds it); its credit comes back next turn.
              if (unclaimed) this.yieldTo(() => ready.next());
            }
          },
          error: (e) => sub.error(e),
          complete: () => sub.complete(),
        });
      });
  }

  /**
   * Called by an asynchronous consumer (serial) while it is handed a packet: the
   * packet stays "held" until the returned function is called, and the edge hands
   * over no more than `capacity` held packets. Outside a hand-over (library use,
   * a lossless edge) it returns a no-op.
   */
  claim(): () => void {
    const ready = this.gate.handing;
    if (!ready) return () => {};
    this.gate.handing = undefined;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      ready.next();
    };
  }

  /** Append to `buf` under this policy, counting a drop (library use: `serial` without a runner). */
  push<T>(buf: T[], item: T): void {
    if (this.policy.policy === 'freshest' && buf.length >= this.policy.size) {
      const dropped = buf.shift() as unknown as PacketMeta;
      this.drops++;
      const meta = item as unknown as PacketMeta;
      if (dropped && typeof dropped === 'object' && dropped.discontinuity && !meta.discontinuity) {
        item = withDiscontinuity(meta, dropped.discontinuity) as unknown as T;
      }
    }
    buf.push(item);
    this.depth = buf.length;
    if (buf.length > this.maxDepth) this.maxDepth = buf.length;
  }
}

/** A queue for nodes whose input port was not wired through the runner (library use). */
export function defaultQueue(name = 'input'): EdgeQueue {
  return new EdgeQueue(name, { policy: 'lossless', size: Infinity });
}

export { serial, type SerialQueue } from './operators/serial.ts';
