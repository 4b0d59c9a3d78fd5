/**
 * Tests that read ../shared (CamVid, the dashcam clip, the reference RTSP
 * server) skip, with one line saying why, where it is absent — a fresh clone
 * has no ../shared — and run everywhere else. SEGFLOW_SHARED=DIR points at
 * another copy (SEGFLOW_SHARED=/nonexistent shows what a fresh clone does);
 * SEGFLOW_REQUIRE_SHARED=1 (CI) turns every such skip back into a test that
 * fails, naming what is missing.
 *
 *   const camvid = needsShared(test, VAL);          // test, or a skipping stand-in
 *   camvid('eval › CamVid val', async (t) => { ... });
 *   const test = needsShared(ava, RTSP_SERVER);      // a whole file, hooks included
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHARED = path.resolve(ROOT, process.env.SEGFLOW_SHARED ?? path.join('..', 'shared'));
export const REQUIRE_SHARED = process.env.SEGFLOW_REQUIRE_SHARED === '1';

const said = new Set<string>();
const noop = Object.assign(() => {}, { always: () => {}, skip: () => {} });

/** `test` (ava's, or `test.serial`) when every path exists; otherwise the same calls, skipped, hooks not run. */
export function needsShared<T>(test: T, ...paths: string[]): T {
  const missing = paths.filter((p) => !existsSync(p));
  if (!missing.length || REQUIRE_SHARED) return test;
  const reason = `${missing[0]} is absent (../shared data; SEGFLOW_SHARED=DIR points elsewhere, SEGFLOW_REQUIRE_SHARED=1 makes this fail)`;
  const t = test as unknown as { skip: (...a: unknown[]) => unknown; serial?: { skip: (...a: unknown[]) => unknown }; todo?: unknown; macro?: unknown; meta?: unknown };
  const skipping = (skip: (...a: unknown[]) => unknown) => {
    const f = (title: string, ...rest: unknown[]) => {
      if (!said.has(reason)) {
        said.add(reason);
        console.log(`skipped: ${reason}`);
      }
      return skip(title, ...rest);
    };
    return Object.assign(f, { skip: f, only: f, failing: f, todo: t.todo, before: noop, after: noop, beforeEach: noop, afterEach: noop, macro: t.macro, meta: t.meta });
  };
  const stand = skipping(t.skip.bind(test)) as unknown as Record<string, unknown>;
  if (t.serial) stand.serial = skipping(t.serial.skip.bind(t.serial));
  return stand as T;
}
