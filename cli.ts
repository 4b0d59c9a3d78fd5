/**
 * The segflow command's composition root: the command line (src/apps/cli.ts)
 * with this package's node types (nodes/index.ts), loaded only when a command
 * needs them. bin/segflow.js runs it; src/ itself never imports nodes/.
 */
import { main as cli } from './src/apps/cli.ts';

export function main(argv: string[]): Promise<number> {
  return cli(argv, async () => (await import('./nodes/index.ts')).registry);
}
