#!/usr/bin/env node
// Runs the TypeScript sources directly with tsx's loader, so `node bin/segflow.js` works after `npm install`.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
const code = await main(process.argv.slice(2));
process.exitCode = code;
