/**
 * A whole cluster in the test process, over real loopback TCP: db-proxy on a
 * fresh database and Redis prefix, route server, login server, and N msg
 * servers, all on free ports. Services log nothing unless TT_TEST_LOG=debug.
 */
import type { Test } from 'tap';
import type { RowDataPacket } from 'mysql2/promise';
import { createLogger, type Logger } from '../../lib/log';
import { addDepartment, addUser } from '../../scripts/db/accounts';
import { dbProxyConfig } from '../../services/db-proxy/config';
import { startDbProxy, type RunningDbProxy } from '../../services/db-proxy/db-proxy';
import { loginServerConfig } from '../../services/login-server/config';
import { startLoginServer, type RunningLoginServer } from '../../services/login-server/login-server';
import { msgServerConfig, type MsgServerConfig } from '../../services/msg-server/config';
import { startMsgServer, type RunningMsgServer } from '../../services/msg-server/msg-server';
import { routeServerConfig } from '../../services/route-server/config';
import { startRouteServer, type RunningRouteServer } from '../../services/route-server/route-server';
import { ImClient, type LoginOptions } from '../../tools/client/im-client';
import { freshDatabase, freshRedis, type TestDatabase, type TestRedis } from './storage';
import { tlsSettings } from './tls';
import { waitFor } from './wait';

export const PASSWORD = 'secret-pass';

export interface ClusterOptions {
  msgServers?: number;
  msg?: Partial<MsgServerConfig>;
  /** Fast heartbeats/timeouts so link failures are noticed quickly in tests. */
  linkTimeoutMs?: number;
  /** Keep every service's log lines (info and up) in TestCluster.logs. */
  captureLogs?: boolean;
}

export interface LogLine {
  service: string;
  level: string;
  msg: string;
  [field: string]: unknown;
}


export class TestCluster {
  db!: TestDatabase;
  redis!: TestRedis;
  dbProxy!: RunningDbProxy;
  route!: RunningRouteServer;
  login!: RunningLoginServer;
  readonly msgServers: RunningMsgServer[] = [];
  readonly userIds = new Map<string, number>();
  readonly logs: LogLine[] = [];
  private readonly clients: ImClient[] = [];
  private departId = 0;

  constructor(
    private readonly t: Test,
    private readonly options: ClusterOptions,
  ) {}

  logger(service: string): Logger {
    if (!this.options.captureLogs) return createLogger(service, process.env.TT_TEST_LOG ?? 'silent');
    return createLogger(service, 'info', {}, { write: (line: string) => void this.logs.push(JSON.parse(line) as LogLine) });
  }

  /** Resolves with the first captured log line matching `match` (captureLogs must be on). */
  async logLine(match: (line: LogLine) => boolean, what: string, timeoutMs = 5000): Promise<LogLine> {
    let found: LogLine | undefined;
    await waitFor(() => (found = this.logs.find(match)) !== undefined, timeoutMs, what);
    return found as LogLine;
  }

  get loginUrl(): string {
    return `http://127.0.0.1:${this.login.httpPort}/msg_server`;
  }

  private get linkTiming() {
    const timeout = this.options.linkTimeoutMs ?? 3000;
    return { heartbeatIntervalMs: Math.max(50, Math.floor(timeout / 4)), linkTimeoutMs: timeout };
  }

  async start(): Promise<void> {
    this.db = await freshDatabase(this.t);
    this.redis = await freshRedis(this.t);
    await this.startDbProxy(0);
    await this.startRoute(0);
    this.login = await startLoginServer(
      loginServerConfig.load({
        env: {},
        overrides: { httpPort: 0, msgServerPort: 0, adminPort: 0, ...this.linkTiming, ...tlsSettings('login-server') },
      }),
      this.logger('login-server'),
    );
    this.t.teardown(() => this.login.stop());
    for (let i = 0; i < (this.options.msgServers ?? 2); i++) await this.addMsgServer();
    this.t.teardown(() => this.stopAll());
    this.departId = await addDepartment(this.db.pool, 'Test department');
  }

  async startDbProxy(port: number): Promise<void> {
    this.dbProxy = await startDbProxy(
      dbProxyConfig.load({
        env: {},
        overrides: {
          listenPort: port,
          adminPort: 0,
          mysqlUrl: this.db.url,
          redisUrl: this.redis.url,
          redisKeyPrefix: this.redis.prefix,
          ...this.linkTiming,
          ...tlsSettings('db-proxy'),
        },
      }),
      this.logger('db-proxy'),
    );
  }

  async startRoute(port: number): Promise<void> {
    this.route = await startRouteServer(
      routeServerConfig.load({ env: {}, overrides: { listenPort: port, adminPort: 0, ...this.linkTiming, ...tlsSettings('route-server') } }),
      this.logger('route-server'),
    );
  }

  msgConfig(overrides: Partial<MsgServerConfig> = {}): MsgServerConfig {
    const timing = this.linkTiming;
    return msgServerConfig.load({
      env: {},
      overrides: {
        listenPort: 0,
        adminPort: 0,
        loginServers: [{ host: '127.0.0.1', port: this.login.msgServerPort }],
        routeServers: [{ host: '127.0.0.1', port: this.route.port }],
        dbProxies: [{ host: '127.0.0.1', port: this.dbProxy.port }],
        linkHeartbeatIntervalMs: timing.heartbeatIntervalMs,
        linkTimeoutMs: timing.linkTimeoutMs,
        requestTimeoutMs: 5000,
        statsIntervalMs: 0,
        ...tlsSettings('msg-server'),
        ...this.options.msg,
        ...overrides,
      },
    });
  }

  async addMsgServer(overrides: Partial<MsgServerConfig> = {}): Promise<RunningMsgServer> {
    const server = await startMsgServer(this.msgConfig(overrides), this.logger(`msg-server-${this.msgServers.length + 1}`));
    this.msgServers.push(server);
    await this.waitUntilLinked(server);
    return server;
  }

  /** Until the msg server can log users in: db-proxy, route and login links up. */
  async waitUntilLinked(server: RunningMsgServer, timeoutMs = 10_000): Promise<void> {
    const c = server.context;
    await waitFor(() => c.db.available && c.routes.available && c.logins.available, timeoutMs, 'msg server links');
  }

  async addUsers(names: string[]): Promise<number[]> {
    const ids: number[] = [];
    for (const name of names) {
      const id = await addUser(this.db.pool, { name, password: PASSWORD, departId: this.departId, nick: name.toUpperCase() });
      this.userIds.set(name, id);
      ids.push(id);
    }
    return ids;
  }

  id(name: string): number {
    const id = this.userIds.get(name);
    if (id === undefined) throw new Error(`no test user ${name}`);
    return id;
  }

  /** A connected, not yet logged-in client of msg server `server` (index). */
  async connect(server = 0, options: { autoAck?: boolean; heartbeatIntervalMs?: number } = {}): Promise<ImClient> {
    const client = await ImClient.connect({ host: '127.0.0.1', port: this.msgServers[server].port, ...options });
    this.clients.push(client);
    return client;
  }

  /** A client logged in as `name` on msg server `server`. */
  async loginAs(name: string, server = 0, options: LoginOptions & { autoAck?: boolean } = {}): Promise<ImClient> {
    const client = await this.connect(server, { autoAck: options.autoAck });
    await client.login(name, PASSWORD, options);
    return client;
  }

  async query<T = RowDataPacket>(sql: string, params: unknown[] = []): Promise<T[]> {
    const [rows] = await this.db.pool.query<RowDataPacket[]>(sql, params);
    return rows as unknown as T[];
  }

  private async stopAll(): Promise<void> {
    for (const client of this.clients) client.close();
    for (const server of this.msgServers) await server.stop('test over');
    await this.route?.stop('test over');
    await this.dbProxy?.stop('test over');
  }
}

export async function startCluster(t: Test, options: ClusterOptions = {}): Promise<TestCluster> {
  const cluster = new TestCluster(t, options);
  await cluster.start();
  return cluster;
}
