import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  formatCommand,
  formatReply,
  formatToken,
  formatTokens,
  LineSyntaxError,
  parseCommand,
  parseReply,
  parseTokens,
  tokenize,
  type LineCommand,
  type LineReply,
} from '../../src/wire/line.js';
import { commandOp, resultReply } from '../../src/frontdoor/line/commands.js';
import { RANGE_LIMIT_MAX } from '../../src/node/protocol.js';

// The line protocol's parser and formatter: the documented quoting rule, every command's syntax
// and arity, and round trips for any text (fast-check, including quotes, controls and emoji).

const T = suite('tokens');

T('bare words split on spaces and tabs; quoted tokens are JSON strings', () => {
  assert.equal(tokenize('PUT  nickname\tcodejitsu '), ['PUT', 'nickname', 'codejitsu']);
  assert.equal(tokenize('PUT "two words" "say \\"hi\\"" ""'), ['PUT', 'two words', 'say "hi"', '']);
  assert.equal(tokenize('"tab\\there" "\\u00e9t\\u00e9" "line\\nbreak"'), ['tab\there', 'été', 'line\nbreak']);
  assert.equal(tokenize('back\\slash is literal'), ['back\\slash', 'is', 'literal'], 'no escapes in bare words');
  assert.equal(tokenize('naïve 日本 🙂'), ['naïve', '日本', '🙂']);
  assert.equal(tokenize('   '), []);
});

T('quoting mistakes are errors that say where', () => {
  const err = (line: string) => {
    try {
      tokenize(line);
    } catch (e) {
      assert.instance(e, LineSyntaxError);
      return (e as Error).message;
    }
    assert.unreachable(`no error for ${line}`);
    return '';
  };
  assert.match(err('PUT "open'), /unterminated quoted token starting at column 5/);
  assert.match(err('PUT "a"b'), /must be followed by a space \(column 8\)/);
  assert.match(err('PUT it"s'), /double quote inside a bare word \(column 7\)/);
  assert.match(err('PUT "bad \\x"'), /bad quoted token at column 5/);
  assert.match(err('PUT "raw\ttab"'), /bad quoted token/, 'JSON forbids raw control characters in strings');
});

T('the formatter quotes exactly what needs quoting', () => {
  assert.is(formatToken('codejitsu'), 'codejitsu');
  assert.is(formatToken('a\\b'), 'a\\b');
  assert.is(formatToken(''), '""');
  assert.is(formatToken('two words'), '"two words"');
  assert.is(formatToken('say "hi"'), '"say \\"hi\\""');
  assert.is(formatToken('\u0007'), '"\\u0007"');
  assert.is(formatToken('\ud800'), '"\\ud800"', 'a lone surrogate has no UTF-8 form: escaped');
  assert.is(formatToken('🙂'), '🙂');
});

T('any list of strings survives formatting and tokenizing (fast-check)', () => {
  const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 20 }), fc.string({ maxLength: 20 }), fc.constantFrom('"', '\\', ' ', '\t', '\r', '\n', '""', '\\"', '\u2028'));
  fc.assert(
    fc.property(fc.array(text, { maxLength: 8 }), (tokens) => {
      const line = formatTokens(tokens);
      assert.not.match(line, /[\r\n]/, 'a formatted line never breaks');
      assert.equal(tokenize(line), tokens);
    }),
  );
});

T('a token is written bare exactly when it has no whitespace, quote, control or lone surrogate (fast-check)', () => {
  // The definition, spelled as a regular expression; formatToken checks ASCII by char codes.
  const bare = (t: string) => t !== '' && !/[\s"\u0000-\u001f\u007f-\u009f]/.test(t) && (t as unknown as { isWellFormed(): boolean }).isWellFormed();
  const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 12 }), fc.string({ unit: 'grapheme-ascii', maxLength: 12 }), fc.constantFrom('\u00a0', '\u0085', '\u2028', '\ufeff', '\u007f', 'a\u0080', 'é', '\u3000x'));
  fc.assert(fc.property(text, (t) => assert.is(formatToken(t) === t, bare(t), JSON.stringify(t))));
});

T('tokenizing never throws anything but LineSyntaxError (fast-check)', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (line) => {
      try {
        tokenize(line);
      } catch (e) {
        assert.instance(e, LineSyntaxError);
      }
    }),
  );
});

const C = suite('commands');

C('the plain-GET shortcut parses every line as the tokenizer does (fast-check)', () => {
  const outcome = (parse: (l: string) => LineCommand, line: string) => {
    try {
      return parse(line);
    } catch (e) {
      assert.instance(e, LineSyntaxError);
      return (e as Error).message;
    }
  };
  const piece = fc.oneof(fc.constantFrom(' ', '\t', '"', '\\', 'é', '🙂', '\ud800', '\r', 'k', ':'), fc.string({ maxLength: 4 }));
  const rest = fc.array(piece, { maxLength: 6 }).map((p) => p.join(''));
  const head = fc.constantFrom('GET ', 'GET', 'GET  ', 'get ', 'GET\t', 'GETS ', ' GET ', 'READ ', '');
  fc.assert(
    fc.property(head, rest, (h, r) => {
      const line = h + r;
      assert.equal(outcome(parseCommand, line), outcome(parseTokens, line), JSON.stringify(line));
    }),
    { numRuns: 2000 },
  );
  assert.equal(parseCommand('GET key:1'), { verb: 'GET', key: 'key:1' });
  assert.equal(parseCommand('GET naïve🙂'), { verb: 'GET', key: 'naïve🙂' });
  assert.throws(() => parseCommand('GET a b'), /GET's last argument must be a transaction id/);
  assert.equal(parseCommand('GET a 3.17'), { verb: 'GET', key: 'a', txn: '3.17' });
  assert.throws(() => parseCommand('GET a"b'), /double quote inside a bare word/);
});

C('every command parses, with aliases and any case for the verb', () => {
  assert.equal(parseCommand('PUT nickname codejitsu'), { verb: 'PUT', key: 'nickname', value: 'codejitsu' });
  assert.equal(parseCommand('read nickname'), { verb: 'GET', key: 'nickname' });
  assert.equal(parseCommand('Get nickname'), { verb: 'GET', key: 'nickname' });
  assert.equal(parseCommand('DEL k'), { verb: 'DELETE', key: 'k' });
  assert.equal(parseCommand('CAS k old new'), { verb: 'CAS', key: 'k', expected: 'old', value: 'new' });
  assert.equal(parseCommand('APPEND k "more text"'), { verb: 'APPEND', key: 'k', value: 'more text' });
  assert.equal(parseCommand('BATCHPUT k1 v1 k2 v2'), { verb: 'BATCHPUT', pairs: [['k1', 'v1'], ['k2', 'v2']] });
  assert.equal(parseCommand('RANGE a z'), { verb: 'RANGE', start: 'a', end: 'z', limit: null });
  assert.equal(parseCommand('RANGE "" "" 10'), { verb: 'RANGE', start: '', end: '', limit: 10 });
  assert.equal(parseCommand('USE shop'), { verb: 'USE', db: 'shop' });
  assert.equal(parseCommand('AUTH admin "pass word"'), { verb: 'AUTH', user: 'admin', password: 'pass word' });
  assert.equal(parseCommand('ping'), { verb: 'PING' });
  assert.equal(parseCommand('QUIT'), { verb: 'QUIT' });
});

C('transactions: BEGIN, a trailing id on data commands, COMMIT and ROLLBACK; ids never pass for limits', () => {
  assert.equal(parseCommand('BEGIN'), { verb: 'BEGIN' });
  assert.equal(parseCommand('BEGIN 3.16'), { verb: 'BEGIN', retryOf: '3.16' });
  assert.is(formatCommand({ verb: 'BEGIN', retryOf: '3.16' }), 'BEGIN 3.16');
  assert.equal(parseCommand('PUT k v 2.5'), { verb: 'PUT', key: 'k', value: 'v', txn: '2.5' });
  assert.equal(parseCommand('DELETE k 2.5'), { verb: 'DELETE', key: 'k', txn: '2.5' });
  assert.equal(parseCommand('APPEND k "1 " 2.5'), { verb: 'APPEND', key: 'k', value: '1 ', txn: '2.5' });
  assert.equal(parseCommand('RANGE a z 2.5'), { verb: 'RANGE', start: 'a', end: 'z', limit: null, txn: '2.5' });
  assert.equal(parseCommand('RANGE a z 10 2.5'), { verb: 'RANGE', start: 'a', end: 'z', limit: 10, txn: '2.5' });
  assert.equal(parseCommand('RANGE a z 10'), { verb: 'RANGE', start: 'a', end: 'z', limit: 10 });
  assert.equal(parseCommand('commit 2.5'), { verb: 'COMMIT', txn: '2.5' });
  assert.equal(parseCommand('ROLLBACK 2.5'), { verb: 'ROLLBACK', txn: '2.5' });
  for (const line of ['BEGIN', 'PUT k v 2.5', 'RANGE a z 10 2.5', 'RANGE a z 2.5', 'COMMIT 2.5', 'GET "a b" 1.1']) assert.is(formatCommand(parseCommand(line)), line);
  assert.throws(() => parseCommand('COMMIT x'), /transaction id as BEGIN answers it/);
  assert.throws(() => parseCommand('PUT k v w'), /PUT's last argument must be a transaction id/);
  assert.throws(() => parseCommand('RANGE a z 10 11'), /RANGE's last argument must be a transaction id/);
  assert.throws(() => parseCommand('BEGIN now'), /BEGIN takes nothing, or the id of an aborted transaction it retries/);
  assert.equal(parseReply('TXN 3.17'), { kind: 'txn', id: '3.17' });
  assert.is(formatReply({ kind: 'txn', id: '3.17' }), 'TXN 3.17');
  assert.throws(() => parseReply('TXN x'), /malformed TXN reply/);
});

C('wrong arity, unknown verbs and bad limits say what the syntax is', () => {
  const err = (line: string) => {
    try {
      parseCommand(line);
    } catch (e) {
      assert.instance(e, LineSyntaxError);
      return (e as Error).message;
    }
    assert.unreachable(`no error for ${line}`);
    return '';
  };
  assert.match(err('PUT onlykey'), /PUT takes 2 arguments and maybe a transaction id: PUT key value \[txn\]/);
  assert.match(err('GET'), /GET takes 1 argument and maybe a transaction id: GET key \[txn\]/);
  assert.match(err('CAS k v'), /CAS key old new/);
  assert.match(err('BATCHPUT k1 v1 k2'), /key value pairs/);
  assert.match(err('BATCHPUT'), /key value pairs/);
  assert.match(err('RANGE a'), /RANGE takes 2 to 4 arguments/);
  assert.match(err('RANGE a b 0'), new RegExp(`1\\.\\.${RANGE_LIMIT_MAX}`));
  assert.match(err('RANGE a b ten'), /limit must be an integer/);
  assert.match(err(`RANGE a b ${RANGE_LIMIT_MAX + 1}`), /limit must be an integer/);
  assert.match(err('PING extra'), /PING takes 0 arguments/);
  assert.match(err('FLY away'), /unknown command FLY; commands: PUT GET/);
  assert.match(err('constructor x'), /unknown command constructor/, 'names on Object.prototype are not verbs');
  assert.match(err('toString'), /unknown command toString/);
  assert.match(err(''), /empty line/);
});

const str = fc.string({ unit: 'binary', maxLength: 12 });
// Plain objects, so that deep equality with parsed values (ordinary prototypes) holds.
const rec = <T,>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }) => fc.record(model, { noNullPrototype: true });
const command: fc.Arbitrary<LineCommand> = fc.oneof(
  rec({ verb: fc.constant('PUT' as const), key: str, value: str }),
  rec({ verb: fc.constant('GET' as const), key: str }),
  rec({ verb: fc.constant('DELETE' as const), key: str }),
  rec({ verb: fc.constant('CAS' as const), key: str, expected: str, value: str }),
  rec({ verb: fc.constant('APPEND' as const), key: str, value: str }),
  rec({ verb: fc.constant('BATCHPUT' as const), pairs: fc.array(fc.tuple(str, str), { minLength: 1, maxLength: 5 }) }),
  rec({ verb: fc.constant('RANGE' as const), start: str, end: str, limit: fc.option(fc.integer({ min: 1, max: RANGE_LIMIT_MAX }), { nil: null }) }),
  rec({ verb: fc.constant('USE' as const), db: str }),
  rec({ verb: fc.constant('AUTH' as const), user: str, password: str }),
  fc.constant({ verb: 'PING' as const }),
  fc.constant({ verb: 'QUIT' as const }),
);

C('parseCommand(formatCommand(c)) = c for any command (fast-check)', () => {
  fc.assert(fc.property(command, (c) => assert.equal(parseCommand(formatCommand(c)), c)));
});

const R = suite('replies');

R('replies look as documented', () => {
  assert.is(formatReply({ kind: 'ok' }), 'OK');
  assert.is(formatReply({ kind: 'value', value: 'codejitsu' }), 'VALUE codejitsu');
  assert.is(formatReply({ kind: 'value', value: 'two words' }), 'VALUE "two words"');
  assert.is(formatReply({ kind: 'json', text: '{"a":1}' }), 'JSON "{\\"a\\":1}"');
  assert.is(formatReply({ kind: 'entries', entries: [] }), 'ENTRIES 0');
  assert.is(formatReply({ kind: 'entries', entries: [['a', '1'], ['b c', '']] }), 'ENTRIES 2 a 1 "b c" ""');
  assert.is(formatReply({ kind: 'entries', entries: [['a', '1']], next: 'b c' }), 'ENTRIES 1 a 1 NEXT "b c"', 'a range cut by its byte bound');
  assert.equal(parseReply('ENTRIES 1 NEXT 1'), { kind: 'entries', entries: [['NEXT', '1']] }, 'NEXT as a key is a key');
  assert.throws(() => parseReply('ENTRIES 1 a 1 MORE b'), /malformed ENTRIES/);
  assert.is(formatReply({ kind: 'error', code: 'cas_mismatch', message: 'expected "a",\nfound "b"' }), 'ERR cas_mismatch expected "a", found "b"');
  assert.is(formatReply({ kind: 'error', code: 'Not A Code', message: 'x' }), 'ERR internal x', 'a malformed code cannot break the reply grammar');
});

const reply: fc.Arbitrary<LineReply> = fc.oneof(
  fc.constant({ kind: 'ok' as const }),
  fc.constant({ kind: 'pong' as const }),
  fc.constant({ kind: 'nil' as const }),
  rec({ kind: fc.constant('value' as const), value: str }),
  rec({ kind: fc.constant('json' as const), text: fc.json() }),
  rec({ kind: fc.constant('entries' as const), entries: fc.array(fc.tuple(str, str), { maxLength: 5 }) }),
  rec({ kind: fc.constant('entries' as const), entries: fc.array(fc.tuple(str, str), { minLength: 1, maxLength: 5 }), next: str }),
  rec({ kind: fc.constant('error' as const), code: fc.stringMatching(/^[a-z][a-z_]{0,15}$/), message: fc.string({ maxLength: 30 }).filter((m) => !/[\r\n]/.test(m)) }),
);

R('parseReply(formatReply(r)) = r for any reply (fast-check)', () => {
  fc.assert(fc.property(reply, (r) => assert.equal(parseReply(formatReply(r)), r)));
});

const M = suite('meaning');

M('commands become node operations, and results become replies', () => {
  assert.equal(commandOp(parseCommand('RANGE "" "" 5')), { f: 'range', start: '', end: null, limit: 5, reverse: false });
  assert.equal(commandOp(parseCommand('RANGE a b')), { f: 'range', start: 'a', end: 'b', limit: 100, reverse: false });
  assert.equal(commandOp(parseCommand('BATCHPUT a 1 b 2')), { f: 'batch', ops: [{ f: 'write', key: 'a', value: '1' }, { f: 'write', key: 'b', value: '2' }] });
  assert.is(commandOp(parseCommand('PING')), null);
  const get = parseCommand('GET k');
  assert.equal(resultReply(get, { ok: true, value: 'v' }), { kind: 'value', value: 'v' });
  assert.equal(resultReply(get, { ok: true, value: null }), { kind: 'nil' });
  assert.equal(resultReply(get, { ok: true, value: { a: [1] } }), { kind: 'json', text: '{"a":[1]}' });
  assert.equal(resultReply(parseCommand('RANGE a b'), { ok: true, value: 2, entries: [['a', 'x'], ['b', 7]] }), { kind: 'entries', entries: [['a', 'x'], ['b', '7']] });
  assert.equal(resultReply(parseCommand('PUT k v'), { ok: false, code: 'forbidden', message: 'no' }), { kind: 'error', code: 'forbidden', message: 'no' });
});

T.run();
C.run();
R.run();
M.run();
