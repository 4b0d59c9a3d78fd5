/**
 * Forced exit on a repeated SIGINT/SIGTERM ("again to force").
 *
 * The uncommitted temporary outputs are removed at once (nothing half-written
 * is left under any name), then the process ends by the signal itself, with the
 * default action: no JavaScript teardown, no waiting on threads or sockets, and
 * the exit status a shell expects of an interrupted program (128 + 2 = 130 for
 * SIGINT). `process.exit()` is not used: called while worker threads (the
 * segmenter's, the executors') are running or being ended, Node can abort
 * (SIGABRT) instead of exiting.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { removeUncommitted } from '../media/output.ts';

export function forceExit(sig: NodeJS.Signals): never {
  removeUncommitted();
  process.removeAllListeners(sig);
  process.kill(process.pid, sig);
  // The signal is delivered to some thread of this process; give it a moment, then exit plainly.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2000);
  process.exit(130);
}

/**
 * After a stop was asked for, the process is on its way out (closing threads,
 * sockets). A further Ctrl-C in that window is a forced exit as during the run,
 * whichever moment it lands in.
 */
export function forceExitOnSignal(): void {
  process.once('SIGINT', forceExit);
  process.once('SIGTERM', forceExit);
}

/**
 * SIGKILL this process's own child processes (found by their parent pid in
 * /proc; nothing where there is no /proc), before a forced exit that would
 * leave them behind: an ffprobe or ffmpeg a node started while opening.
 */
export function killChildren(): void {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return;
  }
  for (const d of pids) {
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      // pid (comm) state ppid …: comm may hold spaces and parentheses, so read after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid) process.kill(Number(d), 'SIGKILL');
    } catch {
      // ended meanwhile, or not ours to signal
    }
  }
}
