/**
 * A whole cluster in the test process, over real loopback TCP: db-proxy on a
 * fresh database and Redis prefix, route server, login server, and N msg
 * servers, all on free ports. Services log nothing unless TT_TEST_LOG=debug.
 * With `webSocket`, every msg server also opens a WebSocket port that accepts
 * the login server's web chat origin.
 */
import type { Test } from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import { createLogger, type Logger } from '../../lib/log';
import { addDepartment, addUser } from '../../scripts/db/accounts';
import { freeLoopbackPort } from '../../scripts/infra/system';
import { dbProxyConfig } from '../../services/db-proxy/config';
import { startDbProxy, type RunningDbProxy } from '../../services/db-proxy/db-proxy';
import type { LoginServerConfig } from '../../services/login-server/config';
import { loginServerConfig } from '../../services/login-server/config';
import { startLoginServer, type RunningLoginServer } from '../../services/login-server/login-server';
import { msgServerConfig, type MsgServerConfig } from '../../services/msg-server/config';
import { startMsgServer, type RunningMsgServer } from '../../services/msg-server/msg-server';
import { fileServerConfig, type FileServerConfig } from '../../services/file-server/config';
import { startFileServer, type RunningFileServer } from '../../services/file-server/file-server';
import { msfsConfig, type MsfsConfig } from '../../services/msfs/config';
import { startMsfs, type RunningMsfs } from '../../services/msfs/msfs';
import { pushServerConfig, type PushServerConfig } from '../../services/push-server/config';
import { startPushServer, type RunningPushServer } from '../../services/push-server/push-server';
import { routeServerConfig } from '../../services/route-server/config';
import { startRouteServer, type RunningRouteServer } from '../../services/route-server/route-server';
import { ImClient, type LoginOptions } from '../../tools/client/im-client';
import { freshDatabase, freshRedis, type TestDatabase, type TestRedis } from './storage';
import { tlsSettings } from './tls';
import { waitFor } from './wait';

export const PASSWORD = 'secret-pass';

export interface ClusterOptions {
  msgServers?: number;
  /** Route servers (default 1); msg servers connect to all of them. */
  routeServers?: number;
  /** db-proxies on the same database (default 1); msg servers use all of them. */
  dbProxies?: number;
  msg?: Partial<MsgServerConfig>;
  login?: Partial<LoginServerConfig>;
  /** Every msg server gets a WebSocket port (unless its overrides set wsListenPort). */
  webSocket?: boolean;
  /** Fast heartbeats/timeouts so link failures are noticed quickly in tests. */
  linkTimeoutMs?: number;
  /** Keep every service's log lines (info and up) in TestCluster.logs. */
  captureLogs?: boolean;
  /** Run an msfs (the db-proxy stores voice messages there, the login server points clients at it). */
  msfs?: Partial<MsfsConfig> | true;
  /** Run a file server the msg servers link to. */
  fileServer?: Partial<FileServerConfig> | true;
  /** Run a push server the msg servers link to (give it a webhookUrl). */
  pushServer?: Partial<PushServerConfig> | true;
  /** db-proxy overrides (e.g. pushShieldHours). */
  dbProxy?: Partial<ReturnType<typeof dbProxyConfig.load>>;
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
  /** The first db-proxy and route server (see dbProxies / routes for all). */
  dbProxy!: RunningDbProxy;
  route!: RunningRouteServer;
  readonly dbProxies: RunningDbProxy[] = [];
  readonly routes: RunningRouteServer[] = [];
  login!: RunningLoginServer;
  msfs: RunningMsfs | null = null;
  fileServer: RunningFileServer | null = null;
  pushServer: RunningPushServer | null = null;
  /** Where this cluster's msfs, file server and push server keep files (removed at the end). */
  dataDir = '';
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

  /** The origin of the login server's pages (the web chat): what msg servers' WebSocket ports accept. */
  get webOrigin(): string {
    return `http://127.0.0.1:${this.login.httpPort}`;
  }

  get webChatUrl(): string {
    return `${this.webOrigin}/chat/`;
  }

  private get linkTiming() {
    const timeout = this.options.linkTimeoutMs ?? 3000;
    return { heartbeatIntervalMs: Math.max(50, Math.floor(timeout / 4)), linkTimeoutMs: timeout };
  }

  async start(): Promise<void> {
    this.db = await freshDatabase(this.t);
    this.redis = await freshRedis(this.t);
    this.dataDir = await mkdtemp(join(tmpdir(), 'tt-cluster-'));
    this.t.teardown(() => rm(this.dataDir, { recursive: true, force: true }));
    if (this.options.msfs) await this.startMsfs(this.options.msfs === true ? {} : this.options.msfs);
    for (let i = 0; i < (this.options.dbProxies ?? 1); i++) await this.startDbProxy(0, i);
    for (let i = 0; i < (this.options.routeServers ?? 1); i++) await this.startRoute(0, i);
    this.login = await startLoginServer(
      loginServerConfig.load({
        env: {},
        overrides: {
          httpPort: 0,
          msgServerPort: 0,
          adminPort: 0,
          ...this.linkTiming,
          ...tlsSettings('login-server'),
          ...(this.msfs ? { msfsUrl: `http://127.0.0.1:${this.msfs.port}/` } : {}),
          ...this.options.login,
        },
      }),
      this.logger('login-server'),
    );
    this.t.teardown(() => this.login.stop());
    if (this.options.fileServer) {
      const overrides = this.options.fileServer === true ? {} : this.options.fileServer;
      this.fileServer = await startFileServer(
        fileServerConfig.load({
          env: {},
          overrides: {
            clientListenPort: 0,
            internalListenPort: 0,
            offlineDir: join(this.dataDir, 'offline'),
            ...this.linkTiming,
            ...tlsSettings('file-server'),
            ...overrides,
          },
        }),
        this.logger('file-server'),
      );
    }
    if (this.options.pushServer) {
      const overrides = this.options.pushServer === true ? {} : this.options.pushServer;
      this.pushServer = await startPushServer(
        pushServerConfig.load({
          env: {},
          overrides: { listenPort: 0, deadLetterFile: join(this.dataDir, 'dead-letter.jsonl'), ...this.linkTiming, ...tlsSettings('push-server'), ...overrides },
        }),
        this.logger('push-server'),
      );
    }
    for (let i = 0; i < (this.options.msgServers ?? 2); i++) await this.addMsgServer();
    this.t.teardown(() => this.stopAll());
    this.departId = await addDepartment(this.db.pool, 'Test department');
  }

  async startMsfs(overrides: Partial<MsfsConfig>): Promise<void> {
    this.msfs = await startMsfs(
      msfsConfig.load({
        env: {},
        overrides: {
          listenPort: 0,
          internalPort: 0,
          baseDir: join(this.dataDir, 'msfs'),
          countFile: join(this.dataDir, 'msfs-count'),
          ...tlsSettings('msfs'),
          ...overrides,
        },
      }),
      this.logger('msfs'),
    );
  }

  /** Starts db-proxy number `index` (0 = the first) on `port`; replaces a stopped one of that index. */
  async startDbProxy(port: number, index = 0): Promise<void> {
    const proxy = await startDbProxy(
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
          ...(this.msfs ? { msfsUrl: `https://127.0.0.1:${this.msfs.internalPort}/` } : {}),
          ...this.options.dbProxy,
        },
      }),
      this.logger(index === 0 ? 'db-proxy' : `db-proxy-${index + 1}`),
    );
    this.dbProxies[index] = proxy;
    if (index === 0) this.dbProxy = proxy;
  }

  /** Starts route server number `index` (0 = the first) on `port`; replaces a stopped one of that index. */
  async startRoute(port: number, index = 0): Promise<void> {
    const route = await startRouteServer(
      routeServerConfig.load({ env: {}, overrides: { listenPort: port, adminPort: 0, ...this.linkTiming, ...tlsSettings('route-server') } }),
      this.logger(index === 0 ? 'route-server' : `route-server-${index + 1}`),
    );
    this.routes[index] = route;
    if (index === 0) this.route = route;
  }

  msgConfig(overrides: Partial<MsgServerConfig> = {}): MsgServerConfig {
    const timing = this.linkTiming;
    return msgServerConfig.load({
      env: {},
      overrides: {
        listenPort: 0,
        adminPort: 0,
        loginServers: [{ host: '127.0.0.1', port: this.login.msgServerPort }],
        routeServers: this.routes.map((r) => ({ host: '127.0.0.1', port: r.port })),
        dbProxies: this.dbProxies.map((d) => ({ host: '127.0.0.1', port: d.port })),
        wsAllowedOrigins: [this.webOrigin],
        linkHeartbeatIntervalMs: timing.heartbeatIntervalMs,
        linkTimeoutMs: timing.linkTimeoutMs,
        requestTimeoutMs: 5000,
        statsIntervalMs: 0,
        fileServers: this.fileServer ? [{ host: '127.0.0.1', port: this.fileServer.internalPort }] : [],
        pushServers: this.pushServer ? [{ host: '127.0.0.1', port: this.pushServer.port }] : [],
        ...tlsSettings('msg-server'),
        ...this.options.msg,
        ...overrides,
      },
    });
  }

  async addMsgServer(overrides: Partial<MsgServerConfig> = {}): Promise<RunningMsgServer> {
    const webSocket = this.options.webSocket && overrides.wsListenPort === undefined ? { wsListenPort: await freeLoopbackPort() } : {};
    const server = await startMsgServer(this.msgConfig({ ...webSocket, ...overrides }), this.logger(`msg-server-${this.msgServers.length + 1}`));
    this.msgServers.push(server);
    await this.waitUntilLinked(server);
    return server;
  }

  /** Until the msg server can log users in: db-proxy, route and login links up. */
  async waitUntilLinked(server: RunningMsgServer, timeoutMs = 10_000): Promise<void> {
    const c = server.context;
    await waitFor(
      () => c.db.available && c.routes.available && c.logins.available && (!this.fileServer || c.files.available) && (!this.pushServer || c.push.available),
      timeoutMs,
      'msg server links',
    );
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
  async connect(server = 0, options: { autoAck?: boolean; heartbeatIntervalMs?: number; requestTimeoutMs?: number } = {}): Promise<ImClient> {
    const client = await ImClient.connect({ host: '127.0.0.1', port: this.msgServers[server].port, ...options });
    this.clients.push(client);
    return client;
  }

  /** A client logged in as `name` on msg server `server`. */
  async loginAs(name: string, server = 0, options: LoginOptions & { autoAck?: boolean; requestTimeoutMs?: number } = {}): Promise<ImClient> {
    const client = await this.connect(server, { autoAck: options.autoAck, requestTimeoutMs: options.requestTimeoutMs });
    await client.login(name, PASSWORD, options);
    return client;
  }

  /** A connected, not yet logged-in client of msg server `server`'s WebSocket port. */
  async connectWebSocket(server = 0, options: { autoAck?: boolean; origin?: string } = {}): Promise<ImClient> {
    const url = this.msgServers[server].wsUrl;
    if (url === '') throw new Error(`msg server ${server} has no WebSocket port (start the cluster with webSocket: true)`);
    const client = await ImClient.connectWebSocket({ url, ...options });
    this.clients.push(client);
    return client;
  }

  /** A client logged in as `name` over msg server `server`'s WebSocket port. */
  async loginOverWebSocket(name: string, server = 0, options: LoginOptions & { autoAck?: boolean } = {}): Promise<ImClient> {
    const client = await this.connectWebSocket(server, { autoAck: options.autoAck });
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
    for (const route of this.routes) await route?.stop('test over');
    for (const proxy of this.dbProxies) await proxy?.stop('test over');
    await this.fileServer?.stop('test over');
    await this.pushServer?.stop('test over');
    await this.msfs?.stop('test over');
  }
}

export async function startCluster(t: Test, options: ClusterOptions = {}): Promise<TestCluster> {
  const cluster = new TestCluster(t, options);
  await cluster.start();
  return cluster;
}
