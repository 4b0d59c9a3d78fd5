/**
 * The process side of `segflow process --dispatch`: the graph runs here as
 * usual (decoder, downsampler, overlay, encoder, label-map and statistics
 * sinks), except that each two-branch-segmenter node is replaced by a
 * remote-segmenter. It cuts its frames into chunks — a chunk starts at every
 * discontinuity mark (the decoder marks one every `chunkFrames` frames) and
 * holds at most `chunkFrames` frames — hands each chunk to the Dispatcher,
 * and emits the label maps that come back in seq order. Every sink therefore
 * sees exactly the packets, in exactly the order, of a single-process run
 * with the same `--chunk-frames`, and writes each output once.
 *
 * Frames stay in flight until their labels return, so the graph's
 * `maxInFlight` is raised to hold `CHUNKS_IN_FLIGHT` chunks (enough to keep
 * that many workers busy), but kept under the 256 frames that a seq join
 * (overlay) holds while it waits.
 */
import path from 'node:path';
import { Observable } from 'rxjs';
import { UsageError } from '../../core/errors.ts';
import { loadGraphFile, type GraphDef, type Registry } from '../../core/graph/loader.ts';
import { collapseDecomposed } from '../../segmentation/collapse.ts';
import { defineNode, type NodeSpec } from '../../core/node.ts';
import { withDiscontinuity, type Frame, type Labels } from '../../core/packet.ts';
import type { CurveServerKeys } from '../../net/zmq/curve.ts';
import { Dispatcher, SEGMENTER_TYPE, type DispatchStats } from '../../net/zmq/dispatcher.ts';

export const DEFAULT_CHUNK_FRAMES = 30;
/** Chunks a file may have in flight (frames decoded, labels not yet back). */
export const CHUNKS_IN_FLIGHT = 8;
/** Below the 256 frames a seq join (overlay) keeps waiting for their labels. */
export const MAX_FRAMES_IN_FLIGHT = 240;

/** Throws UsageError when the graph has no segmenter node to hand to workers (`process` and `run`). */
export function requireSegmenter(def: GraphDef): void {
  if (!def.nodes.some((n) => n.type === SEGMENTER_TYPE)) {
    throw new UsageError(`--dispatch: ${def.file} has no ${SEGMENTER_TYPE} node to hand to workers`);
  }
}

/** Throws UsageError when the graph has nothing to dispatch or the chunk size cannot work. */
export function checkDispatchable(def: GraphDef, chunkFrames: number): void {
  requireSegmenter(def);
  const most = MAX_FRAMES_IN_FLIGHT / 2;
  if (!Number.isInteger(chunkFrames) || chunkFrames < 1 || chunkFrames > most) {
    throw new UsageError(`--chunk-frames: expected an integer 1..${most} with --dispatch (two chunks must fit in the ${MAX_FRAMES_IN_FLIGHT} frames in flight), got ${chunkFrames}`);
  }
}

/** The graph with its segmenters run by `d`'s workers, for one input file. */
export function dispatchGraph(graph: GraphDef, d: Dispatcher, chunkFrames: number, input: string): GraphDef {
  // A decomposed segmentation (scheduler → segmenter → propagation) goes to the workers as one segmenter.
  const def = collapseDecomposed(graph);
  const spec = remoteSegmenter(d, chunkFrames, path.basename(input), segmenterSpec(def));
  const nodes = def.nodes.map((n) => (n.type === SEGMENTER_TYPE ? { ...n, type: spec.type, spec: spec as NodeSpec } : n));
  const window = Math.min(MAX_FRAMES_IN_FLIGHT, chunkFrames * CHUNKS_IN_FLIGHT);
  return { ...def, nodes, maxInFlight: Math.max(def.maxInFlight, window) };
}

/** The segmenter's spec as the graph loaded it (its options schema is the stand-in's). */
function segmenterSpec(def: GraphDef): NodeSpec {
  requireSegmenter(def);
  return def.nodes.find((n) => n.type === SEGMENTER_TYPE)!.spec;
}

function remoteSegmenter(d: Dispatcher, chunkFrames: number, file: string, segmenter: NodeSpec) {
  return defineNode({
    type: 'remote-segmenter',
    description: `${SEGMENTER_TYPE} run by workers (process --dispatch)`,
    role: 'transform',
    inputs: { frame: 'frame' },
    outputs: { labels: 'labels' },
    options: segmenter.options,
    async open(ctx) {
      const tickets = new Set<number>();
      return {
        process: ({ frame }) => ({
          labels: new Observable<Labels>((sub) => {
            let chunk: Frame[] = [];
            let made = 0;
            let next = 0;
            let ended = false;
            let finished = false;
            const ready = new Map<number, Labels[]>();
            const stop = () => {
              for (const id of tickets) d.cancel(id);
              tickets.clear();
            };
            const end = (e?: unknown) => {
              if (finished) return;
              finished = true;
              stop();
              ctx.signal.removeEventListener('abort', onAbort);
              if (e) sub.error(e);
              else sub.complete();
            };
            const drain = () => {
              for (let ls = ready.get(next); ls !== undefined && !finished; ls = ready.get(++next)) {
                ready.delete(next);
                for (const l of ls) {
                  ctx.metrics.count('segmenter_path_total', { node: ctx.name, path: l.path }, 1, 'Frames by network path (full = key frame).');
                  sub.next(l);
                }
              }
              if (ended && next === made) end();
            };
            const flush = () => {
              if (chunk.length === 0) return;
              const frames = chunk;
              chunk = [];
              // A worker's segmenter restarts at the chunk's first frame; say so if the decoder did not.
              if (!frames[0]!.discontinuity) frames[0] = withDiscontinuity(frames[0]!, 'chunk');
              const idx = made++;
              const first = frames[0]!;
              const key = `${file} ${first.source} [${first.seq}..${frames[frames.length - 1]!.seq}]`;
              const t = d.submit({ key, node: ctx.name, options: ctx.options, frames });
              tickets.add(t.id);
              t.result.then(
                (ls) => {
                  tickets.delete(t.id);
                  ready.set(idx, ls);
                  drain();
                },
                (e: unknown) => {
                  tickets.delete(t.id);
                  if (!ctx.signal.aborted) end(e);
                },
              );
            };
            // A stopped run does not wait for chunks still out: what is complete is emitted, the rest dropped.
            const onAbort = () => {
              stop();
              chunk = [];
              ended = true;
              made = next;
              while (ready.has(made)) made++;
              drain();
            };
            ctx.signal.addEventListener('abort', onAbort, { once: true });
            const s = frame.subscribe({
              next: (f: Frame) => {
                if (finished) return;
                if (f.discontinuity && chunk.length > 0) flush();
                chunk.push(f);
                if (chunk.length >= chunkFrames) flush();
              },
              error: (e) => end(e),
              complete: () => {
                if (ctx.signal.aborted) return onAbort();
                flush();
                ended = true;
                drain();
              },
            });
            return () => {
              s.unsubscribe();
              stop();
              ctx.signal.removeEventListener('abort', onAbort);
            };
          }),
        }),
        async close() {
          for (const id of tickets) d.cancel(id);
        },
      };
    },
  });
}

/** What `segflow process --dispatch` needs: a bound dispatcher and the hooks processFiles calls. */
export interface Dispatch {
  readonly dispatcher: Dispatcher;
  /** Applied to each file's graph. */
  rewrite(def: GraphDef, input: string): GraphDef;
  /** For summary.json. */
  summary(): DispatchStats;
  /** Logs the totals and closes the socket. */
  close(): Promise<void>;
}

export async function startDispatch(o: { endpoint: string; graph: string; sets: readonly string[]; chunkFrames: number; registry: Registry; log?: (m: string) => void; curveKeys?: CurveServerKeys | undefined }): Promise<Dispatch> {
  checkDispatchable(loadGraphFile(o.graph, o.registry, { sets: o.sets, vars: { input: 'input.mp4', out: 'out' } }), o.chunkFrames);
  const log = o.log ?? ((m: string) => process.stderr.write(m + '\n'));
  const d = new Dispatcher({ endpoint: o.endpoint, log, curveKeys: o.curveKeys });
  const at = await d.bind();
  log(`dispatch: listening on ${at}; chunks of ${o.chunkFrames} frames; start workers with: segflow worker --connect ${at.replace('//0.0.0.0:', '//HOST:')}${o.curveKeys ? ' --curve-keys CLIENT.json' : ''}`);
  return {
    dispatcher: d,
    rewrite: (def, input) => dispatchGraph(def, d, o.chunkFrames, input),
    summary: () => d.stats(),
    close: async () => {
      log(d.summaryLine());
      await d.close();
    },
  };
}
