/**
 * Msg servers of the cluster that `npm start` runs (it reads .run/cluster.json):
 *
 *   npm run msg-server -- [--port P] [--admin-port A] [--ws-port W]
 *       one more msg server: it registers with the login server (new logins land
 *       on it once it is the least loaded) and the route server. Ctrl-C stops it.
 *       It gets a WebSocket port for the web chat when the cluster's msg servers
 *       have them (--ws-port, default the highest one + 1; --ws-port 0 for none).
 *   npm run msg-server -- drain PORT [--no-wait]
 *       drains the msg server on client port PORT: the login server stops
 *       offering it, its clients are moved off in small batches (they reconnect
 *       elsewhere), and it exits when empty. Waits until it has, printing progress.
 *       Under a supervisor (npm start, or the command above) it is started again.
 *   npm run msg-server -- rolling-restart
 *       drains every msg server in turn, each time waiting until the supervisor
 *       has started it again and it is registered, so one is down at a time.
 *
 * Drains go through the msg servers' admin endpoints with an "admin"
 * certificate from the local CA; the login server's list says where they are.
 */
import { UsageError, parseCommandLine, parsePortOption } from '../lib/cli';
import { userInfo } from 'node:os';
import type { AdminClient, AdminTarget } from '../lib/admin-client';
import { errorMessage } from '../lib/errors';
import { listMsgServers, localAdminClient, loginAdmin, type ListedMsgServer } from './cluster/admin';
import { localPki } from './cluster/pki';
import { reachable, readRunningCluster, type RunningCluster } from './cluster/running';
import { CONFIG_ERROR_EXIT_CODE, Supervisor } from './cluster/supervisor';
import { msgServerEnv } from './start';
import { portAcceptsConnections, sleep } from './infra/system';

const log = (line: string) => process.stderr.write(`[msg-server] ${line}\n`);

const USAGE = `usage:
  npm run msg-server -- [--port P] [--admin-port A] [--ws-port W]   one more msg server
  npm run msg-server -- drain PORT [--no-wait]           drain the msg server on client port PORT
  npm run msg-server -- rolling-restart                  drain (restart) every msg server, one at a time`;

/** How long a drained msg server may take to be back under its supervisor. */
const RESTART_TIMEOUT_MS = 120_000;

function runningCluster(): RunningCluster {
  const cluster = readRunningCluster();
  if (cluster === null) throw new Error('no running cluster: start one with "npm start" first');
  return cluster;
}

async function addMsgServer(values: { port?: string; 'admin-port'?: string; 'ws-port'?: string }): Promise<void> {
  const cluster = runningCluster();
  const port = parsePortOption('port', values.port) ?? Math.max(...cluster.msgServerPorts) + 1;
  const adminPort = parsePortOption('admin-port', values['admin-port']) ?? port + 1000;
  const wsPorts = cluster.msgServerWsPorts ?? [];
  const wsPort = parsePortOption('ws-port', values['ws-port'], 0) ?? (wsPorts.length > 0 ? Math.max(...wsPorts) + 1 : 0);
  const client = reachable(cluster.clientHost);
  const internal = reachable(cluster.internalHost);
  if (await portAcceptsConnections(client, port)) throw new Error(`port ${port} is already in use; pick another with --port`);
  if (wsPort > 0 && (await portAcceptsConnections(client, wsPort))) throw new Error(`port ${wsPort} is already in use; pick another with --ws-port (0 for none)`);
  if (await portAcceptsConnections(internal, adminPort)) throw new Error(`admin port ${adminPort} is already in use; pick another with --admin-port`);
  const n = cluster.msgServerPorts.length + 1;
  const supervisor = new Supervisor({
    output: (line) => process.stdout.write(line + '\n'),
    note: log,
    color: process.stdout.isTTY === true,
    onConfigError: () => process.exit(CONFIG_ERROR_EXIT_CODE),
  });
  supervisor.start({
    name: `msg-server-${port}`,
    script: 'dist/services/msg-server/main.js',
    env: msgServerEnv({ ...cluster, logLevel: process.env.TT_MSG_LOG_LEVEL ?? 'info' }, localPki(), port, n, { adminPort, wsPort }),
  });
  const web = wsPort > 0 ? `, ws://${cluster.publicIp}:${wsPort}/ for browsers` : '';
  log(`msg server on ${client}:${port} (admin https://${internal}:${adminPort}${web}) joining the cluster of pid ${cluster.pid} (${cluster.loginUrl}); Ctrl-C stops it`);
  const stop = () => void supervisor.stopAll().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

interface Ops {
  client: AdminClient;
  login: AdminTarget;
  operator: string;
}

function ops(cluster: RunningCluster): Ops {
  return {
    client: localAdminClient('msg-server-cli'),
    login: loginAdmin(reachable(cluster.internalHost), cluster.loginAdminPort),
    operator: `${userInfo().username}@cli`,
  };
}

async function findMsgServer(o: Ops, port: number): Promise<ListedMsgServer & { admin: string }> {
  const list = await listMsgServers(o.client, o.login);
  const entry = list.find((m) => m.port === port);
  if (entry === undefined) {
    throw new Error(`no msg server on client port ${port} is registered with the login server (registered: ${list.map((m) => m.port).join(', ') || 'none'})`);
  }
  if (entry.admin === null) throw new Error(`the msg server on port ${port} has no admin endpoint (an original TeamTalk msg_server?): it cannot be drained from here`);
  return entry as ListedMsgServer & { admin: string };
}

/** Starts a drain and, unless `wait` is false, follows it until the msg server has exited. */
async function drain(o: Ops, port: number, wait: boolean): Promise<void> {
  const entry = await findMsgServer(o, port);
  const target: AdminTarget = { url: entry.admin, role: 'msg-server' };
  const answer = await o.client.send<{ started: boolean; remaining: number }>(target, 'POST', '/drain', {}, o.operator);
  log(`${entry.hostName} (port ${port}): ${answer.started ? 'drain started' : 'already draining'}, ${answer.remaining} client connection(s) to move`);
  if (!wait) return;
  let pid: number | null = null;
  let last = -1;
  for (;;) {
    let status: { pid: number; state: string; drain: { remaining: number; closed: number } };
    try {
      status = await o.client.get(target, '/status');
    } catch {
      log(`${entry.hostName} (port ${port}): drained and stopped`);
      return;
    }
    pid ??= status.pid;
    if (status.pid !== pid) {
      log(`${entry.hostName} (port ${port}): drained and stopped; its supervisor started it again (pid ${status.pid})`);
      return;
    }
    if (status.drain.remaining !== last) {
      last = status.drain.remaining;
      log(`${entry.hostName} (port ${port}): ${status.drain.remaining} client connection(s) left, ${status.drain.closed} moved`);
    }
    await sleep(500);
  }
}

/** Until a msg server on `port` is registered again, newer than `since`, and taking clients. */
async function waitUntilBack(o: Ops, port: number, since: string): Promise<void> {
  const until = Date.now() + RESTART_TIMEOUT_MS;
  while (Date.now() < until) {
    const list = await listMsgServers(o.client, o.login).catch(() => []);
    if (list.some((m) => m.port === port && m.state === 'active' && m.registeredAt > since)) return;
    await sleep(500);
  }
  throw new Error(`the msg server on port ${port} did not come back within ${RESTART_TIMEOUT_MS / 1000} s; is it supervised (npm start)? Stopping the rolling restart`);
}

async function rollingRestart(o: Ops): Promise<void> {
  const ports = (await listMsgServers(o.client, o.login)).map((m) => m.port).sort((a, b) => a - b);
  if (ports.length < 2) throw new Error(`a rolling restart needs at least two msg servers (registered: ${ports.join(', ') || 'none'}): their clients need somewhere to go`);
  log(`rolling restart of the msg servers on ports ${ports.join(', ')}`);
  for (const port of ports) {
    const before = new Date().toISOString();
    await drain(o, port, true);
    await waitUntilBack(o, port, before);
    log(`port ${port}: back and taking clients`);
  }
  log('rolling restart done');
}

async function main(): Promise<void> {
  const { values, positionals } = parseCommandLine(process.argv.slice(2), {
    port: { type: 'string' },
    'admin-port': { type: 'string' },
    'ws-port': { type: 'string' },
    'no-wait': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const [command, ...rest] = positionals;
  if (command === undefined) {
    if (values['no-wait']) throw new UsageError('--no-wait goes with drain');
    return addMsgServer(values);
  }
  if (values.port !== undefined || values['admin-port'] !== undefined) throw new UsageError('--port and --admin-port go with starting a msg server');
  const cluster = runningCluster();
  const o = ops(cluster);
  try {
    if (command === 'drain') {
      const port = rest.length === 1 ? parsePortOption('PORT', rest[0]) : undefined;
      if (port === undefined) throw new UsageError('drain needs the client port of one msg server, e.g. drain 8000');
      await drain(o, port, !values['no-wait']);
    } else if (command === 'rolling-restart') {
      if (rest.length > 0 || values['no-wait']) throw new UsageError('rolling-restart takes no arguments');
      await rollingRestart(o);
    } else {
      throw new UsageError(`unknown command "${command}"`);
    }
  } finally {
    o.client.close();
  }
}

main().catch((err) => {
  if (err instanceof UsageError) {
    log(errorMessage(err));
    process.stderr.write(USAGE + '\n');
    process.exit(2);
  }
  log(errorMessage(err));
  process.exit(1);
});
