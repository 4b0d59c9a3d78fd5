/**
 * ONNX Runtime's telemetry, off. onnxruntime-node 1.30's Linux build carries Microsoft's 1DS
 * telemetry: every process that creates a session writes an (empty) `/tmp/mat-debug-<pid>.log`,
 * keeps a SQLite event store in `~/.cache/Microsoft/DeveloperTools/.onnxruntime/`, and uploads
 * events where it finds the internet and a CA bundle. A video tool run over folders, in tests and
 * on fleets leaves thousands of those files and must not send anything a user did not ask for, so
 * segflow sets `ORT_DISABLE_TELEMETRY=1` unless the user set that variable (to anything, e.g. `0`
 * to allow it). ONNX Runtime reads the process environment when its first session is created; a
 * worker thread's `process.env` is a private copy, so this runs on the main thread, at the entry
 * points (the CLI, the library) and where the engine is loaded there, before any thread starts.
 */
import { isMainThread } from 'node:worker_threads';

export function quietOrtTelemetry(): void {
  if (isMainThread && process.env.ORT_DISABLE_TELEMETRY === undefined) process.env.ORT_DISABLE_TELEMETRY = '1';
}
quietOrtTelemetry();
