/**
 * What `npm test` prints at the end, read from tap's raw TAP output with tap's
 * own parser (tap-parser): one line per test file, the details of every failing
 * test point, and the counts for the final "N passed, N failed" line.
 *
 * A test point counts once: a subtest's closing point is not counted on top of
 * its children, but a subtest that failed without a failing child (it threw,
 * or timed out) counts as one failure. Todo and skipped points are not passes.
 */
import { Parser, type Result } from 'tap-parser';

export interface TapFile {
  name: string;
  ok: boolean;
  /** Milliseconds, as tap reports it. */
  time: number | null;
}

export interface TapFailure {
  file: string;
  name: string;
  diag: unknown;
}

export interface TapSummary {
  passed: number;
  failed: number;
  todo: number;
  skipped: number;
  files: TapFile[];
  failures: TapFailure[];
}

export function summarizeTap(tap: string): TapSummary {
  const summary: TapSummary = { passed: 0, failed: 0, todo: 0, skipped: 0, files: [], failures: [] };
  const root = new Parser();
  watch(root, summary, null);
  root.on('assert', (r: Result) => summary.files.push({ name: r.name, ok: r.ok, time: r.time }));
  root.end(tap);
  return summary;
}

/** Counts the leaf points of `parser` and its subtests; `file` is the test file they belong to. */
function watch(parser: Parser, summary: TapSummary, file: string | null): void {
  // The child whose closing point comes next, and whether something failed inside it.
  let lastChild: { failed: boolean } | null = null;
  parser.on('child', (child: Parser) => {
    const state = { failed: false };
    lastChild = state;
    child.on('complete', (results: { fail: number }) => {
      if (results.fail > 0) state.failed = true;
    });
    watch(child, summary, file ?? child.name);
  });
  if (file === null) return; // the root's points are whole test files, listed by summarizeTap
  parser.on('assert', (r: Result) => {
    if (r.closingTestPoint) {
      const child = lastChild;
      lastChild = null;
      if (!r.ok && !r.todo && !r.skip && child !== null && !child.failed) fail(summary, file, r);
      return;
    }
    if (r.todo) summary.todo++;
    else if (r.skip) summary.skipped++;
    else if (r.ok) summary.passed++;
    else fail(summary, file, r);
  });
}

function fail(summary: TapSummary, file: string, r: Result): void {
  summary.failed++;
  summary.failures.push({ file, name: r.name, diag: r.diag });
}

/** Plain-text report for logs: one line per test file, then each failure with its diagnostics. */
export function formatSummary(summary: TapSummary): string {
  const out = summary.files.map((f) => `${f.ok ? 'ok  ' : 'FAIL'} ${f.name}${f.time !== null ? ` # time=${f.time}ms` : ''}`);
  for (const f of summary.failures) {
    out.push(`  not ok: ${f.file}: ${f.name}`);
    if (f.diag) for (const line of JSON.stringify(f.diag, null, 2).split('\n')) out.push(`    ${line}`);
  }
  return out.join('\n') + '\n';
}
