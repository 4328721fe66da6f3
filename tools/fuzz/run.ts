/**
 * One fuzz run against one target of a running fuzz cluster: N workers, each
 * opening connection after connection (in the target's modes), sending the
 * PDUs of pdus.ts, until the PDU budget or the time limit is reached; while a
 * sentinel keeps chatting and every process is watched. Returns the figures
 * printed by `npm run fuzz`.
 *
 * Reproducible: every connection's PDUs come from a generator seeded with
 * (seed, worker, connection number), so a seed always yields the same streams
 * (how many connections fit into the run depends on the machine's speed).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { CID, IM } from '../../pdu/commands';
import { errorMessage } from '../../lib/errors';
import { clientPasswordDigest } from '../../lib/password';
import type { FuzzCluster, FuzzAccount } from './cluster';
import { FuzzConnection, StallError, type Endpoint, type ServerRole } from './connection';
import { PduFactory, type FuzzPdu } from './pdus';
import { Random } from './random';
import type { SentinelResult } from './sentinel';
import { SentinelProcess } from './sentinel-process';
import { loadSchema } from './schema';
import { targetProfile, type ConnectionMode, type Target } from './targets';

const { ClientType, ResultType } = IM.BaseDefine;

export interface FuzzOptions {
  target: Target;
  /** Stop after this many PDUs... */
  pdus: number;
  /** ...or after this many seconds, whichever comes first. */
  seconds: number;
  seed: number;
  /** Connections open at once (one worker each). */
  connections: number;
  /** PDUs per second over all connections; 0 = as fast as the target takes them. */
  rate: number;
  /** A sentinel message must be acked and delivered within this. */
  sentinelTimeoutMs: number;
  /** Where a crash writes the last PDUs of every connection (null: nowhere). */
  crashDir: string | null;
  /** Progress lines (stderr). */
  note(line: string): void;
}

export interface CrashRecord {
  process: string;
  at_s: number;
  pdus_sent: number;
  /** The last PDUs of every connection, for turning the crash into a test. */
  report: string | null;
}

export interface FuzzResult {
  target: Target;
  seed: number;
  pdus_sent: number;
  connections_opened: number;
  connections_closed_by_server: number;
  server_crashes: number;
  server_restarts: Record<string, number>;
  hangs: number;
  unauthenticated_answers: number;
  sentinel_messages_sent: number;
  sentinel_messages_acked: number;
  sentinel_messages_delivered: number;
  sentinel_login_lookups: number;
  sentinel_ack_p99_ms: number;
  sentinel_ack_max_ms: number;
  sentinel_deliver_p99_ms: number;
  sentinel_deliver_max_ms: number;
  sentinel_failures: number;
  elapsed_s: number;
  pdus_per_s: number;
  connections_by_mode: Record<string, number>;
  pdus_by_kind: Record<string, number>;
  login_failures: number;
  /** Logins refused because that user was just cut off for its budget (clientBudgetLoginBanMs): expected, not failures. */
  logins_refused_after_budget_disconnect: number;
  server_errors_logged: Record<string, number>;
  /** The first sentinel failures and hangs, the kinds of the newest ERROR/FATAL lines ("N x line"), refused fuzz logins. */
  samples: { sentinel: string[]; hangs: string[]; errors: string[]; login_failures: string[] };
  crashes: CrashRecord[];
}

/** Requests in flight per connection where replies are predictable (db-proxy): the fuzzer tests parsing, not queue limits. */
const REPLY_WINDOW = 32;
/** How long a server gets to close a connection after a PDU it must refuse. */
const CLOSE_GRACE_MS = 1_000;
const HISTORY = 48;

interface Sent {
  mode: ConnectionMode;
  kind: string;
  length: number;
  hex: string;
}

class Stats {
  pdus = 0;
  opened = 0;
  closedByServer = 0;
  hangs = 0;
  unauthenticatedAnswers = 0;
  loginFailures = 0;
  loginsBanned = 0;
  readonly byMode: Record<string, number> = {};
  readonly byKind: Record<string, number> = {};
  readonly hangSamples: string[] = [];
  readonly loginSamples: string[] = [];

  count(pdu: FuzzPdu): void {
    this.pdus++;
    this.byKind[pdu.kind] = (this.byKind[pdu.kind] ?? 0) + 1;
  }
}

/** A token bucket over all workers. */
class RateLimit {
  private tokens = 0;
  private last = Date.now();
  constructor(private readonly perSecond: number) {}
  async take(): Promise<void> {
    if (this.perSecond <= 0) return;
    for (;;) {
      const now = Date.now();
      this.tokens = Math.min(this.perSecond / 10, this.tokens + ((now - this.last) * this.perSecond) / 1000);
      this.last = now;
      if (this.tokens >= 1) {
        this.tokens--;
        return;
      }
      await new Promise((r) => setTimeout(r, Math.max(1, 1000 / this.perSecond)));
    }
  }
}

export async function runFuzz(cluster: FuzzCluster, options: FuzzOptions): Promise<FuzzResult> {
  const profile = targetProfile(options.target);
  const clientTarget = options.target === 'msg-server';
  const factory = new PduFactory(loadSchema(), profile, cluster.dictionary(clientTarget));
  const endpoint = targetEndpoint(cluster, options.target);
  const serverRole: ServerRole | null = clientTarget ? null : (options.target as ServerRole);
  const stats = new Stats();
  const limit = new RateLimit(options.rate);
  const histories: Sent[][] = Array.from({ length: options.connections }, () => []);
  const crashes: CrashRecord[] = [];
  const started = Date.now();
  const deadline = started + options.seconds * 1000;
  let stop = false;
  const done = () => stop || stats.pdus >= options.pdus || Date.now() >= deadline;

  const sentinel = await SentinelProcess.start({
    a: { ...cluster.sentinels.a, server: cluster.msgServers[0] },
    b: { ...cluster.sentinels.b, server: cluster.msgServers[1] },
    late: { ...cluster.sentinels.late, server: cluster.msgServers[0] },
    loginUrl: cluster.loginUrl,
    admin: cluster.admin,
    msgServerNames: cluster.msgServerNames,
    intervalMs: 100,
    timeoutMs: options.sentinelTimeoutMs,
  });

  // Crash watch: any restart or pid change is a crash; the evidence is written at once.
  const restartsSeen = new Map(cluster.processes().map((p) => [p.name, p.restarts]));
  const watch = setInterval(() => {
    for (const p of cluster.processes()) {
      const seen = restartsSeen.get(p.name) ?? 0;
      if (p.restarts <= seen) continue;
      restartsSeen.set(p.name, p.restarts);
      const crash: CrashRecord = { process: p.name, at_s: (Date.now() - started) / 1000, pdus_sent: stats.pdus, report: null };
      crash.report = writeCrashReport(options, crash, histories, cluster.errors().recent);
      crashes.push(crash);
      options.note(`CRASH: ${p.name} exited and was restarted after ${stats.pdus} PDUs${crash.report ? ` (last PDUs: ${crash.report})` : ''}`);
    }
  }, 250);
  const progress = setInterval(() => {
    const s = (Date.now() - started) / 1000;
    options.note(`${options.target}: ${stats.pdus} PDUs, ${stats.opened} connections (${stats.closedByServer} closed by the server), ${Math.round(stats.pdus / s)} PDUs/s, sentinel failures ${sentinel.failureCount}`);
  }, 10_000);

  const remember = (worker: number, mode: ConnectionMode, pdu: FuzzPdu) => {
    const h = histories[worker];
    h.push({ mode, kind: pdu.kind, length: pdu.frame.length, hex: pdu.frame.subarray(0, 4096).toString('hex') });
    if (h.length > HISTORY) h.shift();
  };

  const session = async (worker: number, n: number): Promise<void> => {
    const rng = Random.derive(options.seed, worker * 1_000_003 + n);
    const mode = rng.weighted(profile.modes);
    stats.byMode[mode] = (stats.byMode[mode] ?? 0) + 1;
    stats.opened++;
    let conn: FuzzConnection;
    try {
      conn = await FuzzConnection.open(mode, endpoint, serverRole, cluster.identities);
    } catch (err) {
      // Refused during the TLS handshake (an outsider), or the port is gone.
      stats.closedByServer++;
      if (mode === 'tls-cluster' || mode === 'client-new' || mode === 'client-online') {
        stats.hangs++;
        if (stats.hangSamples.length < 10) stats.hangSamples.push(`${mode}: cannot connect: ${errorMessage(err)}`);
      }
      return;
    }
    const trusted = mode === 'client-online' || mode === 'tls-cluster';
    const send = async (pdu: FuzzPdu): Promise<boolean> => {
      await limit.take();
      // Other workers may have used up the budget meanwhile: the run sends exactly --pdus.
      if (done()) return false;
      remember(worker, mode, pdu);
      stats.count(pdu);
      return conn.write(pdu.frame, rng);
    };
    try {
      if (mode === 'client-online' && !(await logIn(conn, rng, cluster.loginUsers[worker % cluster.loginUsers.length], stats, factory, send))) {
        return;
      }
      const count = trusted ? rng.int(20, 3000) : rng.int(1, 6);
      let expected = 0;
      let refused = !trusted;
      for (let i = 0; i < count && !done(); i++) {
        // A connection that has not logged in mostly tries logins (anything else closes it).
        const pdu = mode === 'client-new' && i === 0 && rng.chance(0.6) ? factory.next(rng, [[CID.LOGIN_REQ_USERLOGIN, 1]]) : factory.next(rng);
        if (profile.answered !== null && mode === 'tls-cluster') {
          if (expected - conn.repliesReceived >= REPLY_WINDOW) await conn.waitForReplies(expected - REPLY_WINDOW / 2);
          if (!pdu.terminal && profile.answered(pdu.commandId)) expected++;
        }
        if (!(await send(pdu))) break;
        if (pdu.terminal) {
          refused = true;
          break;
        }
        if (i % 8 === 7) await nextTurn();
      }
      // Outsiders and refused PDUs: the server must hang up by itself.
      await conn.finish(refused ? CLOSE_GRACE_MS : 0);
    } catch (err) {
      if (!(err instanceof StallError)) throw err;
      stats.hangs++;
      if (stats.hangSamples.length < 10) stats.hangSamples.push(`${mode} after ${stats.pdus} PDUs: ${err.message}`);
      conn.close();
    } finally {
      conn.close();
      await conn.closed;
      if (conn.closedByServer) stats.closedByServer++;
      if (!trusted && mode !== 'plain' && mode !== 'client-new' && conn.bytesReceived > 0) {
        stats.unauthenticatedAnswers++;
        if (stats.hangSamples.length < 10) stats.hangSamples.push(`${mode}: the server sent ${conn.bytesReceived} bytes of application data to an unauthenticated peer`);
      }
      if (trusted && conn.badReplyStream !== null && stats.hangSamples.length < 10) {
        stats.hangSamples.push(`${mode}: the server's stream did not parse: ${conn.badReplyStream}`);
      }
    }
  };

  const worker = async (index: number) => {
    for (let n = 0; !done(); n++) await session(index, n);
  };
  const onSignal = () => {
    stop = true;
  };
  process.once('SIGINT', onSignal);
  let elapsed: number;
  let sentinelResult: SentinelResult;
  try {
    await Promise.all(Array.from({ length: options.connections }, (_, i) => worker(i)));
    elapsed = (Date.now() - started) / 1000;
    clearInterval(progress);
    sentinelResult = await sentinel.stop();
    // A crash caused by the last PDUs shows within a moment.
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    process.off('SIGINT', onSignal);
    clearInterval(progress);
    clearInterval(watch);
    sentinel.kill();
  }
  const processes = cluster.processes();
  const errors = cluster.errors();
  return {
    target: options.target,
    seed: options.seed,
    pdus_sent: stats.pdus,
    connections_opened: stats.opened,
    connections_closed_by_server: stats.closedByServer,
    server_crashes: crashes.length,
    server_restarts: Object.fromEntries(processes.map((p) => [p.name, p.restarts])),
    hangs: stats.hangs,
    unauthenticated_answers: stats.unauthenticatedAnswers,
    sentinel_messages_sent: sentinelResult.messages_sent,
    sentinel_messages_acked: sentinelResult.messages_acked,
    sentinel_messages_delivered: sentinelResult.messages_delivered,
    sentinel_login_lookups: sentinelResult.login_lookups,
    sentinel_ack_p99_ms: sentinelResult.ack_p99_ms,
    sentinel_ack_max_ms: sentinelResult.ack_max_ms,
    sentinel_deliver_p99_ms: sentinelResult.deliver_p99_ms,
    sentinel_deliver_max_ms: sentinelResult.deliver_max_ms,
    sentinel_failures: sentinelResult.failures,
    elapsed_s: Math.round(elapsed * 10) / 10,
    pdus_per_s: Math.round(stats.pdus / elapsed),
    connections_by_mode: stats.byMode,
    pdus_by_kind: sortedCounts(stats.byKind),
    login_failures: stats.loginFailures,
    logins_refused_after_budget_disconnect: stats.loginsBanned,
    server_errors_logged: errors.total,
    samples: {
      sentinel: sentinelResult.failure_samples,
      hangs: stats.hangSamples,
      errors: errorKinds(errors.recent.map((e) => e.line)).slice(0, 10),
      login_failures: stats.loginSamples,
    },
    crashes,
  };
}

/** Whether a result shows a problem (`npm run fuzz` exits non-zero then). */
export function failed(result: FuzzResult): boolean {
  return result.server_crashes > 0 || result.sentinel_failures > 0 || result.hangs > 0 || result.unauthenticated_answers > 0;
}

function targetEndpoint(cluster: FuzzCluster, target: Target): Endpoint {
  switch (target) {
    case 'msg-server':
      return cluster.msgServers[0];
    case 'route-server':
      return cluster.route;
    case 'db-proxy':
      return cluster.dbProxy;
    case 'login-server':
      return cluster.loginRegistration;
  }
}

/** The login of a client-online connection (a real one: the fuzzing starts after it). */
async function logIn(
  conn: FuzzConnection,
  rng: Random,
  account: FuzzAccount,
  stats: Stats,
  factory: PduFactory,
  send: (pdu: FuzzPdu) => Promise<boolean>,
): Promise<boolean> {
  const clientType = rng.pick([ClientType.CLIENT_TYPE_WINDOWS, ClientType.CLIENT_TYPE_MAC, ClientType.CLIENT_TYPE_IOS, ClientType.CLIENT_TYPE_ANDROID]);
  const frame = factory.valid(rng, CID.LOGIN_REQ_USERLOGIN, rng.int(1, 0xffff), {
    user_name: account.name,
    password: clientPasswordDigest(account.password),
    online_status: rng.int(1, 3),
    client_type: clientType,
    client_version: 'teamtalk-ts fuzz',
  });
  const reply = conn.waitFor(CID.LOGIN_RES_USERLOGIN, 10_000);
  if (!(await send({ frame, kind: 'login', commandId: CID.LOGIN_REQ_USERLOGIN, terminal: false }))) return false;
  const pdu = await reply;
  const res = pdu === null ? null : IM.Login.IMLoginRes.decode(pdu.body);
  if (res !== null && res.result_code === 0) return true;
  if (res !== null && res.result_code === ResultType.REFUSE_REASON_MSG_SERVER_FULL && /over its budget/.test(res.result_string ?? '')) {
    // This account's earlier fuzz connection was cut off for its budget: the ban is the rule working.
    stats.loginsBanned++;
    return false;
  }
  stats.loginFailures++;
  if (stats.loginSamples.length < 10) {
    stats.loginSamples.push(`${account.name}: ${res === null ? 'no login reply within 10 s' : `refused (${res.result_code}: ${res.result_string ?? ''})`}`);
  }
  return false;
}

function writeCrashReport(options: FuzzOptions, crash: CrashRecord, histories: Sent[][], errors: Array<{ service: string; line: string }>): string | null {
  if (options.crashDir === null) return null;
  mkdirSync(options.crashDir, { recursive: true });
  const file = join(options.crashDir, `crash-${options.target}-seed${options.seed}-${crash.process}-${Date.now()}.jsonl`);
  const lines = [
    JSON.stringify({ crash, target: options.target, seed: options.seed }),
    ...errors.filter((e) => e.service === crash.process).map((e) => JSON.stringify({ log: e.line })),
    ...histories.flatMap((h, worker) => h.map((s) => JSON.stringify({ worker, ...s }))),
  ];
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

function sortedCounts(counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).sort((a, b) => b[1] - a[1]));
}

/** The newest error lines grouped by kind (numbers and ids ignored), most frequent first: "N x line". */
function errorKinds(lines: string[]): string[] {
  const kinds = new Map<string, { count: number; line: string }>();
  for (const line of lines) {
    const key = line
      .replace(/^\S+ /, '')
      .replace(/\b(conn|peer|pid|similarNotLogged)=\S+/g, '')
      .replace(/0x[0-9a-f]+|\d+/gi, '#');
    const kind = kinds.get(key);
    if (kind === undefined) kinds.set(key, { count: 1, line });
    else kind.count++;
  }
  return [...kinds.values()].sort((a, b) => b.count - a.count).map((k) => `${k.count} x ${k.line}`);
}
