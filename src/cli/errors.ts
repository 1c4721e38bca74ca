/**
 * A mistake in what the user gave us (a file, a flag, a history): printed as one clear message
 * and exit code 2, never as a stack trace.
 */
export class UsageError extends Error {
  override name = 'UsageError';
}

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_BAD_INPUT = 2;
export const EXIT_UNKNOWN = 3;
