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
import { UsageError, configFileFromArgs } from '../lib/cli';
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
import { checkWebSocketPorts, webBannerLines, webOrigins, webSocketEnv } from './cluster/web';
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
    ...dbProxyPorts(config).map((port, i) => ({
      name: i === 0 ? 'db-proxy' : `db-proxy-${i + 1}`,
      script: 'dist/services/db-proxy/main.js',
      env: {
        TT_DB_PROXY_LISTEN_HOST: config.internalHost,
        TT_DB_PROXY_LISTEN_PORT: String(port),
        TT_DB_PROXY_ADMIN_HOST: config.internalHost,
        TT_DB_PROXY_ADMIN_PORT: String(config.dbProxyAdminPort + i),
        TT_DB_PROXY_MYSQL_URL: storage.mysqlUrl,
        TT_DB_PROXY_REDIS_URL: storage.redisUrl,
        TT_DB_PROXY_REDIS_KEY_PREFIX: config.redisKeyPrefix,
        TT_DB_PROXY_LOG_LEVEL: level,
        TT_DB_PROXY_MSFS_URL: `https://${internal}:${config.msfsInternalPort}/`,
        ...tlsEnv(pki, 'TT_DB_PROXY', 'db-proxy', i === 0 ? 'db-proxy' : `db-proxy-${i + 1}`, hosts),
      },
    })),
    ...routePorts(config).map((port, i) => ({
      name: i === 0 ? 'route-server' : `route-server-${i + 1}`,
      script: 'dist/services/route-server/main.js',
      env: {
        TT_ROUTE_LISTEN_HOST: config.internalHost,
        TT_ROUTE_LISTEN_PORT: String(port),
        TT_ROUTE_ADMIN_HOST: config.internalHost,
        TT_ROUTE_ADMIN_PORT: String(config.routeAdminPort + i),
        TT_ROUTE_LOG_LEVEL: level,
        ...tlsEnv(pki, 'TT_ROUTE', 'route-server', i === 0 ? 'route-server' : `route-server-${i + 1}`, hosts),
      },
    })),
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
        TT_LOGIN_MSFS_URL: `http://${config.publicIp}:${config.msfsPort}/`,
        ...tlsEnv(pki, 'TT_LOGIN', 'login-server', 'login-server', hosts),
      },
    },
    {
      name: 'msfs',
      script: 'dist/services/msfs/main.js',
      env: {
        TT_MSFS_LISTEN_HOST: config.clientHost,
        TT_MSFS_LISTEN_PORT: String(config.msfsPort),
        TT_MSFS_PUBLIC_URL: `http://${config.publicIp}:${config.msfsPort}/`,
        TT_MSFS_INTERNAL_HOST: config.internalHost,
        TT_MSFS_INTERNAL_PORT: String(config.msfsInternalPort),
        TT_MSFS_LOG_LEVEL: level,
        ...tlsEnv(pki, 'TT_MSFS', 'msfs', 'msfs', hosts),
      },
    },
    {
      name: 'file-server',
      script: 'dist/services/file-server/main.js',
      env: {
        TT_FILE_CLIENT_LISTEN_HOST: config.clientHost,
        TT_FILE_CLIENT_LISTEN_PORT: String(config.fileServerPort),
        TT_FILE_PUBLIC_IPS: config.publicIp,
        TT_FILE_INTERNAL_LISTEN_HOST: config.internalHost,
        TT_FILE_INTERNAL_LISTEN_PORT: String(config.fileServerInternalPort),
        TT_FILE_LOG_LEVEL: level,
        ...tlsEnv(pki, 'TT_FILE', 'file-server', 'file-server', hosts),
      },
    },
    {
      name: 'push-server',
      script: 'dist/services/push-server/main.js',
      env: {
        TT_PUSH_LISTEN_HOST: config.internalHost,
        TT_PUSH_LISTEN_PORT: String(config.pushServerPort),
        TT_PUSH_WEBHOOK_URL: config.pushWebhookUrl,
        TT_PUSH_LOG_LEVEL: level,
        ...tlsEnv(pki, 'TT_PUSH', 'push-server', 'push-server', hosts),
      },
    },
  ];
  config.msgServerPorts.forEach((port, i) =>
    specs.push({
      name: `msg-server-${i + 1}`,
      script: 'dist/services/msg-server/main.js',
      env: msgServerEnv(config, pki, port, i + 1, { adminPort: config.msgServerAdminPorts[i], wsPort: config.msgServerWsPorts[i] ?? 0 }),
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

/** Every db-proxy's port. */
function dbProxyPorts(config: Pick<ClusterConfig, 'dbProxyPort' | 'extraDbProxyPorts'>): number[] {
  return [config.dbProxyPort, ...config.extraDbProxyPorts];
}

/** Every route server's port: the first one, then the standbys. */
function routePorts(config: Pick<ClusterConfig, 'routePort' | 'standbyRoutePorts'>): number[] {
  return [config.routePort, ...config.standbyRoutePorts];
}

/**
 * The environment of msg server number `n` on client port `port`, with a
 * WebSocket port for browsers unless `wsPort` is 0 (also used by `npm run msg-server`).
 */
export function msgServerEnv(
  cluster: Pick<
    ClusterConfig,
    | 'clientHost'
    | 'internalHost'
    | 'publicIp'
    | 'loginHttpPort'
    | 'loginMsgServerPort'
    | 'routePort'
    | 'standbyRoutePorts'
    | 'dbProxyPort'
    | 'extraDbProxyPorts'
    | 'fileServerInternalPort'
    | 'pushServerPort'
  > & { logLevel: string },
  pki: Pki,
  port: number,
  n: number,
  { adminPort, wsPort }: { adminPort: number; wsPort: number },
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
    TT_MSG_ROUTE_SERVERS: routePorts(cluster)
      .map((p) => `${internal}:${p}`)
      .join(','),
    TT_MSG_DB_PROXIES: dbProxyPorts(cluster)
      .map((p) => `${internal}:${p}`)
      .join(','),
    TT_MSG_FILE_SERVERS: `${internal}:${cluster.fileServerInternalPort}`,
    TT_MSG_PUSH_SERVERS: `${internal}:${cluster.pushServerPort}`,
    TT_MSG_LOG_LEVEL: cluster.logLevel,
    ...tlsEnv(pki, 'TT_MSG', 'msg-server', `msg-server-${port}`, [internal, 'localhost']),
    ...webSocketEnv(cluster.clientHost, wsPort, webOrigins(cluster)),
  };
}

async function checkPortsFree(config: ClusterConfig): Promise<void> {
  const client = reachable(config.clientHost);
  const internal = reachable(config.internalHost);
  const ports: Array<[string, string, number]> = [
    ['login HTTP', client, config.loginHttpPort],
    ['login (msg servers)', internal, config.loginMsgServerPort],
    ['login admin', internal, config.loginAdminPort],
    ...routePorts(config).flatMap((p, i): Array<[string, string, number]> => [
      [`route server ${i + 1}`, internal, p],
      [`route server ${i + 1} admin`, internal, config.routeAdminPort + i],
    ]),
    ...dbProxyPorts(config).flatMap((p, i): Array<[string, string, number]> => [
      [`db-proxy ${i + 1}`, internal, p],
      [`db-proxy ${i + 1} admin`, internal, config.dbProxyAdminPort + i],
    ]),
    ['console', internal, config.consolePort],
    ['msfs', client, config.msfsPort],
    ['msfs internal', internal, config.msfsInternalPort],
    ['file server', client, config.fileServerPort],
    ['file server internal', internal, config.fileServerInternalPort],
    ['push server', internal, config.pushServerPort],
    ...config.msgServerPorts.map((p, i): [string, string, number] => [`msg server ${i + 1}`, client, p]),
    ...config.msgServerWsPorts.map((p, i): [string, string, number] => [`msg server ${i + 1} WebSocket`, client, p]),
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
  const ports = [
    config.loginAdminPort,
    ...routePorts(config).map((_, i) => config.routeAdminPort + i),
    ...dbProxyPorts(config).map((_, i) => config.dbProxyAdminPort + i),
    ...config.msgServerAdminPorts,
  ];
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
  const web = webBannerLines(config);
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
    web.chat,
    `  msg servers: ${config.msgServerPorts.map((p) => `${client}:${p}`).join(', ')}`,
    ...web.msgServers,
    `  pictures (msfs): http://${client}:${config.msfsPort}/    file server: ${client}:${config.fileServerPort}`,
    `  internal (mutual TLS, certificates in ${LOCAL_PKI_DIR}): route server${config.standbyRoutePorts.length > 0 ? 's' : ''} ${routePorts(config).map((p) => `${internal}:${p}`).join(', ')}    db-proxy ${dbProxyPorts(config).map((p) => `${internal}:${p}`).join(', ')}    login registration ${internal}:${config.loginMsgServerPort}`,
    `    msfs voice ${internal}:${config.msfsInternalPort}    file server ${internal}:${config.fileServerInternalPort}    push server ${internal}:${config.pushServerPort} -> ${config.pushWebhookUrl || 'no webhook (pushWebhookUrl): .run/push-server/dead-letter.jsonl'}`,
    `  console: http://${internal}:${config.consolePort}/signin/link?token=${signInToken}`,
    `           (one-time link, ${SIGN_IN_LINK_TTL_MS / 60_000} min; then operator "admin", password in ${relative(process.cwd(), credentialsFile(runDir)) || credentialsFile(runDir)})`,
    `  metrics: ${metricsUrls(config).join(' ')}`,
    `           (mutual TLS with an admin certificate: npm run certs -- issue --role admin --name prometheus; deploy/prometheus.yml)`,
    `  users: npm run users -- list    drain a msg server: npm run msg-server -- drain ${config.msgServerPorts[0]}`,
    demo,
    `  chat: npm run client -- --user ${demoUsers[0] ?? 'NAME'}    (in another terminal; a second one with --user ${demoUsers[1] ?? 'NAME2'})`,
    `  one more msg server: npm run msg-server -- --port ${Math.max(...config.msgServerPorts) + 1}${
      config.msgServerWsPorts.length > 0 ? ` --ws-port ${Math.max(...config.msgServerWsPorts) + 1}` : ''
    }`,
    '  stop: Ctrl-C',
    '',
  ];
  return lines.join('\n');
}

async function main(): Promise<number> {
  const file = configFileFromArgs(process.argv.slice(2)) ?? process.env.TT_CLUSTER_CONFIG ?? DEFAULT_CLUSTER_CONFIG_FILE;
  const config = clusterConfig.load({ file });
  checkWebSocketPorts(config);
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
    const migration = await migrate(storage.mysqlAdminUrl);
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
      loginHttpPort: config.loginHttpPort,
      loginMsgServerPort: config.loginMsgServerPort,
      loginAdminPort: config.loginAdminPort,
      routePort: config.routePort,
      standbyRoutePorts: config.standbyRoutePorts,
      dbProxyPort: config.dbProxyPort,
      extraDbProxyPorts: config.extraDbProxyPorts,
      msgServerPorts: config.msgServerPorts,
      fileServerInternalPort: config.fileServerInternalPort,
      pushServerPort: config.pushServerPort,
      msgServerWsPorts: config.msgServerWsPorts,
      webOrigins: webOrigins(config),
      routeAdminPort: config.routeAdminPort,
      dbProxyAdminPort: config.dbProxyAdminPort,
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
      process.exit(err instanceof UsageError ? 2 : 1);
    },
  );
}
