/**
 * A mistake in what the user gave us (a file, a flag, a history): printed as one clear message
 * and exit code 2, never as a stack trace.
 */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * What the machine refused us, not a mistake of the user's or a bug of ours: no free port, a real
 * node that would not start or answer in time. Printed as one message (with what the node logged)
 * and exit code 4, never as a stack trace or an "internal error".
 */
export class EnvironmentError extends Error {
  override name = 'EnvironmentError';
}

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_BAD_INPUT = 2;
export const EXIT_UNKNOWN = 3;
export const EXIT_ENVIRONMENT = 4;
