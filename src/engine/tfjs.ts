/** Placeholder replaced by the TF.js engine implementation. */
import type { EngineOptions, SegEngine } from './engine.ts';
import type { Manifest } from './model.ts';

export async function createTfjsEngine(_dir: string, _m: Manifest, _o: EngineOptions = {}): Promise<SegEngine> {
  throw new Error('tfjs engine: not built yet');
}
