// Worker-thread entry: run the segmenter thread from its plain-JS bundle when
// that is fresh (src/thread/bundle.mjs), else load the TypeScript through tsx
// (the parent may have registered it only in its own thread).
import { freshBundle } from './bundle.mjs';

const bundle = process.env.SEGFLOW_NO_BUNDLE ? undefined : freshBundle('segmenter-thread');
globalThis.segflowThreadBoot = bundle ? 'bundle' : 'tsx';
if (bundle) {
  await import(bundle);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./segmenter-thread.ts');
}
