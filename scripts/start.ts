/**
 * `npm start`: the whole cluster on this machine. Brings up MariaDB and Redis
 * (local child processes under .run/, unless MYSQL_URL / REDIS_URL are set),
 * applies the schema, seeds demo users into an empty database, then runs
 * db-proxy, route server, login server and the msg servers under one supervisor.
 * Ctrl-C / SIGTERM stops everything it started.
 */
import { mkdirSync } from 'node:fs';
import mysql from 'mysql2/promise';
import { configFileFromArgs } from '../lib/config';
import { errorMessage } from '../lib/errors';
import { parseMysqlUrl, redactUrl } from '../lib/mysql-url';
import { runDir } from '../lib/paths';
import { clusterConfig, DEFAULT_CLUSTER_CONFIG_FILE, type ClusterConfig } from './cluster/config';
import { reachable, readRunningCluster, removeRunningCluster, writeRunningCluster } from './cluster/running';
import { Supervisor, type ChildSpec } from './cluster/supervisor';
import { checkWebSocketPorts, webBannerLines, webOrigins, webSocketEnv } from './cluster/web';
import { migrate } from './db/migrate';
import { DEMO_PASSWORD, DEMO_USERS, isEmpty, seedDemo } from './db/seed';
import { provisionStorage, type Storage } from './infra/provision';
import { portAcceptsConnections, sleep } from './infra/system';

const log = (line: string) => process.stderr.write(`[start] ${line}\n`);

function serviceSpecs(config: ClusterConfig, storage: Storage): ChildSpec[] {
  const local = reachable(config.host);
  const level = config.logLevel;
  const specs: ChildSpec[] = [
    {
      name: 'db-proxy',
      script: 'dist/services/db-proxy/main.js',
      env: {
        TT_DB_PROXY_LISTEN_HOST: config.host,
        TT_DB_PROXY_LISTEN_PORT: String(config.dbProxyPort),
        TT_DB_PROXY_MYSQL_URL: storage.mysqlUrl,
        TT_DB_PROXY_REDIS_URL: storage.redisUrl,
        TT_DB_PROXY_REDIS_KEY_PREFIX: config.redisKeyPrefix,
        TT_DB_PROXY_LOG_LEVEL: level,
      },
    },
    {
      name: 'route-server',
      script: 'dist/services/route-server/main.js',
      env: { TT_ROUTE_LISTEN_HOST: config.host, TT_ROUTE_LISTEN_PORT: String(config.routePort), TT_ROUTE_LOG_LEVEL: level },
    },
    {
      name: 'login-server',
      script: 'dist/services/login-server/main.js',
      env: {
        TT_LOGIN_HTTP_HOST: config.host,
        TT_LOGIN_HTTP_PORT: String(config.loginHttpPort),
        TT_LOGIN_MSG_SERVER_HOST: config.host,
        TT_LOGIN_MSG_SERVER_PORT: String(config.loginMsgServerPort),
        TT_LOGIN_ADMIN_PORT: String(config.loginAdminPort),
        TT_LOGIN_LOG_LEVEL: level,
      },
    },
  ];
  config.msgServerPorts.forEach((port, i) => {
    const env = {
      ...msgServerEnv(config.host, config.publicIp, port, i + 1, level, {
        login: `${local}:${config.loginMsgServerPort}`,
        route: `${local}:${config.routePort}`,
        db: `${local}:${config.dbProxyPort}`,
      }),
      ...webSocketEnv(config.host, config.msgServerWsPorts[i] ?? 0, webOrigins(config)),
    };
    specs.push({ name: `msg-server-${i + 1}`, script: 'dist/services/msg-server/main.js', env });
  });
  return specs;
}

export function msgServerEnv(
  host: string,
  publicIp: string,
  port: number,
  n: number,
  level: string,
  links: { login: string; route: string; db: string },
): Record<string, string> {
  return {
    TT_MSG_LISTEN_HOST: host,
    TT_MSG_LISTEN_PORT: String(port),
    TT_MSG_PUBLIC_IP1: publicIp,
    TT_MSG_HOST_NAME: `msg-server-${n}`,
    TT_MSG_LOGIN_SERVERS: links.login,
    TT_MSG_ROUTE_SERVERS: links.route,
    TT_MSG_DB_PROXIES: links.db,
    TT_MSG_LOG_LEVEL: level,
  };
}

async function checkPortsFree(config: ClusterConfig): Promise<void> {
  const host = reachable(config.host);
  const ports: Array<[string, number]> = [
    ['login HTTP', config.loginHttpPort],
    ['login (msg servers)', config.loginMsgServerPort],
    ['login admin', config.loginAdminPort],
    ['route server', config.routePort],
    ['db-proxy', config.dbProxyPort],
    ...config.msgServerPorts.map((p, i): [string, number] => [`msg server ${i + 1}`, p]),
    ...config.msgServerWsPorts.map((p, i): [string, number] => [`msg server ${i + 1} WebSocket`, p]),
  ];
  for (const [role, port] of ports) {
    if (await portAcceptsConnections(host, port)) {
      throw new Error(`port ${port} (${role}) is already in use by another program; pick other ports in config/cluster.json or with TT_CLUSTER_* variables`);
    }
  }
}

/** Until the login server lists every msg server (they register once their links are up). */
async function waitUntilReady(config: ClusterConfig, timeoutMs = 60_000): Promise<boolean> {
  const admin = `http://127.0.0.1:${config.loginAdminPort}/msg_servers`;
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    try {
      const body = (await (await fetch(admin)).json()) as unknown;
      const list = Array.isArray(body) ? body : ((body as { msgServers?: unknown[] }).msgServers ?? []);
      if (list.length >= config.msgServerPorts.length) return true;
    } catch {
      // not up yet
    }
    await sleep(250);
  }
  return false;
}

async function seed(config: ClusterConfig, storage: Storage): Promise<string[]> {
  const pool = mysql.createPool({ ...parseMysqlUrl(storage.mysqlUrl), connectionLimit: 2 });
  try {
    if (config.seedDemoUsers && (await isEmpty(pool))) {
      const result = await seedDemo(pool);
      log(`seeded demo users ${result.created.join(', ')}`);
    }
    const [rows] = await pool.query<mysql.RowDataPacket[]>('SELECT name FROM IMUser WHERE name IN (?) AND status = 0', [DEMO_USERS.map((u) => u.name)]);
    return rows.map((r) => String(r.name));
  } finally {
    await pool.end();
  }
}

function banner(config: ClusterConfig, demoUsers: string[], ready: boolean): string {
  const host = reachable(config.host);
  const web = webBannerLines(config);
  const lines = [
    '',
    ready ? 'TeamTalk cluster is up' : 'TeamTalk cluster started (some msg servers have not registered yet: see the log above)',
    `  login: http://${host}:${config.loginHttpPort}/msg_server`,
    web.chat,
    `  msg servers: ${config.msgServerPorts.map((p) => `${host}:${p}`).join(', ')}`,
    ...web.msgServers,
    `  route server: ${host}:${config.routePort}    db-proxy: ${host}:${config.dbProxyPort}`,
    `  operators: http://127.0.0.1:${config.loginAdminPort}/msg_servers    users: npm run users -- list`,
    demoUsers.length > 0
      ? `  demo logins: ${demoUsers.join(', ')} (password "${DEMO_PASSWORD}")`
      : '  no demo users (database was not empty); add accounts with: npm run users -- add NAME --password P',
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
  const supervisor = new Supervisor({ output: (line) => process.stdout.write(line + '\n'), note: log, color });
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping the cluster`);
    await supervisor.stopAll();
    await storage.stop();
    removeRunningCluster();
    log('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  try {
    const migration = await migrate(storage.mysqlUrl);
    log(`database ${redactUrl(storage.mysqlUrl)}: ${migration.applied.length > 0 ? `applied ${migration.applied.join(', ')}` : 'schema up to date'}`);
    const demoUsers = await seed(config, storage);
    writeRunningCluster({
      pid: process.pid,
      startedAt: new Date().toISOString(),
      host: config.host,
      publicIp: config.publicIp,
      loginUrl: `http://${reachable(config.host)}:${config.loginHttpPort}/msg_server`,
      loginMsgServerPort: config.loginMsgServerPort,
      loginAdminPort: config.loginAdminPort,
      routePort: config.routePort,
      dbProxyPort: config.dbProxyPort,
      msgServerPorts: config.msgServerPorts,
      msgServerWsPorts: config.msgServerWsPorts,
      webOrigins: webOrigins(config),
    });
    for (const spec of serviceSpecs(config, storage)) supervisor.start(spec);
    const ready = await waitUntilReady(config);
    process.stdout.write(banner(config, demoUsers, ready) + '\n');
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
