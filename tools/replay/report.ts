/** The replay report as text for a terminal or a CI log. */
import { showValue } from './compare';
import type { PduSummary, ReplayReport } from './replay';

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

export function formatReport(report: ReplayReport, options: FormatOptions = {}): string {
  const maxMismatches = options.maxMismatches ?? 3;
  const maxDiffs = options.maxDiffs ?? 8;
  const maxListed = options.maxListed ?? 10;
  const out: string[] = [];
  const t = report.totals;
  out.push(
    `replay: ${plural(report.connections.length, 'connection')}: ${t.matched} matched, ${t.mismatched} mismatched, ` +
      `${t.missing} missing, ${t.unexpected} unexpected, ${plural(t.problems, 'problem')} (${(report.durationMs / 1000).toFixed(1)} s)`,
  );
  out.push(`ignored fields: ${report.ignored.join(', ')}`);
  if (report.userIds.length > 0) out.push(`user ids (recorded -> live): ${report.userIds.map(([r, l]) => `${r} -> ${l}`).join(', ')}`);
  if (report.groupIds.length > 0) out.push(`group ids (recorded -> live): ${report.groupIds.map(([r, l]) => `${r} -> ${l}`).join(', ')}`);

  for (const c of report.connections) {
    out.push('');
    out.push(
      `connection ${c.conn} (recorded client ${c.client}${c.server ? `, replayed to ${c.server}` : ''}): ` +
        `${c.matched} matched, ${c.mismatched.length} mismatched, ${c.missing.length} missing, ${c.unexpected.length} unexpected; ` +
        `${plural(c.sent, 'client PDU')} sent`,
    );
    for (const problem of c.problems) out.push(`  PROBLEM ${problem}`);
    for (const m of c.mismatched.slice(0, maxMismatches)) {
      out.push(`  MISMATCH ${describe(m.expected)}:`);
      for (const d of m.diffs.slice(0, maxDiffs)) out.push(`    ${d.path}: expected ${showValue(d.expected)}, got ${showValue(d.actual)}`);
      if (m.diffs.length > maxDiffs) out.push(`    ... ${m.diffs.length - maxDiffs} more differences`);
    }
    if (c.mismatched.length > maxMismatches) out.push(`  ... ${c.mismatched.length - maxMismatches} more mismatched PDUs`);
    for (const p of c.missing.slice(0, maxListed)) out.push(`  MISSING ${describe(p)}: recorded, never sent by the live server`);
    if (c.missing.length > maxListed) out.push(`  ... ${c.missing.length - maxListed} more missing`);
    for (const p of c.unexpected.slice(0, maxListed)) out.push(`  UNEXPECTED ${describe(p)}: sent by the live server, not in the recording`);
    if (c.unexpected.length > maxListed) out.push(`  ... ${c.unexpected.length - maxListed} more unexpected`);
    for (const note of c.notes) out.push(`  note: ${note}`);
  }
  out.push('');
  out.push(report.ok ? 'result: OK' : 'result: FAILED');
  return out.join('\n') + '\n';
}
