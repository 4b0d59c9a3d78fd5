/** A child process (spawnSegflow) watched: its stderr so far, a wait for a line, its exit code. */
import type { spawnSegflow } from './cli.ts';

type Child = ReturnType<typeof spawnSegflow>;

/** Everything a child wrote to stderr so far, and a way to wait for a line. */
export function watch(child: Child): { text(): string; until(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>; exit: Promise<number | null> } {
  let buf = '';
  const waiters = new Set<() => void>();
  child.stderr!.on('data', (d: Buffer) => {
    buf += d.toString();
    for (const w of [...waiters]) w();
  });
  child.stdout!.resume();
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return {
    text: () => buf,
    exit,
    until: (re, timeoutMs = 120_000) => new Promise((resolve, reject) => {
      const check = () => {
        const m = buf.match(re);
        if (!m) return;
        waiters.delete(check);
        clearTimeout(t);
        resolve(m);
      };
      const t = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out waiting for ${re}; stderr so far: ${buf.slice(-800)}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    }),
  };
}
