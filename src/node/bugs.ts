/**
 * Known-bug switches: real code paths that reproduce a classic mistake, selectable in a scenario's
 * `bugs:` list, so the test suite can prove the checkers catch each one. A checker that cannot
 * fail proves nothing.
 */
export const BUGS = {
  'duplicate-apply': 'apply a retried request again instead of answering from the session table',
  'ack-before-fsync': 'a single node acknowledges writes before its engine has fsynced them',
  'ack-before-commit': 'answer a write as soon as the leader has proposed it, before a majority stores it',
  'vote-without-persist': 'send a granted vote before the vote is durable (a crash forgets it)',
  'read-without-read-index': 'serve reads on any node from its local state, without confirming leadership',
  'commit-previous-term': 'commit entries of earlier terms by counting replicas (Raft paper, Figure 8)',
  'skip-log-fsync': 'never fsync the Raft log, so acknowledged entries may vanish in a crash',
  'gateway-ack-on-forward': 'the front door answers a write OK as soon as it has forwarded it to the leader, before the leader replies',
  'txn-release-locks-before-commit': 'a transaction\'s locks are released when COMMIT arrives, before its commit entry is applied',
  'move-remove-early': 'a moving shard removes the replica leaving before its replacement has been added and caught up',
  'txn-read-uncommitted': 'reads in a transaction take no lock and see other open transactions\' buffered writes',
  'txn-prepare-not-durable': 'a cross-shard participant votes yes with its locks and writes in its leader\'s memory only, before a prepare entry is in its Raft log',
  'txn-coordinator-forgets-decision': 'a cross-shard coordinator\'s new leader answers participants and resent COMMITs from its memory alone, not from the decision in its log: what it does not remember it calls aborted',
  'txn-single-key-unordered': 'on a sharded cluster, single-key reads and writes outside transactions pass around the transactions\' locks: a write may land between a transaction\'s read and its commit',
} as const;

export type BugName = keyof typeof BUGS;

