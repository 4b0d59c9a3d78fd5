/**
 * Wall-clock origins of live sources, per run.
 *
 * A live source stamps `ptsMs` as milliseconds since it started; it records
 * here the epoch time (ms) of `ptsMs = 0`, so a sink can turn any packet's
 * `ptsMs` back into the wall-clock time its frame was received and report
 * capture-to-delivery latency. Keyed by the run's `Metrics` object (one per
 * run), so two graphs in one process never see each other's clocks.
 */
import type { Metrics } from './runtime/metrics.ts';

const origins = new WeakMap<Metrics, Map<string, number>>();

/** Milliseconds since the Unix epoch, from the monotonic clock (sub-millisecond). */
export function epochNowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Source `source` of this run stamps `ptsMs = 0` at epoch time `originMs`. */
export function setLiveOrigin(metrics: Metrics, source: string, originMs: number): void {
  let m = origins.get(metrics);
  if (!m) origins.set(metrics, (m = new Map()));
  m.set(source, originMs);
}

/** Epoch ms of `ptsMs = 0` for a live source of this run; undefined for file sources. */
export function liveOrigin(metrics: Metrics, source: string): number | undefined {
  return origins.get(metrics)?.get(source);
}
