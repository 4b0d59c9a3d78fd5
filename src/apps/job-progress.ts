/**
 * Progress over a whole `process` job: which input of how many, and when the job should end.
 *
 * The estimate goes by file size — bytes of the planned inputs done so far (finished files, plus the
 * share of the running ones their frames say) against the time since the first one started — so no
 * input is probed ahead (a card of 400 recordings would cost 400 ffprobes before the first frame),
 * and recordings of one camera, of about one bitrate, weigh what they take. A file that fails or is
 * interrupted leaves the plan (neither work done nor work to do; its time stays in the elapsed, so
 * the estimate errs long). Nothing is estimated before `MIN_S` seconds or before any progress.
 */
export interface PlannedFile {
  readonly path: string;
  readonly bytes: number;
}

/** Seconds of work before an estimate is given (the start-up would make the first ones wild). */
const MIN_S = 3;

export class JobProgress {
  private readonly sizes = new Map<string, number>();
  private readonly running = new Map<string, { index: number; frac: number }>();
  private total = 0;
  private done = 0;
  private started = 0;
  private t0: number | undefined;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** The inputs the job will process (skipped ones left out); replaces an earlier plan. */
  plan(files: readonly PlannedFile[]): void {
    this.sizes.clear();
    for (const f of files) this.sizes.set(f.path, Math.max(0, f.bytes));
    this.total = [...this.sizes.values()].reduce((a, b) => a + b, 0);
  }

  /** How many inputs the plan has. */
  get files(): number {
    return this.sizes.size;
  }

  /** `file` started: its number in the job (1-based, in the order inputs start). */
  start(file: string): number {
    this.t0 ??= this.now();
    const index = ++this.started;
    this.running.set(file, { index, frac: 0 });
    return index;
  }

  /** The number `start` gave `file` (undefined once it ended, or for a file never started). */
  indexOf(file: string): number | undefined {
    return this.running.get(file)?.index;
  }

  /** `done` of `totalFrames` frames of `file` are finished. */
  frame(file: string, done: number, totalFrames: number | undefined): void {
    const r = this.running.get(file);
    if (r && totalFrames && totalFrames > 0) r.frac = Math.min(1, Math.max(0, done / totalFrames));
  }

  /** `file` ended: `ok` (done, or skipped) counts its bytes as done; otherwise it leaves the plan. */
  end(file: string, ok: boolean): void {
    this.running.delete(file);
    const bytes = this.sizes.get(file);
    if (bytes === undefined) return;
    if (ok) this.done += bytes;
    else {
      this.total -= bytes;
      this.sizes.delete(file);
    }
  }

  /** Seconds until the whole job ends, or undefined while there is too little to go by. */
  etaS(): number | undefined {
    if (this.t0 === undefined) return undefined;
    const elapsed = (this.now() - this.t0) / 1000;
    let done = this.done;
    for (const [file, r] of this.running) done += (this.sizes.get(file) ?? 0) * r.frac;
    if (elapsed < MIN_S || done <= 0 || this.total <= 0) return undefined;
    return Math.max(0, (elapsed * (this.total - done)) / done);
  }
}

/** A duration for a progress line: `42s`, `3m05s`, `2h13m`. */
export function shortDuration(s: number): string {
  const t = Math.round(s);
  if (t < 60) return `${t}s`;
  if (t < 3600) return `${Math.floor(t / 60)}m${String(t % 60).padStart(2, '0')}s`;
  return `${Math.floor(t / 3600)}h${String(Math.floor((t % 3600) / 60)).padStart(2, '0')}m`;
}
