/**
 * The segflow command's composition root: the command line (src/apps/cli.ts)
 * with this package's node types (nodes/index.ts), loaded only when a command
 * needs them. bin/segflow.js runs it; src/ itself never imports nodes/.
 */
import './src/segmentation/engine/ort-env.ts'; // ONNX Runtime's telemetry off before any thread starts
import { main as cli } from './src/apps/cli.ts';

export function main(argv: string[]): Promise<number> {
  return cli(argv, async () => (await import('./nodes/index.ts')).registry);
}
