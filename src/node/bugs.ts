/**
 * Known-bug switches: real code paths that reproduce a classic mistake, selectable in a scenario's
 * `bugs:` list, so the test suite can prove the checkers catch each one. A checker that cannot
 * fail proves nothing.
 */
export const BUGS = {
  'duplicate-apply': 'apply a retried request again instead of answering from the session table',
} as const;

export type BugName = keyof typeof BUGS;

export function isBugName(s: string): s is BugName {
  return Object.prototype.hasOwnProperty.call(BUGS, s);
}
