/** The replay report as text for a terminal or a CI log. */
import { showValue, type CompareMode, type FieldDiff } from './compare';
import type { ProvisionReport } from './provision';
import type { ConnectionReport, PduSummary, ReplayReport } from './replay';

export interface FormatOptions {
  /** Mismatches shown with their diff, per connection. */
  maxMismatches?: number;
  /** Field differences shown per mismatch. */
  maxDiffs?: number;
  /** Missing / unexpected PDUs listed per connection. */
  maxListed?: number;
}

function describe(p: PduSummary): string {
  return `${p.name} seq ${p.seq}${p.line !== undefined ? ` (capture line ${p.line})` : ''}`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export const COMPARE_MEANING: Readonly<Record<CompareMode, string>> = {
  exact: 'every value not ignored must be equal',
  protocol: 'result codes, enums, field presence and types, list lengths and order; not profile values',
};

/** What --provision did, in a few lines. */
export function formatProvision(p: ProvisionReport): string {
  const out = [
    `provisioned in ${(p.durationMs / 1000).toFixed(1)} s: ` +
      `${plural(p.departments.created, 'department')} created, ${p.departments.existing} already there; ` +
      `${plural(p.users.created, 'user')} created, ${p.users.existing} already there${p.users.placeholders > 0 ? `, ${p.users.placeholders} stand-ins` : ''}; ` +
      `${plural(p.groups.created, 'group')} created, ${p.groups.existing} already there; ${plural(p.messages, 'message')}; ` +
      `recent sessions of ${plural(p.recentSessions, 'user')}, unread counters of ${plural(p.unreadCounters, 'user')}`,
  ];
  for (const note of p.notes) out.push(`  provision note: ${note}`);
  return out.join('\n') + '\n';
}

/** "connection 1 (recorded client ..., user bob, replayed to ...): 5 matched, ..." */
export function connectionSummary(c: ConnectionReport): string {
  return (
    `connection ${c.conn} (recorded client ${c.client}${c.user ? `, user ${c.user}` : ''}${c.server ? `, replayed to ${c.server}` : ''}): ` +
    `${c.matched} matched, ${c.mismatched.length} mismatched, ${c.earlierState.length} depend on earlier state, ` +
    `${c.missing.length} missing, ${c.unexpected.length} unexpected${c.notReplayed > 0 ? `, ${c.notReplayed} not replayed` : ''}; ` +
    `${plural(c.sent, 'client PDU')} sent`
  );
}

/** The detail lines of one connection (problems, mismatches with their diffs, missing, unexpected, notes). */
export function connectionDetails(c: ConnectionReport, options: FormatOptions = {}): string[] {
  const maxMismatches = options.maxMismatches ?? 3;
  const maxDiffs = options.maxDiffs ?? 8;
  const maxListed = options.maxListed ?? 10;
  const out: string[] = [];
  const diffLines = (diffs: FieldDiff[], suffix = '') => {
    for (const d of diffs.slice(0, maxDiffs)) out.push(`    ${d.path}: expected ${showValue(d.expected)}, got ${showValue(d.actual)}${suffix}`);
    if (diffs.length > maxDiffs) out.push(`    ... ${diffs.length - maxDiffs} more differences`);
  };
  for (const problem of c.problems) out.push(`  PROBLEM ${problem}`);
  for (const m of c.mismatched.slice(0, maxMismatches)) {
    out.push(`  MISMATCH ${describe(m.expected)}:`);
    diffLines(m.diffs);
    if (m.earlierState) diffLines(m.earlierState, ' (depends on earlier state)');
  }
  if (c.mismatched.length > maxMismatches) out.push(`  ... ${c.mismatched.length - maxMismatches} more mismatched PDUs`);
  for (const m of c.earlierState.slice(0, maxMismatches)) {
    out.push(`  EARLIER STATE ${describe(m.expected)}: differs only where it shows state from before the capture:`);
    diffLines(m.diffs);
  }
  if (c.earlierState.length > maxMismatches) out.push(`  ... ${c.earlierState.length - maxMismatches} more depending on earlier state`);
  for (const p of c.missing.slice(0, maxListed)) out.push(`  MISSING ${describe(p)}: recorded, never sent by the live server`);
  if (c.missing.length > maxListed) out.push(`  ... ${c.missing.length - maxListed} more missing`);
  for (const p of c.unexpected.slice(0, maxListed)) out.push(`  UNEXPECTED ${describe(p)}: sent by the live server, not in the recording`);
  if (c.unexpected.length > maxListed) out.push(`  ... ${c.unexpected.length - maxListed} more unexpected`);
  if (c.notReplayed > 0) out.push(`  NOT REPLAYED ${plural(c.notReplayed, 'recorded server PDU')}: the replay stopped first`);
  for (const note of c.notes) out.push(`  note: ${note}`);
  return out;
}

export function formatReport(report: ReplayReport, options: FormatOptions = {}): string {
  const out: string[] = [];
  const t = report.totals;
  if (report.provision) out.push(formatProvision(report.provision).trimEnd());
  out.push(
    `replay: ${plural(report.connections.length, 'connection')}: ${t.matched} matched, ${t.mismatched} mismatched, ` +
      `${t.earlierState} depend on earlier state, ${t.missing} missing, ${t.unexpected} unexpected, ${plural(t.problems, 'problem')}` +
      `${t.notReplayed > 0 ? `, ${t.notReplayed} not replayed` : ''} (${(report.durationMs / 1000).toFixed(1)} s)`,
  );
  out.push(`compare: ${report.compare} (${COMPARE_MEANING[report.compare]})`);
  if (report.stopped) out.push(`STOPPED at connection ${report.stopped.conn}: ${report.stopped.reason}`);
  out.push(`ignored fields: ${report.ignored.join(', ')}`);
  const ids = (what: string, pairs: Array<[number, number]>) => {
    if (pairs.length > 0) out.push(`${what} ids (recorded -> live): ${pairs.map(([r, l]) => `${r} -> ${l}`).join(', ')}`);
  };
  ids('user', report.userIds);
  ids('group', report.groupIds);
  ids('department', report.departmentIds);
  for (const c of report.connections) {
    out.push('', connectionSummary(c), ...connectionDetails(c, options));
  }
  out.push('');
  out.push(report.ok ? 'result: OK' : 'result: FAILED');
  return out.join('\n') + '\n';
}
