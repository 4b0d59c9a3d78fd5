#!/usr/bin/env node
// The segflow command: runs the compiled CLI in dist/ (no TypeScript at run time).
// In a checkout (tsconfig.json beside package.json) whose sources changed since the
// last build (`npm run build`), it runs the TypeScript sources through tsx instead,
// so an edit never runs stale code; SEGFLOW_FROM_SOURCE=1 forces that.
import { existsSync } from 'node:fs';

const root = new URL('../', import.meta.url);
let main;
if (existsSync(new URL('tsconfig.json', root)) && (process.env.SEGFLOW_FROM_SOURCE || !(await import('../scripts/build.mjs')).distFresh())) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../cli.ts'));
} else {
  ({ main } = await import('../dist/src/bundle/cli.js'));
}
process.exitCode = await main(process.argv.slice(2));
