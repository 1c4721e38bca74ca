/**
 * Assertions that stay on in production: a broken invariant stops the component loudly instead of
 * letting it limp on with corrupt state (TigerBeetle's and etcd raft's habit).
 */
export class AssertionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AssertionError';
  }
}

export function assert(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new AssertionError(typeof message === 'string' ? message : message());
}

/** For switch statements that must cover every case of a union. */
export function unreachable(value: never, what = 'value'): never {
  throw new AssertionError(`unreachable: unexpected ${what} ${JSON.stringify(value)}`);
}
