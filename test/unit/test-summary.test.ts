/** The end-of-run summary of `npm test`, from TAP text (tap's own parser underneath). */
import t from 'tap';
import { formatSummary, summarizeTap } from '../../scripts/test-summary';

const TAP = `TAP version 14
# Subtest: dist/test/a.test.js
    # Subtest: group
        ok 1 - one
        not ok 2 - two
          ---
          found: 1
          wanted: 2
          ...
        1..2
    not ok 1 - group
    ok 2 - top-level point
    ok 3 - later # TODO not yet
    ok 4 - skipped here # SKIP no reason
    1..4
not ok 1 - dist/test/a.test.js # time=12ms
# Subtest: dist/test/b.test.js
    # Subtest: threw
        ok 1 - fine so far
        1..1
    not ok 1 - threw
      ---
      error: boom
      ...
    1..1
not ok 2 - dist/test/b.test.js # time=5ms
# Subtest: dist/test/c.test.js
    ok 1 - alone
    1..1
ok 3 - dist/test/c.test.js # time=1ms
1..3
`;

t.test('counts leaf points once, a subtest that failed by itself as one failure, todo and skip apart', async (t) => {
  const s = summarizeTap(TAP);
  t.equal(s.passed, 4, 'one, top-level point, fine so far, alone');
  t.equal(s.failed, 2, 'two (a failing child), threw (failed without a failing child)');
  t.equal(s.todo, 1);
  t.equal(s.skipped, 1);
  t.same(
    s.files.map((f) => [f.name, f.ok]),
    [
      ['dist/test/a.test.js', false],
      ['dist/test/b.test.js', false],
      ['dist/test/c.test.js', true],
    ],
  );
  t.same(
    s.failures.map((f) => [f.file, f.name]),
    [
      ['dist/test/a.test.js', 'two'],
      ['dist/test/b.test.js', 'threw'],
    ],
  );
  const text = formatSummary(s);
  t.match(text, /^FAIL dist\/test\/a\.test\.js # time=12ms$/m);
  t.match(text, /^ok {3}dist\/test\/c\.test\.js/m);
  t.match(text, /not ok: dist\/test\/a\.test\.js: two\n[\s\S]*"found": 1/);
});

t.test('an empty or cut-off run has no passes', async (t) => {
  t.same(summarizeTap(''), { passed: 0, failed: 0, todo: 0, skipped: 0, files: [], failures: [] });
  const cut = summarizeTap('TAP version 14\n# Subtest: dist/test/x.test.js\n    ok 1 - a\n');
  t.equal(cut.passed, 1);
  t.same(cut.files, [], 'the file never finished');
});
