/**
 * V8 heap growth for the commands that push video through a graph (`run`,
 * `process`, `worker`).
 *
 * Such a process keeps a small JS heap (~13 MB) while it allocates and drops
 * several MB of frame buffers a frame. V8 sizes the old generation's limit
 * from the live heap (13 MB → ~29 MB), which leaves less slack than the young
 * generation's capacity, so incremental marking starts again right after every
 * full GC: ~52 mark-compacts on the 221-frame real clip, whose marking runs on
 * V8's helper threads (1.7 s of CPU there, ~8 ms a frame). Growing the limit to
 * 4x the live heap (`--heap-growing-percent=300`, read by V8 at every limit
 * computation, so it can be set at run time) gives ~15 mark-compacts and cut
 * the whole job's CPU by ~18 % (user + system, 3 interleaved pairs, 10.7 →
 * 8.7 s at 960x540), for a heap limit of ~50 MB instead of ~29 MB.
 * The segmenter's worker thread, started later, gets the same setting.
 */
import v8 from 'node:v8';

let done = false;
/** Set once per process (V8 flags are process-wide); later calls do nothing. */
export function growHeapForVideo(percent = 300): void {
  if (done) return;
  done = true;
  v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
}
