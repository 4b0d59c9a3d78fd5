// Executor thread entry when running from the TypeScript sources: register tsx in this
// thread (the parent may have registered it only in its own), then run the thread.
// The built package starts dist/src/core/executor-thread.js directly (src/core/executor.ts).
globalThis.segflowThreadBoot = 'tsx';
const { register } = await import('tsx/esm/api');
register();
await import('./executor-thread.ts');
