/**
 * `npm start` as a user runs it, for tests: the compiled start script in its
 * own run folder (TT_RUN_DIR: its own CA, credentials and .run/cluster.json),
 * on free ports, against the test's MariaDB and Redis (its own database and
 * key prefix, dropped afterwards).
 */
import type { Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminClient } from '../../lib/admin-client';
import { InternalTls } from '../../lib/internal-tls';
import { withDatabase } from '../../lib/mysql-url';
import { projectRoot } from '../../lib/paths';
import { ensureCa, ensureCertificate } from '../../lib/pki';
import { freeLoopbackPort } from '../../scripts/infra/system';
import { dropRunData } from '../../scripts/infra/provision';

export interface RunningScript {
  proc: ChildProcess;
  /** Its stdout and stderr so far, as they came. */
  out: { text: string };
  /** Its exit code (128 when a signal ended it). */
  exited: Promise<number>;
}

/** A started child process whose output is collected (stdout and stderr piped). */
export function collectOutput(proc: ChildProcess): RunningScript {
  const out = { text: '' };
  proc.stdout?.on('data', (d: Buffer) => (out.text += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out.text += d.toString()));
  const exited = new Promise<number>((resolve) => proc.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 0))));
  return { proc, out, exited };
}

/** Runs a compiled script, collecting its output; stdin 'pipe' to type into it (proc.stdin). */
export function runScript(script: string, env: NodeJS.ProcessEnv, args: string[] = [], stdin: 'ignore' | 'pipe' = 'ignore'): RunningScript {
  return collectOutput(spawn(process.execPath, [join(projectRoot, script), ...args], { cwd: projectRoot, env, stdio: [stdin, 'pipe', 'pipe'] }));
}

export interface ClusterPorts {
  http: number;
  loginMsg: number;
  loginAdmin: number;
  route: number;
  routeAdmin: number;
  db: number;
  dbAdmin: number;
  console: number;
  msfs: number;
  msfsInternal: number;
  file: number;
  fileInternal: number;
  push: number;
  msg: number[];
  msgAdmin: number[];
  msgWs: number[];
}

export interface ClusterRun {
  runDir: string;
  ports: ClusterPorts;
  /** The environment of `npm start` for this cluster (scripts like add-msg-server.js need the same). */
  env: NodeJS.ProcessEnv;
  loginUrl: string;
}

/**
 * A run folder, free ports and the environment for `npm start` with `msgServers`
 * msg servers; everything is removed when the test ends.
 */
export async function prepareClusterRun(t: Test, msgServers: number, extraEnv: NodeJS.ProcessEnv = {}): Promise<ClusterRun> {
  const database = `tt_test_start_${randomBytes(3).toString('hex')}`;
  const prefix = `tt_test_start_${randomBytes(3).toString('hex')}:`;
  const runDir = mkdtempSync(join(tmpdir(), 'tt-start-'));
  const free = await Promise.all(Array.from({ length: 13 + 3 * msgServers }, freeLoopbackPort));
  const ports: ClusterPorts = {
    http: free[0],
    loginMsg: free[1],
    loginAdmin: free[2],
    route: free[3],
    routeAdmin: free[4],
    db: free[5],
    dbAdmin: free[6],
    console: free[7],
    msfs: free[8],
    msfsInternal: free[9],
    file: free[10],
    fileInternal: free[11],
    push: free[12],
    msg: free.slice(13, 13 + msgServers),
    msgAdmin: free.slice(13 + msgServers, 13 + 2 * msgServers),
    msgWs: free.slice(13 + 2 * msgServers),
  };
  t.teardown(async () => {
    rmSync(runDir, { recursive: true, force: true });
    await dropRunData({ mysqlAdminUrl: withDatabase(process.env.MYSQL_URL as string, database), redisUrl: process.env.REDIS_URL as string }, prefix);
  });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TT_RUN_DIR: runDir,
    TT_CLUSTER_DATABASE: database,
    TT_CLUSTER_REDIS_KEY_PREFIX: prefix,
    TT_CLUSTER_LOGIN_HTTP_PORT: String(ports.http),
    TT_CLUSTER_LOGIN_MSG_SERVER_PORT: String(ports.loginMsg),
    TT_CLUSTER_LOGIN_ADMIN_PORT: String(ports.loginAdmin),
    TT_CLUSTER_ROUTE_PORT: String(ports.route),
    TT_CLUSTER_ROUTE_ADMIN_PORT: String(ports.routeAdmin),
    TT_CLUSTER_DB_PROXY_PORT: String(ports.db),
    TT_CLUSTER_DB_PROXY_ADMIN_PORT: String(ports.dbAdmin),
    TT_CLUSTER_MSG_SERVER_PORTS: ports.msg.join(','),
    TT_CLUSTER_MSG_SERVER_ADMIN_PORTS: ports.msgAdmin.join(','),
    TT_CLUSTER_CONSOLE_PORT: String(ports.console),
    TT_CLUSTER_MSFS_PORT: String(ports.msfs),
    TT_CLUSTER_MSFS_INTERNAL_PORT: String(ports.msfsInternal),
    TT_CLUSTER_FILE_SERVER_PORT: String(ports.file),
    TT_CLUSTER_FILE_SERVER_INTERNAL_PORT: String(ports.fileInternal),
    TT_CLUSTER_PUSH_SERVER_PORT: String(ports.push),
    TT_CLUSTER_MSG_SERVER_WS_PORTS: ports.msgWs.join(','),
    TT_CLUSTER_LOG_LEVEL: 'warn',
    ...extraEnv,
  };
  return { runDir, ports, env, loginUrl: `http://127.0.0.1:${ports.http}/msg_server` };
}

/** An admin client with a certificate from the CA that `npm start` made in its run folder. */
export function clusterAdmin(runDir: string): AdminClient {
  const pki = ensureCa(join(runDir, 'pki'));
  const cert = ensureCertificate(pki, { role: 'admin', name: 'test-operator' });
  return new AdminClient(
    InternalTls.load('test', 'admin', { tlsCaFile: pki.caFile, tlsCertFile: cert.certFile, tlsKeyFile: cert.keyFile, tlsHandshakeTimeoutMs: 5000, plaintextPeers: [] }),
  );
}
