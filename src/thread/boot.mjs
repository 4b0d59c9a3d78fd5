// Worker-thread entry: load TypeScript through tsx (the parent may have
// registered it only in its own thread), then run the segmenter thread.
import { register } from 'tsx/esm/api';

register();
await import('./segmenter-thread.ts');
