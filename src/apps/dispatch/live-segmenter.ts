/**
 * The process side of `segflow run GRAPH --dispatch tcp://HOST:PORT` (live
 * sharding). The graph runs here as usual — cameras or realtime files,
 * downsamplers, and sinks such as a `zmq-sink` in `pub` mode or a
 * websocket-sink, which fan the results out to any number of subscribers —
 * except that each two-branch-segmenter node becomes a live remote segmenter.
 *
 * Each such node is one **stream**, keyed `<name>/<node>` (name:
 * `--stream-name`, default the graph file's base name, e.g.
 * `rtsp-live/segment`), which the Dispatcher shards over the workers: all of
 * a stream's frames go to one worker, which keeps the stream's temporal state;
 * a stream moves, with a `reassign` discontinuity, when its worker dies or
 * fails its frames, and when a worker joins that holds two or more streams
 * fewer than another (unless `--no-rebalance`; src/net/zmq/dispatcher.ts). One `run --dispatch` process owns the ROUTER, so
 * several cameras are several chains in its graph; another `run --dispatch`
 * needs its own endpoint and its own workers (a worker connects to one
 * dispatcher).
 *
 * The node never holds up its input: it offers every frame to the Dispatcher,
 * which keeps at most one frame of the stream at its worker and the freshest
 * one waiting (older ones are dropped and counted). Labels come back in seq
 * order carrying the discontinuity of the frame as sent (`start`, `reassign`,
 * ...), so downstream stateful nodes reset with the worker's state. When the
 * input ends the node waits for the frames still out (a dead worker's count
 * as lost, they are not waited for) and ends; a stop (SIGINT) ends it at once.
 */
import path from 'node:path';
import { Observable } from 'rxjs';
import { UsageError } from '../../core/errors.ts';
import type { GraphDef } from '../../core/graph/loader.ts';
import { defineNode, type NodeSpec } from '../../core/node.ts';
import type { Frame, Labels } from '../../core/packet.ts';
import type { CurveServerKeys } from '../../net/zmq/curve.ts';
import { Dispatcher, SEGMENTER_TYPE, type LiveStream } from '../../net/zmq/dispatcher.ts';
import { requireSegmenter } from './remote-segmenter.ts';

/** `--stream-name`, else the graph file's base name without `.yaml`. */
export function streamPrefix(graphFile: string, name?: string): string {
  if (name !== undefined && !/^\S{1,200}$/.test(name)) throw new UsageError(`--stream-name: expected 1..200 characters without spaces, got '${name}'`);
  return name ?? path.basename(graphFile).replace(/\.ya?ml$/i, '');
}

/** The graph with each segmenter node replaced by a live stream of `d`. */
export function liveDispatchGraph(def: GraphDef, d: Dispatcher, prefix: string): GraphDef {
  requireSegmenter(def);
  const nodes = def.nodes.map((n) => {
    if (n.type !== SEGMENTER_TYPE) return n;
    const spec = liveSegmenter(d, `${prefix}/${n.name}`, n.spec);
    return { ...n, type: spec.type, spec: spec as NodeSpec };
  });
  return { ...def, nodes };
}

function liveSegmenter(d: Dispatcher, key: string, segmenter: NodeSpec) {
  return defineNode({
    type: 'live-remote-segmenter',
    description: `${SEGMENTER_TYPE} run by a worker, stream ${key} (run --dispatch)`,
    role: 'transform',
    inputs: { frame: 'frame' },
    outputs: { labels: 'labels' },
    options: segmenter.options,
    async open(ctx) {
      let stream: LiveStream | undefined;
      return {
        process: ({ frame }) => ({
          labels: new Observable<Labels>((sub) => {
            let finished = false;
            const end = (e?: unknown) => {
              if (finished) return;
              finished = true;
              ctx.signal.removeEventListener('abort', onAbort);
              stream?.close();
              if (e) sub.error(e);
              else sub.complete();
            };
            const onAbort = () => end();
            const s = d.openStream({
              key, node: ctx.name, options: ctx.options,
              onLabels: (l) => {
                if (finished) return;
                ctx.metrics.count('segmenter_path_total', { node: ctx.name, path: l.path }, 1, 'Frames by network path (full = key frame).');
                sub.next(l);
              },
              onError: (e) => end(e),
            });
            stream = s;
            if (ctx.signal.aborted) {
              end();
              return undefined;
            }
            ctx.signal.addEventListener('abort', onAbort, { once: true });
            const input = frame.subscribe({
              next: (f: Frame) => s.push(f),
              error: (e) => end(e),
              complete: () => void s.drained().then(() => end()),
            });
            return () => {
              finished = true;
              input.unsubscribe();
              ctx.signal.removeEventListener('abort', onAbort);
              s.close();
            };
          }),
        }),
        async close() {
          stream?.close();
        },
      };
    },
  });
}

/** What `segflow run --dispatch` needs: a bound dispatcher and the rewritten graph. */
export interface LiveDispatch {
  readonly dispatcher: Dispatcher;
  /** The graph with its segmenters replaced by live streams. */
  readonly def: GraphDef;
  readonly streams: readonly string[];
  /** Logs the totals and closes the socket. */
  close(): Promise<void>;
}

export async function startLiveDispatch(o: { endpoint: string; def: GraphDef; streamName?: string | undefined; log?: (m: string) => void; curveKeys?: CurveServerKeys | undefined; rebalance?: boolean }): Promise<LiveDispatch> {
  requireSegmenter(o.def);
  const prefix = streamPrefix(o.def.file, o.streamName);
  const log = o.log ?? ((m: string) => process.stderr.write(m + '\n'));
  const d = new Dispatcher({ endpoint: o.endpoint, flag: '--dispatch', log, curveKeys: o.curveKeys, rebalance: o.rebalance });
  const at = await d.bind();
  const def = liveDispatchGraph(o.def, d, prefix);
  const streams = def.nodes.filter((n) => n.type === 'live-remote-segmenter').map((n) => `${prefix}/${n.name}`);
  log(`dispatch: listening on ${at}; live streams ${streams.join(', ')}; start workers with: segflow worker --connect ${at.replace('//0.0.0.0:', '//HOST:')}${o.curveKeys ? ' --curve-keys CLIENT.json' : ''}`);
  return {
    dispatcher: d, def, streams,
    close: async () => {
      log(d.summaryLine());
      await d.close();
    },
  };
}
