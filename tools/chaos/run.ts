/**
 * One chaos run: a cluster (cluster.ts), a load on it (load.ts), and one
 * window per fault. A window is: load for `beforeSeconds`, SIGKILL the
 * target, wait until it is back and a probe message crosses both msg servers
 * each way (seconds to heal), load for `afterSeconds`, stop sending, wait up
 * to `settleSeconds` for acked messages still on their way, then count what
 * the window sent, what was acked, what MySQL holds and what the receivers got.
 */
import { errorMessage } from '../../lib/errors';
import { sleep } from '../../scripts/infra/system';
import { ChaosCluster, type Target } from './cluster';
import { ChaosLoad, tagOf, windowOf, type WindowCounts } from './load';
import { Probe } from './probe';

export const FAULTS = ['db-proxy', 'route-master', 'msg-server', 'login-server', 'mariadb', 'redis'] as const;
export type Fault = (typeof FAULTS)[number];

export interface ChaosOptions {
  users: number;
  rate: number;
  contacts: number;
  faults: readonly Fault[];
  beforeSeconds: number;
  afterSeconds: number;
  healTimeoutSeconds: number;
  settleSeconds: number;
  storageDownMs: number;
  runDir: string;
  verbose: boolean;
  note(line: string): void;
}

/** One window: what the load counted (but the tags), and what MySQL holds of it. */
export interface FaultReport extends Omit<WindowCounts, 'ackedTags' | 'sentTags'> {
  fault: Fault;
  /** The process killed, e.g. "route-server-2" (the master at the time) or "mariadb". */
  killed: string;
  /** Distinct messages of the window in MySQL. */
  stored: number;
  storedNotAcked: number;
  ackedNotStored: number;
  duplicatesStored: number;
  /** From the kill until the process is back and messages cross both msg servers; null: not within healTimeoutSeconds. */
  secondsToHeal: number | null;
  ok: boolean;
}

export interface ChaosSummary {
  summary: true;
  faults: number;
  ok: boolean;
  users: number;
  rate: number;
  totals: Pick<FaultReport, 'sent' | 'acked' | 'stored' | 'delivered' | 'duplicatesStored' | 'duplicateDeliveries' | 'lost' | 'ackedNotStored' | 'msgIdsReused'>;
  maxSecondsToHeal: number | null;
  /** Service restarts the supervisor made (one per killed service is expected). */
  restarts: Record<string, number>;
  seconds: number;
}

const USER_PREFIX = 'chaos';
const PROBE_PREFIX = 'chaosprobe';

export async function runChaos(options: ChaosOptions, emit: (report: FaultReport) => void): Promise<ChaosSummary> {
  const started = Date.now();
  const { note } = options;
  const password = `chaos-${Math.random().toString(36).slice(2, 10)}`;
  const sinceUnix = Math.floor(started / 1000) - 5;
  const cluster = await ChaosCluster.start({
    runDir: options.runDir,
    accounts: [
      { prefix: USER_PREFIX, count: options.users },
      { prefix: PROBE_PREFIX, count: 2 },
    ],
    password,
    storageDownMs: options.storageDownMs,
    verbose: options.verbose,
    note,
  });
  let load: ChaosLoad | null = null;
  let probe: Probe | null = null;
  const reports: FaultReport[] = [];
  try {
    load = await ChaosLoad.start({ loginUrl: cluster.loginUrl, userPrefix: USER_PREFIX, users: options.users, password, rate: options.rate, contacts: options.contacts, msgServerPorts: cluster.msgServerPorts, note });
    probe = await Probe.start([`${PROBE_PREFIX}0`, `${PROBE_PREFIX}1`], password, [cluster.msgServerPorts[0], cluster.msgServerPorts[1]]);
    if ((await healSeconds(cluster, probe, null, 0, options.healTimeoutSeconds)) === null) throw new Error('the chaos cluster does not pass messages between its msg servers');
    note(`${options.users} users logged in; ${options.rate} msgs/s`);

    for (let i = 0; i < options.faults.length; i++) {
      const window = i + 1;
      const fault = options.faults[i];
      const target = await targetOf(cluster, fault);
      load.run(window);
      await sleep(options.beforeSeconds * 1000);
      const t0 = Date.now();
      const killed = cluster.kill(target);
      note(`${fault}: killed ${nameOf(target)} (pid ${killed.pid})`);
      const backError = killed.back.then(
        () => null,
        (err: unknown) => errorMessage(err),
      );
      const healed = await healSeconds(cluster, probe, target, killed.pid, options.healTimeoutSeconds, t0);
      const restartFailure = await backError;
      if (restartFailure !== null) note(`${nameOf(target)} did not start again: ${restartFailure}`);
      note(`${fault}: ${healed === null ? `not healed within ${options.healTimeoutSeconds} s` : `healed in ${healed.toFixed(1)} s`}`);
      await sleep(options.afterSeconds * 1000);
      await load.pause();
      await load.settle(window, options.settleSeconds * 1000);
      const report = await windowReport(cluster, load, window, fault, nameOf(target), healed, sinceUnix);
      reports.push(report);
      emit(report);
    }
  } finally {
    probe?.stop();
    await load?.stop();
    await cluster.stop();
  }
  const sum = (key: keyof ChaosSummary['totals']) => reports.reduce((n, r) => n + r[key], 0);
  const heals = reports.map((r) => r.secondsToHeal);
  return {
    summary: true,
    faults: reports.length,
    ok: reports.length === options.faults.length && reports.every((r) => r.ok),
    users: options.users,
    rate: options.rate,
    totals: {
      sent: sum('sent'),
      acked: sum('acked'),
      stored: sum('stored'),
      delivered: sum('delivered'),
      duplicatesStored: sum('duplicatesStored'),
      duplicateDeliveries: sum('duplicateDeliveries'),
      lost: sum('lost'),
      ackedNotStored: sum('ackedNotStored'),
      msgIdsReused: sum('msgIdsReused'),
    },
    maxSecondsToHeal: heals.some((h) => h === null) ? null : Math.max(0, ...(heals as number[])),
    restarts: cluster.restarts(),
    seconds: Math.round((Date.now() - started) / 1000),
  };
}

async function targetOf(cluster: ChaosCluster, fault: Fault): Promise<Target> {
  switch (fault) {
    case 'db-proxy':
      return { kind: 'service', name: 'db-proxy' };
    case 'route-master':
      return { kind: 'service', name: await cluster.masterRouteServer() };
    case 'msg-server':
      return { kind: 'service', name: 'msg-server-1' };
    case 'login-server':
      return { kind: 'service', name: 'login-server' };
    case 'mariadb':
      return { kind: 'store', store: 'mariadb' };
    case 'redis':
      return { kind: 'store', store: 'redis' };
  }
}

function nameOf(target: Target): string {
  return target.kind === 'service' ? target.name : target.store;
}

/** Seconds from `since` until the target is back (when one was killed) and a probe round trip works; null after timeoutSeconds. */
async function healSeconds(cluster: ChaosCluster, probe: Probe, target: Target | null, killedPid: number, timeoutSeconds: number, since = Date.now()): Promise<number | null> {
  const until = since + timeoutSeconds * 1000;
  let back = target === null;
  while (Date.now() < until) {
    if (!back) back = await cluster.isBack(target as Target, killedPid);
    if (back && (await probe.roundTrip())) return (Date.now() - since) / 1000;
    await sleep(100);
  }
  return null;
}

async function windowReport(
  cluster: ChaosCluster,
  load: ChaosLoad,
  window: number,
  fault: Fault,
  killed: string,
  secondsToHeal: number | null,
  sinceUnix: number,
): Promise<FaultReport> {
  const counts = load.counts(window);
  await load.diagnose(counts.lostExamples);
  const rows = new Map<string, number>();
  for (const row of await cluster.storedMessages(sinceUnix)) {
    const tag = tagOf(row.content);
    if (tag === null || windowOf(tag) !== window) continue;
    rows.set(tag, (rows.get(tag) ?? 0) + 1);
  }
  let duplicatesStored = 0;
  for (const n of rows.values()) duplicatesStored += n - 1;
  const ackedNotStored = [...counts.ackedTags].filter((t) => !rows.has(t)).length;
  const storedNotAcked = [...rows.keys()].filter((t) => !counts.ackedTags.has(t)).length;
  const report: FaultReport = {
    fault,
    killed,
    sent: counts.sent,
    acked: counts.acked,
    notAcked: counts.notAcked,
    whileReconnecting: counts.whileReconnecting,
    stored: rows.size,
    storedNotAcked,
    ackedNotStored,
    duplicatesStored,
    delivered: counts.delivered,
    deliveredLive: counts.deliveredLive,
    deliveredByCatchUp: counts.deliveredByCatchUp,
    duplicateDeliveries: counts.duplicateDeliveries,
    lost: counts.lost,
    lostExamples: counts.lostExamples,
    msgIdsReused: counts.msgIdsReused,
    reconnects: counts.reconnects,
    secondsToHeal: secondsToHeal === null ? null : Math.round(secondsToHeal * 10) / 10,
    ok: false,
  };
  report.ok =
    report.lost === 0 && report.duplicatesStored === 0 && report.ackedNotStored === 0 && report.msgIdsReused === 0 && report.secondsToHeal !== null && report.acked > 0;
  return report;
}
