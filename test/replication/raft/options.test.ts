import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_RAFT_OPTIONS, raftOptions, validateRaftOptions } from '../../../src/replication/raft/options.js';

test('the defaults are valid, with every bug switch off', () => {
  assert.is(validateRaftOptions(DEFAULT_RAFT_OPTIONS), null);
  assert.equal(Object.values(DEFAULT_RAFT_OPTIONS.bugs), [false, false, false]);
  assert.is(raftOptions({ bugs: { voteWithoutPersist: true } }).bugs.commitPreviousTermByCount, false);
});

test('invalid options are refused with what is wrong', () => {
  assert.throws(() => raftOptions({ electionTicks: 0 }), /electionTicks must be a positive integer/);
  assert.throws(() => raftOptions({ heartbeatTicks: 10, electionTicks: 10 }), /heartbeatTicks \(10\) must be less than electionTicks/);
  assert.throws(() => raftOptions({ readOnly: 'leaseBased', checkQuorum: false }), /requires checkQuorum/);
  assert.throws(() => raftOptions({ leaseMarginTicks: 10 }), /leaseMarginTicks/);
  assert.throws(() => raftOptions({ maxInflightMsgs: 1.5 }), /maxInflightMsgs/);
  assert.throws(() => raftOptions({ readOnly: 'fast' as 'safe' }), /readOnly must be/);
});

test.run();
