/**
 * The replay report as JUnit XML (`--report junit FILE`), the format CI
 * systems (Jenkins, GitLab, GitHub Actions reporters...) read: one testsuite
 * for the capture, one testcase per recorded connection.
 *
 *   passed   everything matched (differences that depend on earlier state
 *            are listed in system-out)
 *   failure  a mismatch, a missing or unexpected PDU, or the stop of the replay
 *   error    a problem that is not about one PDU (could not connect, closed early)
 *   skipped  nothing went wrong, but the replay stopped before this connection was replayed
 */
import { basename } from 'node:path';
import { COMPARE_MEANING, connectionDetails, connectionSummary } from './report';
import type { ConnectionReport, ReplayReport } from './replay';

/** Text as XML character data or attribute value; characters XML 1.0 cannot hold are left out. */
function xml(text: string): string {
  return text
    .replace(/[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/gu, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

const seconds = (ms: number) => (ms / 1000).toFixed(3);

type Outcome = 'passed' | 'failure' | 'error' | 'skipped';

function outcomeOf(c: ConnectionReport, stoppedHere: boolean): Outcome {
  if (c.problems.length > 0) return 'error';
  if (stoppedHere || c.mismatched.length + c.missing.length + c.unexpected.length > 0) return 'failure';
  if (c.notReplayed > 0) return 'skipped';
  return 'passed';
}

function failureMessage(c: ConnectionReport, stopped: ReplayReport['stopped'], stoppedHere: boolean): string {
  if (stoppedHere && stopped) return `replay stopped: ${stopped.reason}`;
  const parts = [`${c.mismatched.length} mismatched`, `${c.missing.length} missing`, `${c.unexpected.length} unexpected`];
  return parts.join(', ');
}

/** `captureName` names the suite (the capture file). */
export function formatJunit(report: ReplayReport, captureName: string): string {
  const name = basename(captureName);
  const suite = `replay of ${name}`;
  const classname = `replay.${name.replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9_.-]/g, '_')}`;
  const cases: string[] = [];
  const counts = { failures: 0, errors: 0, skipped: 0 };
  for (const c of report.connections) {
    const stoppedHere = c.conn === report.stopped?.conn;
    const outcome = outcomeOf(c, stoppedHere);
    const details = connectionDetails(c, { maxMismatches: 50, maxDiffs: 50, maxListed: 200 });
    const title = `connection ${c.conn}${c.user ? ` (${c.user})` : ''} from ${c.client}`;
    const lines = [`    <testcase classname="${xml(classname)}" name="${xml(title)}" time="${seconds(c.durationMs)}">`];
    const body = xml([connectionSummary(c), ...details].join('\n'));
    if (outcome === 'failure') {
      counts.failures++;
      lines.push(`      <failure message="${xml(failureMessage(c, report.stopped, stoppedHere))}" type="replay.mismatch">${body}</failure>`);
    } else if (outcome === 'error') {
      counts.errors++;
      lines.push(`      <error message="${xml(c.problems[0])}" type="replay.problem">${body}</error>`);
    } else if (outcome === 'skipped') {
      counts.skipped++;
      lines.push(`      <skipped message="the replay stopped before this connection was replayed"/>`);
    }
    if (outcome === 'passed' || outcome === 'skipped') lines.push(`      <system-out>${body}</system-out>`);
    lines.push('    </testcase>');
    cases.push(lines.join('\n'));
  }
  const attrs = `tests="${report.connections.length}" failures="${counts.failures}" errors="${counts.errors}" skipped="${counts.skipped}" time="${seconds(report.durationMs)}"`;
  const properties = [
    ['capture', captureName],
    ['compare', `${report.compare}: ${COMPARE_MEANING[report.compare]}`],
    ['ignored', report.ignored.join(',')],
    ...(report.stopped ? [['stopped', `connection ${report.stopped.conn}: ${report.stopped.reason}`]] : []),
  ]
    .map(([k, v]) => `      <property name="${xml(k)}" value="${xml(v)}"/>`)
    .join('\n');
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="teamtalk replay" ${attrs}>`,
    `  <testsuite name="${xml(suite)}" ${attrs} timestamp="${new Date(Date.now() - report.durationMs).toISOString().replace(/\.\d+Z$/, '')}">`,
    '    <properties>',
    properties,
    '    </properties>',
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
