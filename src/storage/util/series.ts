/**
 * Runs asynchronous steps one after another (each gets a callback to call when done), stopping at
 * the first error; a step that throws fails the series with that error. The storage engines' multi-
 * step durable updates (write, fsync, rename, fsync the directory) read as a list this way.
 */
export type Step = (next: (err: Error | null) => void) => void;

export function series(steps: readonly Step[], done: (err: Error | null) => void): void {
  let i = 0;
  let finished = false;
  const run = (err: Error | null): void => {
    if (finished) return;
    if (err !== null || i === steps.length) {
      finished = true;
      return done(err);
    }
    const step = steps[i++] as Step;
    try {
      step(run);
    } catch (e) {
      run(e as Error);
    }
  };
  run(null);
}
