/**
 * `npm start`: the whole cluster on this machine. Brings up MariaDB and Redis
 * (local child processes under .run/, unless MYSQL_URL / REDIS_URL are set),
 * applies the schema, seeds demo users into an empty database, then runs
 * db-proxy, route server, login server, the msg servers and the web console
 * under one supervisor. Ctrl-C / SIGTERM stops everything it started; so does a
 * service that stops on a configuration error (exit code 2), whose error is
 * shown and is npm start's exit code.
 *
 *   npm start                               config/cluster.json (one of each, one MariaDB, one Redis)
 *   npm start -- --topology sharded         a topology file (config/topologies/NAME.json, or a path):
 *                                           its storage servers provisioned under .run/topologies/NAME/
 *   npm start -- --topology sharded --port-base 19700
 *                                           every port of the topology renumbered from 19700 up
 */
import { mkdirSync } from 'node:fs';
import { relative } from 'node:path';
import mysql from 'mysql2/promise';
import { UsageError, parseCommandLine, parseIntOption } from '../lib/cli';
import { errorMessage } from '../lib/errors';
import { parseMysqlUrl, redactUrl } from '../lib/mysql-url';
import { isLoopbackHost } from '../lib/host-port';
import { runDir } from '../lib/paths';
import type { Pki } from '../lib/pki';
import { issueSignInLink } from '../services/console/auth';
import { consoleConfig } from '../services/console/config';
import { MAIN_SERVER } from '../services/db-proxy/message-tables';
import { localAdminClient, loginAdmin, waitForMsgServers } from './cluster/admin';
import { checkClusterConfig, clusterConfig, DEFAULT_CLUSTER_CONFIG_FILE, type ClusterConfig } from './cluster/config';
import { LOCAL_PKI_DIR, localPki, tlsEnv } from './cluster/pki';
import { reachable, readRunningCluster, removeRunningCluster, writeRunningCluster } from './cluster/running';
import { CONFIG_ERROR_EXIT_CODE, Supervisor, type ChildSpec } from './cluster/supervisor';
import { checkWebSocketPorts, webOrigins } from './cluster/web';
import { migrateServers } from './db/migrate';
import { DEMO_PASSWORD, DEMO_USERS, isEmpty, seedDemo } from './db/seed';
import { consoleOperators, credentialsFile } from './infra/credentials';
import { provisionStorage, type Storage } from './infra/provision';
import { portAcceptsConnections } from './infra/system';
import { provisionTopologyStorage } from './topology/local-storage';
import { msgServerEnvironment, serviceInstances, type StorageAccess, type TlsEnv } from './topology/services';
import { loadTopology, renumberPorts, storageEndpoints, topologyOfCluster, SERVICE_NAMES, type Topology } from './topology/topology';

const log = (line: string) => process.stderr.write(`[start] ${line}\n`);

/** How long the banner's console sign-in link works. */
export const SIGN_IN_LINK_TTL_MS = 15 * 60_000;

/** The services of config/cluster.json with their environment (also the bench's cluster). */
export function serviceSpecs(config: ClusterConfig, storage: Storage, pki: Pki): ChildSpec[] {
  return topologySpecs(topologyOfCluster(config), storageAccessOf(storage, config.redisKeyPrefix), pki);
}

/** A topology's services with their environment and certificates from the local CA. */
export function topologySpecs(topology: Topology, access: StorageAccess, pki: Pki): ChildSpec[] {
  return serviceInstances(topology, access, localTls(pki)).map((i) => ({ name: i.name, script: i.script, env: i.env }));
}

/** Certificates from the local CA (.run/pki), issued on first use. */
export function localTls(pki: Pki): TlsEnv {
  return (envPrefix, role, name, hosts) => tlsEnv(pki, envPrefix, role, name, hosts);
}

/** One MariaDB and one Redis (MYSQL_URL / REDIS_URL, or the local ones) as the services see them. */
export function storageAccessOf(storage: Pick<Storage, 'mysqlUrl' | 'redisUrl'>, redisKeyPrefix: string): StorageAccess {
  return {
    mysqlUrl: storage.mysqlUrl,
    mysqlReplicaUrls: [],
    mysqlServers: {},
    messageTableCount: 8,
    shardMap: {},
    redisUrl: storage.redisUrl,
    redisClusterNodes: [],
    redisSentinels: [],
    redisSentinelName: 'mymaster',
    redisSentinelPassword: '',
    redisKeyPrefix,
  };
}

/**
 * The environment of msg server number `n` on client port `port`, with a
 * WebSocket port for browsers unless `wsPort` is 0 (`npm run msg-server`).
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
  const at = (ports: number[]) => ports.map((p) => `${internal}:${p}`);
  return {
    ...msgServerEnvironment({
      listenHost: cluster.clientHost,
      port,
      adminHost: cluster.internalHost,
      adminPort,
      publicIp: cluster.publicIp,
      hostName: `msg-server-${n}`,
      logLevel: cluster.logLevel,
      loginServers: at([cluster.loginMsgServerPort]),
      routeServers: at([cluster.routePort, ...cluster.standbyRoutePorts]),
      dbProxies: at([cluster.dbProxyPort, ...cluster.extraDbProxyPorts]),
      fileServers: at([cluster.fileServerInternalPort]),
      pushServers: at([cluster.pushServerPort]),
      wsPort,
      wsOrigins: webOrigins(cluster),
    }),
    ...tlsEnv(pki, 'TT_MSG', 'msg-server', `msg-server-${port}`, [internal, 'localhost']),
  };
}

/** Every service port of the topology, with what listens there. */
function servicePorts(t: Topology): Array<[string, string, number]> {
  const out: Array<[string, string, number]> = [];
  for (const service of SERVICE_NAMES) {
    t.services[service].forEach((e, i) => {
      const h = t.hosts[e.host];
      const name = `${service} ${i + 1}`;
      const extra = e as unknown as Record<string, number>;
      const clientFacing = service === 'msg-server' || service === 'msfs' || service === 'file-server';
      out.push([name, reachable(clientFacing ? h.clientBind : h.internalBind), e.port]);
      if (extra.httpPort) out.push([`${name} HTTP`, reachable(h.clientBind), extra.httpPort]);
      if (extra.adminPort) out.push([`${name} admin`, reachable(h.internalBind), extra.adminPort]);
      if (extra.wsPort) out.push([`${name} WebSocket`, reachable(h.clientBind), extra.wsPort]);
      if (extra.internalPort) out.push([`${name} internal`, reachable(h.internalBind), extra.internalPort]);
    });
  }
  return out;
}

export async function checkPortsFree(t: Topology): Promise<void> {
  for (const [role, host, port] of servicePorts(t)) {
    if (await portAcceptsConnections(host, port)) {
      const how = t.file === null ? 'config/cluster.json or TT_CLUSTER_* variables' : `${t.file}, or --port-base`;
      throw new Error(`port ${port} (${role}) is already in use by another program; pick other ports in ${how}`);
    }
  }
}

/** Until the login server lists every msg server (they register once their links are up). */
async function waitUntilReady(t: Topology): Promise<boolean> {
  const login = t.services['login-server'][0];
  const client = localAdminClient('npm-start');
  try {
    return await waitForMsgServers(client, loginAdmin(t.hosts[login.host].internal, login.adminPort), t.services['msg-server'].length);
  } finally {
    client.close();
  }
}

/** One admin endpoint URL per service, for the banner's metrics line. */
export function metricsUrls(t: Topology): string[] {
  const admin = (e: { host: string; adminPort: number }) => `https://${t.hosts[e.host].internal}:${e.adminPort}/metrics`;
  return [...t.services['login-server'], ...t.services['route-server'], ...t.services['db-proxy'], ...t.services['msg-server']].map(admin);
}

/** Whether no client port of the topology is reachable from another machine. */
function clientsLocalOnly(t: Topology): boolean {
  return Object.values(t.hosts).every((h) => isLoopbackHost(h.clientBind));
}

/**
 * Demo users have a published password: they are created only while no client
 * can reach the cluster from another machine. Returns the enabled demo users.
 */
async function seed(t: Topology, mysqlUrl: string): Promise<string[]> {
  const pool = mysql.createPool({ ...parseMysqlUrl(mysqlUrl), connectionLimit: 2 });
  try {
    if (t.seedDemoUsers && clientsLocalOnly(t) && (await isEmpty(pool))) {
      const result = await seedDemo(pool);
      log(`seeded demo users ${result.created.join(', ')}`);
    }
    const [rows] = await pool.query<mysql.RowDataPacket[]>('SELECT name FROM IMUser WHERE name IN (?) AND status = 0', [DEMO_USERS.map((u) => u.name)]);
    return rows.map((r) => String(r.name));
  } finally {
    await pool.end();
  }
}

function banner(t: Topology, storageLines: string[], demoUsers: string[], ready: boolean, signInToken: string | null): string {
  const login = t.services['login-server'][0];
  const loginHost = t.hosts[login.host];
  const client = reachable(loginHost.clientBind);
  const internalOf = (e: { host: string; port: number }) => `${t.hosts[e.host].internal}:${e.port}`;
  const exposed = !clientsLocalOnly(t);
  const msgServers = t.services['msg-server'];
  const ws = msgServers.filter((m) => m.wsPort > 0);
  const msfs = t.services.msfs[0];
  const file = t.services['file-server'][0];
  const push = t.services['push-server'][0];
  const consoleAt = t.services.console[0];
  const demo =
    demoUsers.length === 0
      ? exposed
        ? '  no demo users (clients can reach this cluster from other machines); add accounts with: npm run users -- add NAME --password P'
        : '  no demo users (database was not empty); add accounts with: npm run users -- add NAME --password P'
      : exposed
        ? `  WARNING: demo logins ${demoUsers.join(', ')} with the published password "${DEMO_PASSWORD}" are reachable from other machines; disable them: npm run users -- disable NAME`
        : `  demo logins: ${demoUsers.join(', ')} (password "${DEMO_PASSWORD}")`;
  const topologyFlag = t.file === null ? '' : ` --topology ${t.name}`;
  const list = (items: string[]) => items.join(', ');
  const lines = [
    '',
    ready ? `TeamTalk cluster is up${t.file === null ? '' : ` (topology ${t.name})`}` : 'TeamTalk cluster started (some msg servers have not registered yet: see the log above)',
    `  login: http://${client}:${login.httpPort}/msg_server`,
    ws.length > 0 ? `  web chat: http://${client}:${login.httpPort}/chat/    (open it in a browser)` : '  web chat: off (no WebSocket ports for the msg servers)',
    `  msg servers: ${list(msgServers.map((m) => `${reachable(t.hosts[m.host].clientBind)}:${m.port}`))}`,
    ...(ws.length > 0 ? [`  msg servers for browsers: ${list(ws.map((m) => `ws://${t.hosts[m.host].public}:${m.wsPort}/`))}`] : []),
    ...(msfs || file ? [`  pictures (msfs): ${msfs ? `http://${reachable(t.hosts[msfs.host].clientBind)}:${msfs.port}/` : 'none'}    file server: ${file ? `${reachable(t.hosts[file.host].clientBind)}:${file.port}` : 'none'}`] : []),
    `  internal (mutual TLS, certificates in ${LOCAL_PKI_DIR}): route server ${list(t.services['route-server'].map(internalOf))}    db-proxy ${list(t.services['db-proxy'].map(internalOf))}    login registration ${internalOf(login)}`,
    `    msfs voice ${msfs ? `${t.hosts[msfs.host].internal}:${msfs.internalPort}` : 'none'}    file server ${file ? `${t.hosts[file.host].internal}:${file.internalPort}` : 'none'}    push server ${push ? `${internalOf(push)} -> ${push.webhookUrl || 'no webhook (pushWebhookUrl): .run/push-server/dead-letter.jsonl'}` : 'none'}`,
    ...storageLines,
    ...(consoleAt && signInToken !== null
      ? [
          `  console: http://${t.hosts[consoleAt.host].internal}:${consoleAt.port}/signin/link?token=${signInToken}`,
          `           (one-time link, ${SIGN_IN_LINK_TTL_MS / 60_000} min; then operator "admin", password in ${relative(process.cwd(), credentialsFile(runDir)) || credentialsFile(runDir)})`,
        ]
      : []),
    `  metrics: ${metricsUrls(t).join(' ')}`,
    `           (mutual TLS with an admin certificate: npm run certs -- issue --role admin --name prometheus; deploy/prometheus.yml)`,
    `  users: npm run users --${topologyFlag} list    storage: npm run storage --${topologyFlag} status    drain a msg server: npm run msg-server -- drain ${msgServers[0].port}`,
    demo,
    `  chat: npm run client -- --user ${demoUsers[0] ?? 'NAME'}    (in another terminal; a second one with --user ${demoUsers[1] ?? 'NAME2'})`,
    ...(t.file === null
      ? [`  one more msg server: npm run msg-server -- --port ${Math.max(...msgServers.map((m) => m.port)) + 1}${ws.length > 0 ? ` --ws-port ${Math.max(...ws.map((m) => m.wsPort)) + 1}` : ''}`]
      : []),
    '  stop: Ctrl-C',
    '',
  ];
  return lines.join('\n');
}

interface StartedStorage {
  access: StorageAccess;
  adminUrls: Record<string, string>;
  lines: string[];
  stop(): Promise<void>;
}

/** The default's storage (MYSQL_URL / REDIS_URL or the local pair), or the topology's own servers. */
async function startStorage(t: Topology): Promise<StartedStorage> {
  if (t.file === null) {
    const storage = await provisionStorage({ database: t.storage.database, log });
    return {
      access: storageAccessOf(storage, t.storage.redisKeyPrefix),
      adminUrls: { [MAIN_SERVER]: storage.mysqlAdminUrl },
      lines: [`  storage: MariaDB ${redactUrl(storage.mysqlUrl)}    Redis ${redactUrl(storage.redisUrl)}`],
      stop: () => storage.stop(),
    };
  }
  const storage = await provisionTopologyStorage(t, { runDir, log });
  const endpoints = storageEndpoints(t);
  return {
    access: storage.access,
    adminUrls: storage.adminUrls,
    lines: [
      `  storage (${Object.keys(t.storage.mysql).length} MariaDB servers, ${t.storage.messageTableCount} message tables; shard map ${JSON.stringify(t.storage.shardMap)}):`,
      ...endpoints.map((e) => `    ${e.what.padEnd(28)} ${e.address}`),
    ],
    stop: () => storage.stop(),
  };
}

function startOptions(argv: string[]): { topology: string | null; portBase: number | null; config: string | null } {
  const { values } = parseCommandLine(argv, { topology: { type: 'string' }, 'port-base': { type: 'string' }, config: { type: 'string' } }, { positionals: false });
  const portBase = parseIntOption('port-base', values['port-base'], 1024, 65_000) ?? null;
  if (portBase !== null && values.topology === undefined) throw new UsageError('--port-base goes with --topology (the default cluster takes TT_CLUSTER_* ports)');
  return { topology: values.topology ?? null, portBase, config: values.config ?? null };
}

async function main(): Promise<number> {
  const args = startOptions(process.argv.slice(2));
  let topology: Topology;
  if (args.topology !== null) {
    topology = loadTopology(args.topology);
    if (args.portBase !== null) topology = renumberPorts(topology, args.portBase);
    const remote = Object.entries(topology.hosts).filter(([, h]) => !isLoopbackHost(h.internal));
    if (remote.length > 0) {
      throw new Error(
        `topology ${topology.name} has hosts on other machines (${remote.map(([n, h]) => `${n} ${h.internal}`).join(', ')}): npm start runs one machine; write each host's service files with: npm run topology -- env --topology ${args.topology} --host NAME`,
      );
    }
  } else {
    const file = args.config ?? process.env.TT_CLUSTER_CONFIG ?? DEFAULT_CLUSTER_CONFIG_FILE;
    const config = clusterConfig.load({ file });
    checkWebSocketPorts(config);
    checkClusterConfig(config);
    topology = topologyOfCluster(config);
  }
  const running = readRunningCluster();
  if (running !== null) {
    log(`a cluster started by "npm start" is already running (pid ${running.pid}, since ${running.startedAt}): ${running.loginUrl}`);
    log(`use it, or stop it first (Ctrl-C in its terminal, or: kill ${running.pid})`);
    return 1;
  }
  mkdirSync(runDir, { recursive: true, mode: 0o700 });
  await checkPortsFree(topology);

  const storage = await startStorage(topology);
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
    const migration = await migrateServers(storage.adminUrls, { messageTableCount: topology.storage.messageTableCount, shardMap: topology.storage.shardMap });
    for (const [server, result] of Object.entries(migration)) {
      const where = topology.file === null ? redactUrl(storage.access.mysqlUrl) : server;
      log(`database ${where}: ${result.applied.length > 0 ? `applied ${result.applied.join(', ')}` : 'schema up to date'}`);
    }
    const demoUsers = await seed(topology, storage.access.mysqlUrl);
    const pki = localPki();
    const login = topology.services['login-server'][0];
    const loginHost = topology.hosts[login.host];
    const first = <T extends { host: string; port: number }>(list: T[]): T | undefined => list[0];
    const routes = topology.services['route-server'];
    const dbProxies = topology.services['db-proxy'];
    const msgServers = topology.services['msg-server'];
    writeRunningCluster({
      pid: process.pid,
      startedAt: new Date().toISOString(),
      topology: topology.file,
      topologyPortBase: args.portBase,
      clientHost: loginHost.clientBind,
      internalHost: loginHost.internalBind,
      publicIp: loginHost.public,
      loginUrl: `http://${reachable(loginHost.clientBind)}:${login.httpPort}/msg_server`,
      loginHttpPort: login.httpPort,
      loginMsgServerPort: login.port,
      loginAdminPort: login.adminPort,
      routePort: routes[0].port,
      standbyRoutePorts: routes.slice(1).map((r) => r.port),
      dbProxyPort: dbProxies[0].port,
      extraDbProxyPorts: dbProxies.slice(1).map((d) => d.port),
      msgServerPorts: msgServers.map((m) => m.port),
      fileServerInternalPort: first(topology.services['file-server'])?.internalPort ?? 0,
      pushServerPort: first(topology.services['push-server'])?.port ?? 0,
      msgServerWsPorts: msgServers.map((m) => m.wsPort).filter((p) => p > 0),
      webOrigins: webOrigins({ clientHost: loginHost.clientBind, publicIp: loginHost.public, loginHttpPort: login.httpPort }),
      routeAdminPort: routes[0].adminPort,
      dbProxyAdminPort: dbProxies[0].adminPort,
      msgServerAdminPorts: msgServers.map((m) => m.adminPort),
      consolePort: first(topology.services.console)?.port ?? 0,
    });
    const signInToken = topology.services.console.length === 0 ? null : issueSignInLink(consoleConfig.load().signInLinkFile, consoleOperators(runDir)[0].name, SIGN_IN_LINK_TTL_MS);
    for (const spec of topologySpecs(topology, storage.access, pki)) supervisor.start(spec);
    const ready = await waitUntilReady(topology);
    if (stopping) return new Promise<number>(() => {});
    process.stdout.write(banner(topology, storage.lines, demoUsers, ready, signInToken) + '\n');
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
