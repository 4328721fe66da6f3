/**
 * The short version of `npm run fuzz`: the services of `npm start` as real
 * processes on a fresh database, each target fuzzed with a couple of thousand
 * PDUs from a fixed seed, in every connection mode. No process may crash or
 * hang, no unauthenticated peer may get an answer, and the sentinel must keep
 * chatting through it all. Three targets are fuzzed in-process on one cluster;
 * the fourth through `npm run fuzz` itself (its own cluster, its JSON line), so
 * the command an operator runs is checked the same way. Kept short for CI: the
 * long runs are `npm run fuzz` (README, Fuzzing).
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { startFuzzCluster, type FuzzCluster } from '../../tools/fuzz/cluster';
import { failed, runFuzz, type FuzzResult } from '../../tools/fuzz/run';
import { targetProfile, type Target } from '../../tools/fuzz/targets';
import { deleteKeysWithPrefix } from '../../scripts/infra/redis';
import { freshDatabase, freshRedis } from '../helpers/storage';
import { runCli } from '../tools/run-cli';

const PDUS = 2000;
const CONNECTIONS = 6;
/** Every process of the fuzz cluster (`npm start`'s services without the web console). */
const PROCESSES = ['db-proxy', 'route-server', 'login-server', 'msfs', 'file-server', 'push-server', 'msg-server-1', 'msg-server-2'];

/** What every fuzz run must show, in-process or from the CLI's JSON. */
function checkRun(t: Test, target: Target, result: FuzzResult, pdus: number): void {
  const summary = JSON.stringify({ ...result, pdus_by_kind: undefined });
  t.equal(result.target, target);
  t.equal(result.pdus_sent, pdus, 'every PDU was sent');
  t.equal(result.server_crashes, 0, `no process crashed: ${summary}`);
  t.same(result.server_restarts, Object.fromEntries(PROCESSES.map((p) => [p, 0])), 'every process was watched and none was restarted');
  t.equal(result.hangs, 0, `no connection hung: ${result.samples.hangs.join('; ')}`);
  t.equal(result.unauthenticated_answers, 0, 'no unauthenticated peer got an answer');
  t.equal(result.sentinel_failures, 0, `the sentinel kept chatting: ${result.samples.sentinel.join('; ')}`);
  t.ok(result.sentinel_messages_sent > 0, 'the sentinel sent messages');
  t.equal(result.sentinel_messages_delivered, result.sentinel_messages_sent, 'every sentinel message was delivered');
  t.equal(result.sentinel_messages_acked, result.sentinel_messages_sent, 'every sentinel message was acked');
  t.ok(result.sentinel_login_lookups > 0, 'the sentinel looked the msg servers up on the login server (HTTP and admin endpoint)');
  t.ok(result.connections_closed_by_server > 0, 'the server closed connections it had to refuse');
  t.ok(result.connections_opened > CONNECTIONS, 'connections were reopened after being closed');
  t.notOk(failed(result), 'the run counts as passed');
  const modes = targetProfile(target).modes.map(([, mode]) => mode).sort();
  t.same(Object.keys(result.connections_by_mode).sort(), modes, `every connection mode was used (${modes.join(', ')})`);
  t.ok(Object.keys(result.pdus_by_kind).some((k) => k.startsWith('mutated:')), 'mutated bodies were sent');
  for (const kind of ['valid', 'wrong-pair', 'unknown-command', 'header-junk']) t.ok((result.pdus_by_kind[kind] ?? 0) > 0, `${kind} PDUs were sent`);
  if (target === 'msg-server') t.equal(result.login_failures, 0, 'every fuzz connection that meant to log in did, unless its account was just cut off for its budget');
}

t.test('msg-server, route-server and db-proxy survive a fuzz run and the sentinel keeps chatting', async (t) => {
  const db = await freshDatabase(t);
  const redis = await freshRedis(t);
  const pkiDir = mkdtempSync(join(tmpdir(), 'tt-fuzz-pki-'));
  t.teardown(() => rmSync(pkiDir, { recursive: true, force: true }));
  const notes: string[] = [];
  const cluster = await startFuzzCluster({
    storage: { mysqlUrl: db.url, mysqlAdminUrl: db.url, redisUrl: redis.url },
    redisKeyPrefix: redis.prefix,
    pkiDir,
    logLevel: 'error',
    verbose: false,
    loginUsers: CONNECTIONS,
    note: (line) => notes.push(line),
  });
  // Stopped before the database and Redis prefix are dropped (teardown).
  try {
    await fuzzTargets(t, cluster, notes);
  } finally {
    await cluster.stop();
  }
});

async function fuzzTargets(t: Test, cluster: FuzzCluster, notes: string[]): Promise<void> {
  const targets: Target[] = ['msg-server', 'route-server', 'db-proxy'];
  for (const [i, target] of targets.entries()) {
    await t.test(target, async (t) => {
      const result = await runFuzz(cluster, {
        target,
        pdus: PDUS,
        seconds: 120,
        seed: 1000 + i,
        connections: CONNECTIONS,
        rate: 0,
        sentinelTimeoutMs: 10_000,
        crashDir: null,
        note: (line) => notes.push(line),
      });
      checkRun(t, target, result, PDUS);
    });
  }
}

t.test('npm run fuzz --target login-server: one JSON line of a passed run, exit code 0; bad flags are refused', async (t) => {
  const bad = await runCli('scripts/fuzz.js', ['--target', 'db-proxy', '--pdu', '10']);
  t.equal(bad.code, 2, 'an unknown flag is an error');
  t.match(bad.stderr, /Unknown option '--pdu'/);
  t.match(bad.stderr, /usage: npm run fuzz/);
  const noTarget = await runCli('scripts/fuzz.js', ['--pdus', '10']);
  t.equal(noTarget.code, 2);
  t.match(noTarget.stderr, /--target is required/);
  const help = await runCli('scripts/fuzz.js', ['--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /--target msg-server\|route-server\|db-proxy\|login-server/);

  const db = await freshDatabase(t, { migrate: false });
  const runDir = mkdtempSync(join(tmpdir(), 'tt-fuzz-run-'));
  t.teardown(async () => {
    rmSync(runDir, { recursive: true, force: true });
    const redis = new Redis(process.env.REDIS_URL as string);
    await deleteKeysWithPrefix(redis, `${db.name}:`);
    redis.disconnect();
  });
  const args = ['--target', 'login-server', '--pdus', String(PDUS), '--seed', '1003', '--connections', String(CONNECTIONS), '--database', db.name];
  const run = await runCli('scripts/fuzz.js', args, { TT_RUN_DIR: runDir }, 120_000);
  t.equal(run.code, 0, `exit code 0 (stderr: ${run.stderr.slice(-2000)})`);
  const lines = run.stdout.trim().split('\n');
  t.equal(lines.length, 1, 'stdout is one line');
  const result = JSON.parse(lines[0]) as FuzzResult;
  t.equal(result.seed, 1003, 'the seed is printed');
  for (const key of ['elapsed_s', 'pdus_per_s', 'sentinel_ack_p99_ms', 'sentinel_deliver_max_ms'] as const) t.type(result[key], 'number', key);
  checkRun(t, 'login-server', result, PDUS);
});
