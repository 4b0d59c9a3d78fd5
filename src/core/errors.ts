/** Typed errors. Messages say where, what was expected, and what was found. */

/** A graph file or option is wrong. The CLI exits 2 on it, before anything opens. */
export class GraphError extends Error {
  override readonly name = 'GraphError';
  constructor(message: string, readonly file?: string, readonly line?: number) {
    super(message);
  }
}

/** An input (file, camera) is bad at run time: reported, counted, survived. */
export class InputError extends Error {
  override readonly name = 'InputError';
  constructor(message: string, readonly input: string) {
    super(message);
  }
}

/** A command line is wrong: exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
