/**
 * `npm run chaos`, short: a cluster of processes with its own MariaDB and
 * Redis, a small load, and a SIGKILL of each part in turn (a db-proxy, the
 * master route server, a msg server, the login server, MariaDB, Redis). Every
 * acknowledged message must be stored exactly once and reach its receiver, no
 * msg id may be handed out twice, and every fault must heal.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../../lib/paths';
import { FAULTS, type ChaosSummary, type FaultReport } from '../../tools/chaos/run';

t.setTimeout(9 * 60_000);

t.test('every process killed in turn under load: nothing acked is lost, nothing stored twice, each fault heals', async (t) => {
  // Short: MariaDB's socket path must stay under the 108-byte limit.
  const runDir = mkdtempSync(join(tmpdir(), 'tt-chaos-'));
  t.teardown(() => rmSync(runDir, { recursive: true, force: true }));
  const args = [join(projectRoot, 'dist/scripts/chaos.js'), '--users', '40', '--rate', '120', '--before', '1', '--after', '1', '--settle', '20', '--run-dir', runDir];
  const proc = spawn(process.execPath, args, { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const killer = setTimeout(() => proc.kill('SIGKILL'), 8 * 60_000);
  const code = await new Promise<number | null>((resolve) => proc.on('close', resolve));
  clearTimeout(killer);

  const lines = stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as FaultReport | ChaosSummary);
  const reports = lines.filter((l): l is FaultReport => !('summary' in l));
  const summary = lines.find((l): l is ChaosSummary => 'summary' in l);
  t.same(reports.map((r) => r.fault), [...FAULTS], 'one report per fault, in order');
  for (const r of reports) {
    t.ok(r.acked > 0, `${r.fault}: messages were acked (${r.acked} of ${r.sent})`);
    t.equal(r.lost, 0, `${r.fault}: no acked message lost`);
    t.equal(r.duplicatesStored, 0, `${r.fault}: none stored twice`);
    t.equal(r.ackedNotStored, 0, `${r.fault}: every acked message is in MySQL`);
    t.equal(r.msgIdsReused, 0, `${r.fault}: no msg id handed out twice`);
    t.equal(r.delivered, r.acked, `${r.fault}: every acked message reached its receiver`);
    t.equal(r.duplicateDeliveries, 0, `${r.fault}: no message pushed to a device twice`);
    t.not(r.secondsToHeal, null, `${r.fault}: healed (${r.secondsToHeal} s)`);
  }
  const msgServer = reports.find((r) => r.fault === 'msg-server');
  t.ok((msgServer?.reconnects ?? 0) > 0, 'the dead msg server\'s clients reconnected');
  t.match(reports.find((r) => r.fault === 'route-master')?.killed, /^route-server/, 'a route server was the master killed');
  t.ok(summary?.ok, 'the summary says ok');
  t.equal(summary?.restarts['msg-server-1'], 1, 'the supervisor restarted the killed msg server once');
  t.equal(code, 0, `exit code 0${code === 0 ? '' : `; stderr:\n${stderr.slice(-3000)}`}`);
});
