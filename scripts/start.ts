/**
 * `npm start`: the whole cluster on this machine. Brings up MariaDB and Redis
 * (local child processes under .run/, unless MYSQL_URL / REDIS_URL are set),
 * applies the schema, seeds demo users into an empty database, then runs
 * db-proxy, route server, login server, the msg servers and the web console
 * under one supervisor. Ctrl-C / SIGTERM stops everything it started; so does a
 * service that stops on a configuration error (exit code 2), whose error is
 * shown and is npm start's exit code.
 */
import { mkdirSync } from 'node:fs';
import { relative } from 'node:path';
import mysql from 'mysql2/promise';
import { configFileFromArgs } from '../lib/config';
import { errorMessage } from '../lib/errors';
import { parseMysqlUrl, redactUrl } from '../lib/mysql-url';
import { isLoopbackHost } from '../lib/host-port';
import { runDir } from '../lib/paths';
import type { Pki } from '../lib/pki';
import { issueSignInLink } from '../services/console/auth';
import { consoleConfig } from '../services/console/config';
import { localAdminClient, loginAdmin, waitForMsgServers } from './cluster/admin';
import { checkClusterConfig, clusterConfig, DEFAULT_CLUSTER_CONFIG_FILE, type ClusterConfig } from './cluster/config';
import { LOCAL_PKI_DIR, localPki, tlsEnv } from './cluster/pki';
import { reachable, readRunningCluster, removeRunningCluster, writeRunningCluster } from './cluster/running';
import { CONFIG_ERROR_EXIT_CODE, Supervisor, type ChildSpec } from './cluster/supervisor';
import { migrate } from './db/migrate';
import { DEMO_PASSWORD, DEMO_USERS, isEmpty, seedDemo } from './db/seed';
import { consoleOperators, credentialsFile } from './infra/credentials';
import { provisionStorage, type Storage } from './infra/provision';
import { portAcceptsConnections } from './infra/system';

const log = (line: string) => process.stderr.write(`[start] ${line}\n`);

/** How long the banner's console sign-in link works. */
export const SIGN_IN_LINK_TTL_MS = 15 * 60_000;

export function serviceSpecs(config: ClusterConfig, storage: Storage, pki: Pki): ChildSpec[] {
  const internal = reachable(config.internalHost);
  const level = config.logLevel;
  // Certificates name where a service is reached (informational: peers check the CA and the role).
  const hosts = [...new Set([internal, config.internalHost, 'localhost'])];
  const specs: ChildSpec[] = [
    {
      name: 'db-proxy',
      script: 'dist/services/db-proxy/main.js',
      env: {
        TT_DB_PROXY_LISTEN_HOST: config.internalHost,
        TT_DB_PROXY_LISTEN_PORT: String(config.dbProxyPort),
        TT_DB_PROXY_ADMIN_HOST: config.internalHost,
        TT_DB_PROXY_ADMIN_PORT: String(config.dbProxyAdminPort),
        TT_DB_PROXY_MYSQL_URL: storage.mysqlUrl,
        TT_DB_PROXY_REDIS_URL: storage.redisUrl,
        TT_DB_PROXY_REDIS_KEY_PREFIX: config.redisKeyPrefix,
        TT_DB_PROXY_LOG_LEVEL: level,
        ...tlsEnv(pki, 'TT_DB_PROXY', 'db-proxy', 'db-proxy', hosts),
      },
    },
    {
      name: 'route-server',
      script: 'dist/services/route-server/main.js',
      env: {
        TT_ROUTE_LISTEN_HOST: config.internalHost,
        TT_ROUTE_LISTEN_PORT: String(config.routePort),
        TT_ROUTE_ADMIN_HOST: config.internalHost,
        TT_ROUTE_ADMIN_PORT: String(config.routeAdminPort),
        TT_ROUTE_LOG_LEVEL: level,
        ...tlsEnv(pki, 'TT_ROUTE', 'route-server', 'route-server', hosts),
      },
    },
    {
      name: 'login-server',
      script: 'dist/services/login-server/main.js',
      env: {
        TT_LOGIN_HTTP_HOST: config.clientHost,
        TT_LOGIN_HTTP_PORT: String(config.loginHttpPort),
        TT_LOGIN_MSG_SERVER_HOST: config.internalHost,
        TT_LOGIN_MSG_SERVER_PORT: String(config.loginMsgServerPort),
        TT_LOGIN_ADMIN_HOST: config.internalHost,
        TT_LOGIN_ADMIN_PORT: String(config.loginAdminPort),
        TT_LOGIN_LOG_LEVEL: level,
        ...tlsEnv(pki, 'TT_LOGIN', 'login-server', 'login-server', hosts),
      },
    },
  ];
  config.msgServerPorts.forEach((port, i) =>
    specs.push({
      name: `msg-server-${i + 1}`,
      script: 'dist/services/msg-server/main.js',
      env: msgServerEnv(config, pki, port, config.msgServerAdminPorts[i], i + 1),
    }),
  );
  specs.push({
    name: 'console',
    script: 'dist/services/console/main.js',
    env: {
      TT_CONSOLE_HTTP_HOST: config.internalHost,
      TT_CONSOLE_HTTP_PORT: String(config.consolePort),
      TT_CONSOLE_LOGIN_SERVERS: `${internal}:${config.loginAdminPort}`,
      TT_CONSOLE_ROUTE_SERVERS: `${internal}:${config.routeAdminPort}`,
      TT_CONSOLE_DB_PROXIES: `${internal}:${config.dbProxyAdminPort}`,
      TT_CONSOLE_MYSQL_URL: storage.mysqlUrl,
      TT_CONSOLE_OPERATORS_FILE: credentialsFile(runDir),
      TT_CONSOLE_LOG_LEVEL: level,
      ...tlsEnv(pki, 'TT_CONSOLE', 'admin', 'console', hosts),
    },
  });
  return specs;
}

/** The environment of msg server number `n` on client port `port` (also used by `npm run msg-server`). */
export function msgServerEnv(
  cluster: Pick<ClusterConfig, 'clientHost' | 'internalHost' | 'publicIp' | 'loginMsgServerPort' | 'routePort' | 'dbProxyPort'> & { logLevel: string },
  pki: Pki,
  port: number,
  adminPort: number,
  n: number,
): Record<string, string> {
  const internal = reachable(cluster.internalHost);
  return {
    TT_MSG_LISTEN_HOST: cluster.clientHost,
    TT_MSG_LISTEN_PORT: String(port),
    TT_MSG_ADMIN_HOST: cluster.internalHost,
    TT_MSG_ADMIN_PORT: String(adminPort),
    TT_MSG_PUBLIC_IP1: cluster.publicIp,
    TT_MSG_HOST_NAME: `msg-server-${n}`,
    TT_MSG_LOGIN_SERVERS: `${internal}:${cluster.loginMsgServerPort}`,
    TT_MSG_ROUTE_SERVERS: `${internal}:${cluster.routePort}`,
    TT_MSG_DB_PROXIES: `${internal}:${cluster.dbProxyPort}`,
    TT_MSG_LOG_LEVEL: cluster.logLevel,
    ...tlsEnv(pki, 'TT_MSG', 'msg-server', `msg-server-${port}`, [internal, 'localhost']),
  };
}

async function checkPortsFree(config: ClusterConfig): Promise<void> {
  const client = reachable(config.clientHost);
  const internal = reachable(config.internalHost);
  const ports: Array<[string, string, number]> = [
    ['login HTTP', client, config.loginHttpPort],
    ['login (msg servers)', internal, config.loginMsgServerPort],
    ['login admin', internal, config.loginAdminPort],
    ['route server', internal, config.routePort],
    ['route server admin', internal, config.routeAdminPort],
    ['db-proxy', internal, config.dbProxyPort],
    ['db-proxy admin', internal, config.dbProxyAdminPort],
    ['console', internal, config.consolePort],
    ...config.msgServerPorts.map((p, i): [string, string, number] => [`msg server ${i + 1}`, client, p]),
    ...config.msgServerAdminPorts.map((p, i): [string, string, number] => [`msg server ${i + 1} admin`, internal, p]),
  ];
  for (const [role, host, port] of ports) {
    if (await portAcceptsConnections(host, port)) {
      throw new Error(`port ${port} (${role}) is already in use by another program; pick other ports in config/cluster.json or with TT_CLUSTER_* variables`);
    }
  }
}

/** Until the login server lists every msg server (they register once their links are up). */
async function waitUntilReady(config: ClusterConfig): Promise<boolean> {
  const client = localAdminClient('npm-start');
  try {
    return await waitForMsgServers(client, loginAdmin(reachable(config.internalHost), config.loginAdminPort), config.msgServerPorts.length);
  } finally {
    client.close();
  }
}

/** One admin endpoint URL per service, for the banner's metrics line. */
export function metricsUrls(config: ClusterConfig): string[] {
  const internal = reachable(config.internalHost);
  const ports = [config.loginAdminPort, config.routeAdminPort, config.dbProxyAdminPort, ...config.msgServerAdminPorts];
  return ports.map((p) => `https://${internal}:${p}/metrics`);
}

/**
 * Demo users have a published password: they are created only while no client
 * can reach the cluster from another machine. Returns the enabled demo users.
 */
async function seed(config: ClusterConfig, storage: Storage): Promise<string[]> {
  const pool = mysql.createPool({ ...parseMysqlUrl(storage.mysqlUrl), connectionLimit: 2 });
  try {
    if (config.seedDemoUsers && isLoopbackHost(config.clientHost) && (await isEmpty(pool))) {
      const result = await seedDemo(pool);
      log(`seeded demo users ${result.created.join(', ')}`);
    }
    const [rows] = await pool.query<mysql.RowDataPacket[]>('SELECT name FROM IMUser WHERE name IN (?) AND status = 0', [DEMO_USERS.map((u) => u.name)]);
    return rows.map((r) => String(r.name));
  } finally {
    await pool.end();
  }
}

function banner(config: ClusterConfig, demoUsers: string[], ready: boolean, signInToken: string): string {
  const client = reachable(config.clientHost);
  const internal = reachable(config.internalHost);
  const exposed = !isLoopbackHost(config.clientHost);
  const demo =
    demoUsers.length === 0
      ? exposed
        ? '  no demo users (clients can reach this cluster from other machines); add accounts with: npm run users -- add NAME --password P'
        : '  no demo users (database was not empty); add accounts with: npm run users -- add NAME --password P'
      : exposed
        ? `  WARNING: demo logins ${demoUsers.join(', ')} with the published password "${DEMO_PASSWORD}" are reachable from other machines; disable them: npm run users -- disable NAME`
        : `  demo logins: ${demoUsers.join(', ')} (password "${DEMO_PASSWORD}")`;
  const lines = [
    '',
    ready ? 'TeamTalk cluster is up' : 'TeamTalk cluster started (some msg servers have not registered yet: see the log above)',
    `  login: http://${client}:${config.loginHttpPort}/msg_server`,
    `  msg servers: ${config.msgServerPorts.map((p) => `${client}:${p}`).join(', ')}`,
    `  internal (mutual TLS, certificates in ${LOCAL_PKI_DIR}): route server ${internal}:${config.routePort}    db-proxy ${internal}:${config.dbProxyPort}    login registration ${internal}:${config.loginMsgServerPort}`,
    `  console: http://${internal}:${config.consolePort}/signin/link?token=${signInToken}`,
    `           (one-time link, ${SIGN_IN_LINK_TTL_MS / 60_000} min; then operator "admin", password in ${relative(process.cwd(), credentialsFile(runDir)) || credentialsFile(runDir)})`,
    `  metrics: ${metricsUrls(config).join(' ')}`,
    `           (mutual TLS with an admin certificate: npm run certs -- issue --role admin --name prometheus; deploy/prometheus.yml)`,
    `  users: npm run users -- list    drain a msg server: npm run msg-server -- drain ${config.msgServerPorts[0]}`,
    demo,
    `  chat: npm run client -- --user ${demoUsers[0] ?? 'NAME'}    (in another terminal; a second one with --user ${demoUsers[1] ?? 'NAME2'})`,
    `  one more msg server: npm run msg-server -- --port ${Math.max(...config.msgServerPorts) + 1}`,
    '  stop: Ctrl-C',
    '',
  ];
  return lines.join('\n');
}

async function main(): Promise<number> {
  const file = configFileFromArgs(process.argv.slice(2)) ?? process.env.TT_CLUSTER_CONFIG ?? DEFAULT_CLUSTER_CONFIG_FILE;
  const config = clusterConfig.load({ file });
  checkClusterConfig(config);
  const running = readRunningCluster();
  if (running !== null) {
    log(`a cluster started by "npm start" is already running (pid ${running.pid}, since ${running.startedAt}): ${running.loginUrl}`);
    log(`use it, or stop it first (Ctrl-C in its terminal, or: kill ${running.pid})`);
    return 1;
  }
  mkdirSync(runDir, { recursive: true, mode: 0o700 });
  await checkPortsFree(config);

  const storage = await provisionStorage({ database: config.database, log });
  const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
  let stopping = false;
  /** Stops everything; `last` is printed at the very end (what the terminal is left showing). */
  const stop = async (why: string, exitCode = 0, last: string[] = []) => {
    if (stopping) return;
    stopping = true;
    log(`${why}: stopping the cluster`);
    await supervisor.stopAll();
    await storage.stop();
    removeRunningCluster();
    log('stopped');
    for (const line of last) log(line);
    process.exit(exitCode);
  };
  const supervisor = new Supervisor({
    output: (line) => process.stdout.write(line + '\n'),
    note: log,
    color,
    onConfigError: (name, lines) => {
      // The service's own message names the key (lines that are not JSON log lines); else its last lines.
      const plain = lines.filter((l) => !l.startsWith('{'));
      const shown = (plain.length > 0 ? plain : lines).slice(-3);
      void stop(`${name} stopped on a configuration error`, CONFIG_ERROR_EXIT_CODE, [
        `${name} refused its configuration (it is not restarted; fix it and run npm start again):`,
        ...shown.map((l) => `  ${l}`),
      ]);
    },
  });
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  try {
    const migration = await migrate(storage.mysqlUrl);
    log(`database ${redactUrl(storage.mysqlUrl)}: ${migration.applied.length > 0 ? `applied ${migration.applied.join(', ')}` : 'schema up to date'}`);
    const demoUsers = await seed(config, storage);
    const pki = localPki();
    writeRunningCluster({
      pid: process.pid,
      startedAt: new Date().toISOString(),
      clientHost: config.clientHost,
      internalHost: config.internalHost,
      publicIp: config.publicIp,
      loginUrl: `http://${reachable(config.clientHost)}:${config.loginHttpPort}/msg_server`,
      loginMsgServerPort: config.loginMsgServerPort,
      loginAdminPort: config.loginAdminPort,
      routePort: config.routePort,
      routeAdminPort: config.routeAdminPort,
      dbProxyPort: config.dbProxyPort,
      dbProxyAdminPort: config.dbProxyAdminPort,
      msgServerPorts: config.msgServerPorts,
      msgServerAdminPorts: config.msgServerAdminPorts,
      consolePort: config.consolePort,
    });
    const operator = consoleOperators(runDir)[0].name;
    const signInToken = issueSignInLink(consoleConfig.load().signInLinkFile, operator, SIGN_IN_LINK_TTL_MS);
    for (const spec of serviceSpecs(config, storage, pki)) supervisor.start(spec);
    const ready = await waitUntilReady(config);
    if (stopping) return new Promise<number>(() => {});
    process.stdout.write(banner(config, demoUsers, ready, signInToken) + '\n');
  } catch (err) {
    await supervisor.stopAll();
    await storage.stop();
    removeRunningCluster();
    throw err;
  }
  return new Promise<number>(() => {}); // runs until a signal
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      log(`failed: ${errorMessage(err)}`);
      process.exit(1);
    },
  );
}
