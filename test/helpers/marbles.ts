/**
 * RxJS's TestScheduler, checked with ava's deepEqual (typed arrays compared by value), for the
 * marble tests of the pure operators (src/<layer>/operators/). In a marble, each character is one
 * frame of virtual time: `a` a value, `-` nothing, `|` completion, `#` an error, `(ab)` at once.
 *
 * ```ts
 * marbles(t).run(({ cold, expectObservable }) => {
 *   expectObservable(cold('a-b|', { a: 1, b: 2 }).pipe(map((x) => x * 10))).toBe('x-y|', { x: 10, y: 20 });
 * });
 * ```
 */
import type { ExecutionContext } from 'ava';
import { TestScheduler } from 'rxjs/testing';

export function marbles(t: ExecutionContext): TestScheduler {
  return new TestScheduler((actual, expected) => t.deepEqual(actual, expected));
}
