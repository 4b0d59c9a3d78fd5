/** A child process (spawnSegflow) watched: its stderr so far, a wait for a line, its exit code (helpers/cli.ts watchChild). */
export { watchChild as watch } from './cli.ts';
