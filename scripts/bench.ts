/**
 * `npm run bench`: the whole system under load, through the real protocol.
 *
 * By default it starts its own cluster (db-proxy, route, login and N msg servers
 * as separate processes, on free loopback ports, database tt_bench emptied first
 * unless --keep-data), then:
 *   login   N users log in through the login server's /msg_server address
 *   chat    every user sends 1:1 messages to random peers among its --contacts
 *           (people chat with the same few people; a fixed seed keeps the pairs
 *           the same from run to run) at --rate msgs/s in total (open loop, each
 *           user under the 20/s flood cap), after a short unmeasured warm-up;
 *           --pairs cross keeps every conversation between two msg servers;
 *           measures sender-ack and receiver-delivery latency, same- and cross-server
 *   group   group messages fanned out to --group-size members
 *   memory  RSS per idle logged-in connection on one msg server
 * and prints one JSON object (and a short table on stderr).
 *
 * --transport ws does all of it over the msg servers' WebSocket ports (one
 * binary message per PDU, as the web chat connects) instead of TCP.
 * --flooders N adds N hostile clients that flood IMAllUserReq during the
 * measured chat phase (logging in again whenever they are cut off): compare the
 * ack latency with and without them. --plaintext runs the internal links
 * without TLS (what TLS costs). --route-servers N / --db-proxies N: topology.
 * --topology NAME [--port-base N] runs a topology file's cluster instead (e.g.
 * sharded: two MariaDB servers with a replica, a Redis Cluster, two db-proxies),
 * its storage self-provisioned under .run/topologies/NAME/ as `npm start --
 * --topology` does, in database tt_bench (emptied first unless --keep-data).
 *
 * --per-user N makes the chat phase closed-loop (bench/burst.ts: N messages per
 * user, --user-rate and --in-flight caps), --peers random sends to any online
 * user instead of fixed contacts, `reads` measures history, unread and recent
 * session latency (bench/reads.ts). --prefill N runs the phases twice: on an
 * empty database, then on one holding a history of N messages
 * (scripts/db/prefill.ts; kept as tt_bench_prefill_N and reused by later runs,
 * which then also see the messages and unread counts earlier runs added;
 * --fresh-prefill makes it anew), plus the chat load at half the empty
 * database's rate, and reports the ratio.
 *
 * With --login-url it targets a running TeamTalk-compatible cluster instead
 * (users --user-prefix0..N-1 with --password must exist there: see `npm run users -- bulk`).
 * Only loopback targets are accepted unless --allow-remote is given. Stops by itself.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import mysql from 'mysql2/promise';
import Redis from 'ioredis';
import { CID, IM, commandOf } from '../pdu/commands';
import { encodeBody } from '../pdu/encode';
import { encodeFrame } from '../pdu/frame';
import { UsageError, parseChoiceOption, parseCommandLine, parseIntOption, parseNumberOption } from '../lib/cli';
import { errorMessage } from '../lib/errors';
import { isLoopbackHost } from '../lib/host-port';
import { parseMysqlUrl } from '../lib/mysql-url';
import { runDir } from '../lib/paths';
import { MAIN_SERVER } from '../services/db-proxy/message-tables';
import { seededRandom } from '../lib/random';
import { ImClient, fetchMsgServer } from '../tools/client/im-client';
import { localAdminClient, loginAdmin, waitForMsgServers } from './cluster/admin';
import { clusterConfig } from './cluster/config';
import { localPki } from './cluster/pki';
import { Supervisor } from './cluster/supervisor';
import { bulkAddUsers } from './db/accounts';
import { migrate, migrateServers } from './db/migrate';
import { dropDatabase, dropRunData, provisionStorage, type Storage } from './infra/provision';
import { deleteKeysEverywhere } from './infra/redis';
import { freeLoopbackPort, sleep } from './infra/system';
import { provisionTopologyStorage } from './topology/local-storage';
import { loadTopology, renumberPorts } from './topology/topology';
import { checkPortsFree, serviceSpecs, topologySpecs } from './start';
import { burstPhase, type BurstResult } from './bench/burst';
import { Latencies, nowMs, watchDeliveries, type BenchUser } from './bench/load-stats';
import { readsPhase } from './bench/reads';
import { StoreStepsMeter, type StoreSteps } from './bench/store-steps';
import type { AdminTarget } from '../lib/admin-client';
import { StorageMeter, type StorageCost } from './bench/storage-meter';
import { PREFILL_DEFAULTS, defaultUserCount, finishedPrefill, prefillHistory } from './db/prefill';

const { MsgType, ClientType, GroupType } = IM.BaseDefine;

interface Options {
  users: number;
  msgServers: number;
  /** Hostile clients flooding IMAllUserReq during the measured chat phase (they reconnect when cut off). */
  flooders: number;
  /** Route servers (1 + standbys) and db-proxies. */
  routeServers: number;
  dbProxies: number;
  seconds: number;
  rate: number;
  contacts: number;
  pairs: PairMode;
  groupSize: number;
  groupRate: number;
  memoryConnections: number;
  only: Set<string>;
  loginUrl: string | null;
  password: string;
  userPrefix: string;
  msgServerPid: number | null;
  allowRemote: boolean;
  keepData: boolean;
  /** Make the --prefill history anew even when a finished one is kept. */
  freshPrefill: boolean;
  /** A topology file's cluster instead of the default one (its msg servers, db-proxies, storage). */
  topology: string | null;
  portBase: number | null;
  verbose: boolean;
  /** Plain TCP between the services instead of mutual TLS (to measure what TLS costs). */
  plaintext: boolean;
  transport: Transport;
  /** Fixed contacts per user, or any online user. */
  peers: 'fixed' | 'random';
  /** Closed-loop chat: messages per user (0: open loop at --rate for --seconds). */
  perUser: number;
  userRate: number;
  inFlight: number;
  /** History size of the second run (0: one run on an empty database). */
  prefill: number;
  prefillUsers: number;
  readSamples: number;
}

type Transport = 'tcp' | 'ws';

const PHASES = ['login', 'reads', 'chat', 'group', 'memory'] as const;
/** Phases run unless --only says otherwise (reads is asked for). */
const DEFAULT_PHASES = 'login,chat,group,memory';

function parseOptions(argv: string[]): Options {
  const text = { type: 'string' } as const;
  const flag = { type: 'boolean' } as const;
  const { values } = parseCommandLine(
    argv,
    {
      users: text, 'msg-servers': text, 'route-servers': text, flooders: text, 'db-proxies': text,
      seconds: text, rate: text, contacts: text, pairs: text, 'group-size': text, 'group-rate': text,
      'memory-connections': text, only: text, 'login-url': text, password: text, 'user-prefix': text,
      'msg-server-pid': text, transport: text, topology: text, 'port-base': text, peers: text,
      'per-user': text, 'user-rate': text, 'in-flight': text, prefill: text, 'prefill-users': text, 'read-samples': text,
      'allow-remote': flag, 'keep-data': flag, 'fresh-prefill': flag, verbose: flag, plaintext: flag,
    },
    { positionals: false },
  );
  const int = (name: keyof typeof values, def: number, min: number, max: number) => parseIntOption(name, values[name] as string | undefined, min, max) ?? def;
  const only = (values.only ?? DEFAULT_PHASES).split(',').map((p) => parseChoiceOption('only', p.trim(), PHASES) as string);
  return {
    users: int('users', 1000, 1, 1_000_000),
    msgServers: int('msg-servers', 2, 1, 64),
    routeServers: int('route-servers', 1, 1, 8),
    flooders: int('flooders', 0, 0, 10_000),
    dbProxies: int('db-proxies', 1, 1, 16),
    seconds: parseNumberOption('seconds', values.seconds, 0.1, 3600) ?? 10,
    rate: parseNumberOption('rate', values.rate, 0, 1_000_000) ?? 10_000,
    contacts: int('contacts', 20, 1, 1_000_000),
    pairs: parseChoiceOption('pairs', values.pairs, ['any', 'cross', 'same']) ?? 'any',
    groupSize: int('group-size', 20, 1, 10_000),
    groupRate: parseNumberOption('group-rate', values['group-rate'], 0, 1_000_000) ?? 200,
    memoryConnections: int('memory-connections', 10_000, 1, 1_000_000),
    only: new Set(only),
    loginUrl: values['login-url'] ?? null,
    password: values.password ?? 'bench-password',
    userPrefix: values['user-prefix'] ?? 'bench_',
    msgServerPid: parseIntOption('msg-server-pid', values['msg-server-pid'], 1, 2 ** 31) ?? null,
    allowRemote: values['allow-remote'] === true,
    keepData: values['keep-data'] === true,
    freshPrefill: values['fresh-prefill'] === true,
    verbose: values.verbose === true,
    plaintext: values.plaintext === true,
    transport: parseChoiceOption('transport', values.transport, ['tcp', 'ws']) ?? 'tcp',
    topology: values.topology ?? null,
    portBase: parseIntOption('port-base', values['port-base'], 1024, 65_000) ?? null,
    peers: parseChoiceOption('peers', values.peers, ['fixed', 'random']) ?? 'fixed',
    perUser: int('per-user', 0, 0, 10_000_000),
    userRate: parseNumberOption('user-rate', values['user-rate'], 0.01, 100_000) ?? 15,
    inFlight: int('in-flight', 4, 1, 10_000),
    prefill: int('prefill', 0, 0, 2_000_000_000),
    prefillUsers: int('prefill-users', 0, 0, 100_000_000),
    readSamples: int('read-samples', 1000, 0, 10_000_000),
  };
}

const note = (line: string) => process.stderr.write(`[bench] ${line}\n`);

// ---------------------------------------------------------------- own cluster


interface OwnCluster {
  loginUrl: string;
  adminPort: number;
  msgServerPorts: number[];
  /** ws:// URLs of the msg servers (empty with --transport tcp). */
  msgServerWsUrls: string[];
  pids(): Record<string, number | undefined>;
  /** The db-proxies' admin endpoints (store-step metrics); empty where the bench does not know them. */
  dbProxyAdmins: AdminTarget[];
  storage: Storage;
  stop(): Promise<void>;
}

/** The database and Redis prefix one run uses, and what it holds at the start. */
interface BenchTarget {
  database: string;
  redisPrefix: string;
  /** Emptied before the run (unless --keep-data), or prefilled with a history of this many messages. */
  history: 'empty' | number;
}

const EMPTY_TARGET: BenchTarget = { database: 'tt_bench', redisPrefix: 'bench:', history: 'empty' };

function prefilledTarget(messages: number): BenchTarget {
  return { database: `tt_bench_prefill_${messages}`, redisPrefix: `bench_prefill_${messages}:`, history: messages };
}

async function startOwnCluster(opts: Options, target: BenchTarget = EMPTY_TARGET): Promise<OwnCluster> {
  const storage = await provisionStorage({ database: target.database, log: note });
  if (target.history === 'empty' && !opts.keepData) {
    // Every run starts from an empty database and Redis prefix, so runs compare
    // (runs on a history use --prefill, whose database is kept).
    await dropRunData(storage, target.redisPrefix);
  }
  await migrate(storage.mysqlAdminUrl);
  if (target.history !== 'empty') await ensurePrefilled(opts, storage, target, target.history);
  const [loginHttp, loginMsg, loginAdminPort, route, routeAdmin, db, dbAdmin, consolePort, msfs, msfsInternal, file, fileInternal, push] = await Promise.all(
    Array.from({ length: 13 }, freeLoopbackPort),
  );
  const msgPorts: number[] = [];
  const msgAdminPorts: number[] = [];
  const wsPorts: number[] = [];
  const standbyRoutes: number[] = [];
  for (let i = 1; i < opts.routeServers; i++) standbyRoutes.push(await freeLoopbackPort());
  const extraDbProxies: number[] = [];
  for (let i = 1; i < opts.dbProxies; i++) extraDbProxies.push(await freeLoopbackPort());
  for (let i = 0; i < opts.msgServers; i++) {
    msgPorts.push(await freeLoopbackPort());
    msgAdminPorts.push(await freeLoopbackPort());
    wsPorts.push(opts.transport === 'ws' ? await freeLoopbackPort() : 0);
  }
  const supervisor = new Supervisor({
    output: (line) => {
      if (opts.verbose || /\b(WARN|ERROR|FATAL)\b/.test(line)) process.stderr.write(line + '\n');
    },
    note,
    color: false,
  });
  const cluster = clusterConfig.load({
    env: {},
    overrides: {
      logLevel: opts.verbose ? 'info' : 'warn',
      loginHttpPort: loginHttp,
      loginMsgServerPort: loginMsg,
      loginAdminPort,
      routePort: route,
      standbyRoutePorts: standbyRoutes,
      dbProxyPort: db,
      extraDbProxyPorts: extraDbProxies,
      msgServerPorts: msgPorts,
      msgServerWsPorts: opts.transport === 'ws' ? wsPorts : [],
      msfsPort: msfs,
      msfsInternalPort: msfsInternal,
      fileServerPort: file,
      fileServerInternalPort: fileInternal,
      pushServerPort: push,
      routeAdminPort: routeAdmin,
      dbProxyAdminPort: dbAdmin,
      msgServerAdminPorts: msgAdminPorts,
      consolePort,
      redisKeyPrefix: target.redisPrefix,
    },
  });
  // The same services, environment and certificates as `npm start`.
  const plaintext: Record<string, string> = opts.plaintext
    ? { TT_MSG_PLAINTEXT_PEERS: '127.0.0.1', TT_ROUTE_PLAINTEXT_PEERS: '127.0.0.1', TT_DB_PROXY_PLAINTEXT_PEERS: '127.0.0.1', TT_LOGIN_PLAINTEXT_PEERS: '127.0.0.1', TT_FILE_PLAINTEXT_PEERS: '127.0.0.1', TT_PUSH_PLAINTEXT_PEERS: '127.0.0.1' }
    : {};
  const quiet: Record<string, string> = { TT_MSG_STATS_INTERVAL_MS: '0' };
  // The console is not part of what is measured.
  const specs = serviceSpecs(cluster, storage, localPki())
    .filter((spec) => spec.name !== 'console')
    .map((spec) => ({
      ...spec,
      env: { ...spec.env, ...plaintext, ...(spec.name.startsWith('msg-server') ? quiet : {}) },
    }));
  for (const spec of specs) supervisor.start(spec);
  const admin = localAdminClient('bench');
  try {
    if (!(await waitForMsgServers(admin, loginAdmin('127.0.0.1', loginAdminPort), msgPorts.length))) {
      throw new Error('the bench cluster did not come up within 60 s (run with --verbose to see its logs)');
    }
  } finally {
    admin.close();
  }
  return {
    loginUrl: `http://127.0.0.1:${loginHttp}/msg_server`,
    adminPort: loginAdminPort,
    msgServerPorts: msgPorts,
    msgServerWsUrls: wsPorts.filter((p) => p > 0).map((p) => `ws://127.0.0.1:${p}/`),
    pids: () => supervisor.pids(),
    dbProxyAdmins: [{ url: `https://127.0.0.1:${dbAdmin}`, role: 'db-proxy' }],
    storage,
    stop: async () => {
      await supervisor.stopAll();
      await storage.stop();
    },
  };
}

/** A topology's cluster (npm start -- --topology NAME), in the bench's own database and Redis prefix. */
async function startTopologyCluster(opts: Options, name: string, target: BenchTarget): Promise<OwnCluster> {
  if (target.history !== 'empty') throw new Error('--prefill runs on the default cluster only (not with --topology)');
  let topology = loadTopology(name);
  if (opts.portBase !== null) topology = renumberPorts(topology, opts.portBase);
  topology = { ...topology, logLevel: opts.verbose ? 'info' : 'warn', storage: { ...topology.storage, database: target.database, redisKeyPrefix: target.redisPrefix } };
  const remote = Object.entries(topology.hosts).filter(([, h]) => !isLoopbackHost(h.internal));
  if (remote.length > 0) throw new Error(`topology ${topology.name} has hosts on other machines (${remote.map(([n]) => n).join(', ')}): run the cluster there and bench it with --login-url`);
  await checkPortsFree(topology);
  const storage = await provisionTopologyStorage(topology, { runDir, log: note });
  const main = storage.adminUrls[MAIN_SERVER];
  try {
    if (!opts.keepData) {
      for (const url of Object.values(storage.adminUrls)) await dropDatabase(url);
      const access = storage.access;
      const password = decodeURIComponent(new URL(access.redisUrl).password) || undefined;
      const redis = access.redisClusterNodes.length > 0 ? new Redis.Cluster(access.redisClusterNodes, { redisOptions: { password } }) : new Redis(access.redisUrl);
      await deleteKeysEverywhere(redis, target.redisPrefix);
      redis.disconnect();
    }
    await migrateServers(storage.adminUrls, { messageTableCount: topology.storage.messageTableCount, shardMap: topology.storage.shardMap });
  } catch (err) {
    await storage.stop();
    throw err;
  }
  const supervisor = new Supervisor({
    output: (line) => {
      if (opts.verbose || /\b(WARN|ERROR|FATAL)\b/.test(line)) process.stderr.write(line + '\n');
    },
    note,
    color: false,
  });
  const specs = topologySpecs(topology, storage.access, localPki())
    .filter((spec) => spec.name !== 'console')
    .map((spec) => ({ ...spec, env: { ...spec.env, ...(spec.name.startsWith('msg-server') ? { TT_MSG_STATS_INTERVAL_MS: '0' } : {}) } }));
  for (const spec of specs) supervisor.start(spec);
  const login = topology.services['login-server'][0];
  const loginHost = topology.hosts[login.host];
  const msgServers = topology.services['msg-server'];
  const admin = localAdminClient('bench');
  try {
    if (!(await waitForMsgServers(admin, loginAdmin(loginHost.internal, login.adminPort), msgServers.length))) {
      throw new Error('the bench cluster did not come up within 60 s (run with --verbose to see its logs)');
    }
  } catch (err) {
    await supervisor.stopAll();
    await storage.stop();
    throw err;
  } finally {
    admin.close();
  }
  note(`topology ${topology.name}: ${Object.keys(topology.storage.mysql).length} MariaDB servers, ${topology.storage.messageTableCount} message tables, Redis ${topology.storage.redis.kind}, ${topology.services['db-proxy'].length} db-proxies`);
  return {
    loginUrl: `http://${loginHost.internal}:${login.httpPort}/msg_server`,
    adminPort: login.adminPort,
    msgServerPorts: msgServers.map((m) => m.port),
    msgServerWsUrls: opts.transport === 'ws' ? msgServers.filter((m) => m.wsPort > 0).map((m) => `ws://${topology.hosts[m.host].public}:${m.wsPort}/`) : [],
    pids: () => supervisor.pids(),
    dbProxyAdmins: [],
    storage: { mysqlUrl: storage.access.mysqlUrl, mysqlAdminUrl: main, redisUrl: storage.access.redisUrl, started: { mysql: true, redis: true }, stop: () => storage.stop() },
    stop: async () => {
      await supervisor.stopAll();
      await storage.stop();
    },
  };
}

/** The target's database holds a finished prefill of `messages` for the bench's users, made now if not. */
async function ensurePrefilled(opts: Options, storage: Storage, target: BenchTarget, messages: number): Promise<void> {
  const users = opts.prefillUsers > 0 ? opts.prefillUsers : Math.max(opts.users, defaultUserCount(messages));
  const done = await finishedPrefill(storage.mysqlAdminUrl);
  if (!opts.freshPrefill && done !== null && done.messages === messages && done.users === users && done.userPrefix === opts.userPrefix && done.seed === PREFILL_DEFAULTS.seed) {
    note(`reusing the prefilled history in ${target.database} (${messages} messages, ${users} users)`);
    return;
  }
  note(`prefilling ${target.database} with ${messages} messages of ${users} users (kept for later runs)`);
  await dropRunData(storage, target.redisPrefix);
  await migrate(storage.mysqlAdminUrl);
  const summary = await prefillHistory({
    mysqlUrl: storage.mysqlAdminUrl,
    redisUrl: storage.redisUrl,
    redisKeyPrefix: target.redisPrefix,
    messages,
    users,
    userPrefix: opts.userPrefix,
    password: opts.password,
    days: PREFILL_DEFAULTS.days,
    groupShare: PREFILL_DEFAULTS.groupShare,
    seed: PREFILL_DEFAULTS.seed,
    tableCount: PREFILL_DEFAULTS.tableCount,
    log: (line) => note(`prefill: ${line}`),
  });
  note(`prefilled in ${summary.seconds} s: ${summary.relations} relations, ${summary.sessions} sessions`);
}

/** Rows in the message tables and relations (ids are dense: MAX(id) is the count, without a scan). */
/**
 * Seconds until MariaDB's buffer pool load (innodb_buffer_pool_load_at_startup)
 * is over; at most BUFFER_POOL_LOAD_WAIT_S, then the run goes on (noted).
 */
async function waitForBufferPoolLoad(adminUrl: string): Promise<number> {
  const conn = await mysql.createConnection(parseMysqlUrl(adminUrl));
  const started = nowMs();
  try {
    let noted = false;
    for (;;) {
      const [rows] = await conn.query<mysql.RowDataPacket[]>("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_load_status'");
      const status = String(rows[0]?.Value ?? '');
      const seconds = Math.round((nowMs() - started) / 100) / 10;
      // "Loaded 1234/5678 pages" while it runs; "... load completed at ...", "... aborted ..." or nothing after.
      if (!/^Load(ed|ing)\b/.test(status)) return seconds;
      if (seconds > BUFFER_POOL_LOAD_WAIT_S) {
        note(`MariaDB's buffer pool load still runs after ${BUFFER_POOL_LOAD_WAIT_S} s (${status}); measuring anyway`);
        return seconds;
      }
      if (!noted) note(`waiting for MariaDB to load its saved buffer pool (${status})`);
      noted = true;
      await sleep(1000);
    }
  } finally {
    await conn.end();
  }
}

const BUFFER_POOL_LOAD_WAIT_S = 600;

async function storedCounts(storage: Storage): Promise<{ messages: number; relations: number }> {
  const conn = await mysql.createConnection(parseMysqlUrl(storage.mysqlAdminUrl));
  try {
    let messages = 0;
    for (let i = 0; i < PREFILL_DEFAULTS.tableCount; i++) {
      for (const table of [`IMMessage_${i}`, `IMGroupMessage_${i}`]) {
        const [rows] = await conn.query<mysql.RowDataPacket[]>(`SELECT COALESCE(MAX(id), 0) AS n FROM ${table}`);
        messages += Number(rows[0].n);
      }
    }
    const [rel] = await conn.query<mysql.RowDataPacket[]>('SELECT COALESCE(MAX(id), 0) AS n FROM IMRelationShip');
    return { messages, relations: Number(rel[0].n) };
  } finally {
    await conn.end();
  }
}

// ---------------------------------------------------------------- phases

/** A connected client of the msg server the login server names, over the chosen transport. */
async function connectThroughLoginServer(opts: Options, loginUrl: string): Promise<{ client: ImClient; server: string }> {
  const timing = { keepInbox: false, heartbeatIntervalMs: 30_000, requestTimeoutMs: 30_000 };
  if (opts.transport === 'ws') {
    const target = await fetchMsgServer(loginUrl, { transport: 'ws' });
    return { client: await ImClient.connectWebSocket({ url: target.wsUrl, ...timing }), server: target.wsUrl };
  }
  const target = await fetchMsgServer(loginUrl);
  return { client: await ImClient.connect({ host: target.host, port: target.port, ...timing }), server: `${target.host}:${target.port}` };
}

async function loginUsers(opts: Options, loginUrl: string, names: string[], concurrency = 100): Promise<{ users: BenchUser[]; perSecond: number }> {
  const users: BenchUser[] = new Array(names.length);
  let next = 0;
  const started = nowMs();
  const worker = async () => {
    while (next < names.length) {
      const i = next++;
      const { client, server } = await connectThroughLoginServer(opts, loginUrl);
      await client.login(names[i], opts.password, { clientType: ClientType.CLIENT_TYPE_WINDOWS });
      users[i] = { name: names[i], client, server };
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, names.length) }, worker));
  const seconds = (nowMs() - started) / 1000;
  return { users, perSecond: Math.round(names.length / seconds) };
}

interface ChatResult {
  sent: number;
  acked: number;
  failed: number;
  delivered: number;
  lost: number;
  msgs_per_s: number;
  ack_p50_ms: number;
  ack_p99_ms: number;
  deliver_p50_ms: number;
  deliver_p99_ms: number;
  same_server: { deliver_p50_ms: number; deliver_p99_ms: number; count: number };
  cross_server: { deliver_p50_ms: number; deliver_p99_ms: number; count: number };
}

export type PairMode = 'any' | 'cross' | 'same';

/**
 * Each user's contacts: `count` other users, chosen by a fixed seed, on any msg
 * server, only on another one (cross) or only on the same one (same).
 */
function contactLists(users: BenchUser[], count: number, mode: PairMode, peers: 'fixed' | 'random' = 'fixed'): BenchUser[][] {
  const random = seededRandom(20261122);
  return users.map((user) => {
    const candidates = users.filter(
      (peer) => peer !== user && (mode === 'any' || (mode === 'cross') === (peer.server !== user.server)),
    );
    if (candidates.length === 0) throw new Error(`no ${mode}-server peers for ${user.name}: need users on more than one msg server`);
    if (peers === 'random') return candidates;
    const picked = new Set<BenchUser>();
    while (picked.size < Math.min(count, candidates.length)) picked.add(candidates[Math.floor(random() * candidates.length)]);
    return [...picked];
  });
}

/** Open-loop 1:1 traffic: the schedule does not wait for acks, so latency is measured honestly. */
async function chatPhase(users: BenchUser[], contacts: BenchUser[][], rate: number, seconds: number): Promise<ChatResult> {
  const ack = new Latencies();
  const deliverSame = new Latencies();
  const deliverCross = new Latencies();
  const all = new Latencies();
  interface InFlight {
    sentAt: number;
    acked: boolean;
    delivered: boolean;
    sameServer: boolean;
  }
  const flights = new Map<string, InFlight>();
  let sent = 0;
  let acked = 0;
  let failed = 0;
  let delivered = 0;
  const unwatch = watchDeliveries(users, (key) => {
    const f = flights.get(key);
    if (f === undefined || f.delivered) return;
    f.delivered = true;
    delivered++;
    const ms = nowMs() - f.sentAt;
    all.add(ms);
    (f.sameServer ? deliverSame : deliverCross).add(ms);
  });
  const perUserRate = rate / users.length;
  if (perUserRate >= 20) note(`warning: ${perUserRate.toFixed(1)} msgs/s per user reaches the msg servers' flood cap (20/s): raise --users`);
  const started = nowMs();
  const end = started + seconds * 1000;
  let due = 0;
  let cursor = 0;
  let seq = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = nowMs();
      if (now >= end) return resolve();
      const target = Math.floor(((now - started) / 1000) * rate);
      due = target - sent;
      for (; due > 0; due--) {
        const from = users[cursor];
        const peers = contacts[cursor];
        cursor = (cursor + 1) % users.length;
        const to = peers[Math.floor(Math.random() * peers.length)];
        const key = `b:${from.client.userId}:${seq++}`;
        const flight: InFlight = { sentAt: nowMs(), acked: false, delivered: false, sameServer: from.server === to.server };
        flights.set(key, flight);
        sent++;
        from.client.sendMessage(to.client.userId, Buffer.from(key, 'latin1'), MsgType.MSG_TYPE_SINGLE_TEXT).then(
          () => {
            flight.acked = true;
            acked++;
            ack.add(nowMs() - flight.sentAt);
          },
          () => {
            failed++;
          },
        );
      }
      setTimeout(tick, 5);
    };
    tick();
  });
  const elapsed = (nowMs() - started) / 1000;
  // Drain: wait for outstanding acks and deliveries (or give up after 15 s).
  const drainUntil = Date.now() + 15_000;
  while (Date.now() < drainUntil) {
    let pending = 0;
    for (const f of flights.values()) if ((f.acked && !f.delivered) || (!f.acked && acked + failed < sent)) pending++;
    if (pending === 0) break;
    await sleep(100);
  }
  unwatch();
  let lost = 0;
  for (const f of flights.values()) if (f.acked && !f.delivered) lost++;
  return {
    sent,
    acked,
    failed,
    delivered,
    lost,
    msgs_per_s: Math.round(acked / elapsed),
    ack_p50_ms: ack.percentile(50),
    ack_p99_ms: ack.percentile(99),
    deliver_p50_ms: all.percentile(50),
    deliver_p99_ms: all.percentile(99),
    same_server: { deliver_p50_ms: deliverSame.percentile(50), deliver_p99_ms: deliverSame.percentile(99), count: deliverSame.count },
    cross_server: { deliver_p50_ms: deliverCross.percentile(50), deliver_p99_ms: deliverCross.percentile(99), count: deliverCross.count },
  };
}

interface GroupResult {
  groups: number;
  group_size: number;
  group_msgs_sent: number;
  group_msgs_acked: number;
  fanout_deliveries: number;
  fanout_deliveries_per_s: number;
  fanout_p99_ms: number;
}

async function groupPhase(users: BenchUser[], size: number, rate: number, seconds: number): Promise<GroupResult> {
  const groupCount = Math.max(1, Math.min(50, Math.floor(users.length / size)));
  const groups: Array<{ id: number; members: BenchUser[] }> = [];
  for (let g = 0; g < groupCount; g++) {
    const members = users.slice(g * size, g * size + size);
    const owner = members[0];
    const rsp = await owner.client.request(
      IM.Group.IMGroupCreateReq,
      {
        user_id: owner.client.userId,
        group_type: GroupType.GROUP_TYPE_TMP,
        group_name: `bench group ${g}`,
        group_avatar: '',
        member_id_list: members.map((m) => m.client.userId),
      },
      IM.Group.IMGroupCreateRsp,
    );
    if (rsp.result_code !== 0) throw new Error(`group create failed (${rsp.result_code})`);
    groups.push({ id: rsp.group_id, members });
  }
  const latency = new Latencies();
  const sentAt = new Map<string, number>();
  let deliveries = 0;
  const unwatch = watchDeliveries(users, (key, m) => {
    if (m.msg_type !== MsgType.MSG_TYPE_GROUP_TEXT) return;
    const t0 = sentAt.get(key);
    if (t0 === undefined) return;
    deliveries++;
    latency.add(nowMs() - t0);
  });
  let sent = 0;
  let acked = 0;
  const started = nowMs();
  const end = started + seconds * 1000;
  let seq = 0;
  while (nowMs() < end) {
    const target = Math.floor(((nowMs() - started) / 1000) * rate);
    while (sent < target) {
      const group = groups[sent % groups.length];
      const sender = group.members[Math.floor(Math.random() * group.members.length)];
      const key = `g:${seq++}`;
      sentAt.set(key, nowMs());
      sent++;
      sender.client.sendMessage(group.id, Buffer.from(key, 'latin1'), MsgType.MSG_TYPE_GROUP_TEXT).then(
        () => acked++,
        () => {},
      );
    }
    await sleep(5);
  }
  const elapsed = (nowMs() - started) / 1000;
  await sleep(2000);
  unwatch();
  return {
    groups: groupCount,
    group_size: size,
    group_msgs_sent: sent,
    group_msgs_acked: acked,
    fanout_deliveries: deliveries,
    fanout_deliveries_per_s: Math.round(deliveries / elapsed),
    fanout_p99_ms: latency.percentile(99),
  };
}

function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!m) throw new Error(`cannot read the RSS of pid ${pid}`);
  return Number(m[1]);
}

interface MemoryResult {
  connections: number;
  rss_before_kb: number;
  rss_after_kb: number;
  rss_per_connection_bytes: number;
}

/** Connections kept open during the memory phase before the baseline is taken. */
const MEMORY_WARMUP_CONNECTIONS = 2000;

/**
 * RSS per idle logged-in connection, as the slope between two populations on
 * the same server: first MEMORY_WARMUP_CONNECTIONS (their login burst also
 * grows V8's young generation to its working size), baseline, then N more.
 */
async function memoryPhase(opts: Options, names: string[], connect: () => Promise<ImClient>, pid: number): Promise<MemoryResult> {
  const clients: ImClient[] = [];
  const connectAll = async (batch: string[]) => {
    let next = 0;
    const worker = async () => {
      while (next < batch.length) {
        const name = batch[next++];
        const c = await connect();
        await c.login(name, opts.password, { clientType: ClientType.CLIENT_TYPE_ANDROID });
        clients.push(c);
      }
    };
    await Promise.all(Array.from({ length: 200 }, worker));
    // Let the server settle after the burst (pending writes, login garbage of the last batch).
    await sleep(5000);
  };
  try {
    await connectAll(names.slice(0, MEMORY_WARMUP_CONNECTIONS));
    const before = rssKb(pid);
    await connectAll(names.slice(MEMORY_WARMUP_CONNECTIONS));
    const after = rssKb(pid);
    const added = names.length - MEMORY_WARMUP_CONNECTIONS;
    return {
      connections: added,
      rss_before_kb: before,
      rss_after_kb: after,
      rss_per_connection_bytes: Math.round(((after - before) * 1024) / added),
    };
  } finally {
    for (const c of clients) c.close();
  }
}

// ---------------------------------------------------------------- main

interface FloodResult {
  flooders: number;
  /** IMAllUserReq PDUs written. */
  requests_sent: number;
  /** IMAllUserRsp received: what the budget let through. */
  answered: number;
  /** Times a flooder was cut off by the server (it logged in again). */
  disconnects: number;
}

/**
 * Hostile clients for the chat phase: each logs in and writes IMAllUserReq as
 * fast as its socket takes them (bursts of 500 every 5 ms, about 100 000/s),
 * and when the server cuts it off, logs in again and goes on.
 */
function startFlooders(opts: Options, loginUrl: string, firstIndex: number): { stop(): Promise<FloodResult> } {
  const stats: FloodResult = { flooders: opts.flooders, requests_sent: 0, answered: 0, disconnects: 0 };
  let running = true;
  const info = commandOf(IM.Buddy.IMAllUserReq);
  const body = encodeBody(IM.Buddy.IMAllUserReq, { user_id: 0, latest_update_time: 0 });
  const burst = Buffer.concat(Array.from({ length: 500 }, (_, i) => encodeFrame(info.serviceId, info.commandId, i + 1, body)));
  const loops = Array.from({ length: opts.flooders }, async (_, i) => {
    while (running) {
      try {
        const { client } = await connectThroughLoginServer(opts, loginUrl);
        await client.login(`${opts.userPrefix}${firstIndex + i}`, opts.password);
        client.on('push', (p: { commandId: number }) => {
          if (p.commandId === CID.BUDDY_LIST_ALL_USER_RESPONSE) stats.answered++;
        });
        while (running && client.isOpen) {
          client.conn.socket.write(burst);
          stats.requests_sent += 500;
          await sleep(5);
        }
        if (!client.isOpen) stats.disconnects++;
        client.close();
      } catch {
        await sleep(100);
      }
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      return stats;
    },
  };
}

function assertLoopback(url: string, allowRemote: boolean): void {
  const host = new URL(url).hostname.replace(/^\[(.*)\]$/, '$1');
  if (!allowRemote && !isLoopbackHost(host)) {
    throw new Error(`refusing to load ${host}: the bench only targets loopback unless --allow-remote is given`);
  }
}

/** Chat results of one run: closed loop (--per-user) or open loop (--rate). */
type ChatOutcome = (ChatResult | BurstResult) & { new_relations?: number; storage?: StorageCost; store_steps?: StoreSteps };

/** One run of the phases against a cluster (the bench's own, on `target`, or --login-url's). */
async function runPhases(opts: Options, target: BenchTarget, halfRate: number | null): Promise<Record<string, unknown>> {
  const names = Array.from({ length: opts.users }, (_, i) => `${opts.userPrefix}${i}`);
  let cluster: OwnCluster | null = null;
  let loginUrl: string;
  if (opts.loginUrl) {
    assertLoopback(opts.loginUrl, opts.allowRemote);
    loginUrl = opts.loginUrl;
  } else {
    cluster = opts.topology !== null ? await startTopologyCluster(opts, opts.topology, target) : await startOwnCluster(opts, target);
    loginUrl = cluster.loginUrl;
    const memoryUsers = opts.only.has('memory') ? MEMORY_WARMUP_CONNECTIONS + opts.memoryConnections : 0;
    const pool = mysql.createPool({ ...parseMysqlUrl(cluster.storage.mysqlUrl), connectionLimit: 2 });
    const created = await bulkAddUsers(pool, opts.userPrefix, Math.max(opts.users + opts.flooders, memoryUsers + opts.users), opts.password);
    note(`bench users ready (${created.created} created)`);
    await pool.end();
  }
  const result: Record<string, unknown> = {
    users: opts.users,
    msg_servers: cluster ? cluster.msgServerPorts.length : 'external',
    target: cluster ? `own cluster (separate processes, loopback${opts.topology !== null ? `, topology ${opts.topology}` : ''})` : loginUrl,
    transport: opts.transport === 'ws' ? 'WebSocket (one binary message per PDU)' : 'TCP',
  };
  if (cluster) {
    result.database = target.database;
    result.stored_at_start = await storedCounts(cluster.storage);
    // A history is measured on a warm server, as one that has been running is: MariaDB
    // reads its saved buffer pool back in the background after a start; wait for that.
    if (target.history !== 'empty') result.buffer_pool_load_s = await waitForBufferPoolLoad(cluster.storage.mysqlAdminUrl);
  }
  const ownCluster = cluster;
  const stopAll = async () => {
    if (ownCluster) await ownCluster.stop();
  };
  const onSigint = () => void stopAll().then(() => process.exit(130));
  process.on('SIGINT', onSigint);
  try {
    let users: BenchUser[] = [];
    if (opts.only.has('login') || opts.only.has('chat') || opts.only.has('group') || opts.only.has('reads')) {
      note(`logging in ${opts.users} users`);
      const login = await loginUsers(opts, loginUrl, names);
      users = login.users;
      result.logins_per_s = login.perSecond;
      const spread = new Map<string, number>();
      for (const u of users) spread.set(u.server, (spread.get(u.server) ?? 0) + 1);
      result.users_per_msg_server = Object.fromEntries(spread);
    }
    if (opts.only.has('reads')) {
      // Before the chat phase: the history as it was, not the conversations the bench just started.
      note(`reads: recent sessions, unread counts and two history pages, ${opts.readSamples} users, 8 at a time`);
      result.reads = await readsPhase(users, opts.readSamples, 8);
    }
    if (opts.only.has('chat')) {
      const contacts = contactLists(users, opts.contacts, opts.pairs, opts.peers);
      const peers = opts.peers === 'random' ? 'random online peers' : `${opts.contacts} contacts per user`;
      const countRelations = async () => (ownCluster ? (await storedCounts(ownCluster.storage)).relations : 0);
      if (opts.perUser > 0) {
        note('chat warm-up: 5 messages per user (not measured)');
        await burstPhase(users, contacts, { perUser: 5, userRate: opts.userRate, inFlight: opts.inFlight }, `warm-${target.database}`);
      } else {
        note(`chat warm-up: ${opts.rate} msgs/s for 3 s (not measured)`);
        await chatPhase(users, contacts, opts.rate, 3);
      }
      const relationsBefore = await countRelations();
      const meter = ownCluster ? await StorageMeter.start(ownCluster.storage.mysqlAdminUrl, !process.env.MYSQL_URL, ownCluster.pids()) : null;
      const stepsAdmin = localAdminClient('bench');
      const stepMeter = ownCluster && ownCluster.dbProxyAdmins.length > 0 ? await StoreStepsMeter.start(stepsAdmin, ownCluster.dbProxyAdmins) : null;
      // Hostile clients only during the measured phase (not the warm-up or the half-rate phase).
      const flood = opts.flooders > 0 ? startFlooders(opts, loginUrl, names.length) : null;
      let chat: ChatOutcome;
      if (opts.perUser > 0) {
        note(`chat: ${opts.perUser} messages per user to ${peers} (${opts.pairs}-server pairs), at most ${opts.userRate}/s and ${opts.inFlight} in flight per user`);
        chat = await burstPhase(users, contacts, { perUser: opts.perUser, userRate: opts.userRate, inFlight: opts.inFlight }, `${target.database}`);
      } else {
        note(`chat: ${opts.rate} msgs/s for ${opts.seconds} s to ${peers} (${opts.pairs}-server pairs)`);
        chat = await chatPhase(users, contacts, opts.rate, opts.seconds);
      }
      if (flood) result.flooders = await flood.stop();
      // First contacts among the measured messages (relations the phase created).
      if (meter) chat.storage = await meter.cost(chat.acked);
      if (stepMeter) chat.store_steps = await stepMeter.steps();
      if (ownCluster) chat.new_relations = (await countRelations()) - relationsBefore;
      Object.assign(result, chat);
      const halfOf = halfRate ?? (opts.prefill > 0 && opts.perUser > 0 ? Math.round(chat.msgs_per_s / 2) : null);
      if (halfOf !== null) {
        note(`chat at half the empty database's rate: ${halfOf} msgs/s for ${opts.seconds} s to ${peers}`);
        const halfMeter = ownCluster ? await StorageMeter.start(ownCluster.storage.mysqlAdminUrl, !process.env.MYSQL_URL, ownCluster.pids()) : null;
        const halfSteps = stepMeter ? await StoreStepsMeter.start(stepsAdmin, ownCluster?.dbProxyAdmins ?? []) : null;
        const half: ChatOutcome = await chatPhase(users, contacts, halfOf, opts.seconds);
        if (halfMeter) half.storage = await halfMeter.cost(half.acked);
        if (halfSteps) half.store_steps = await halfSteps.steps();
        result.half_rate = { rate: halfOf, ...half };
      }
      stepsAdmin.close();
    }
    if (opts.only.has('group')) {
      note(`group: ${opts.groupRate} group msgs/s to groups of ${opts.groupSize}`);
      result.group = await groupPhase(users, opts.groupSize, opts.groupRate, Math.min(opts.seconds, 10));
    }
    for (const u of users) u.client.close();
    if (opts.only.has('memory')) {
      const pid = cluster ? cluster.pids()['msg-server-1'] : opts.msgServerPid;
      if (!pid) {
        note('memory: skipped (give --msg-server-pid for an external cluster)');
      } else {
        const port = cluster ? cluster.msgServerPorts[0] : 0;
        const wsUrl = cluster?.msgServerWsUrls[0] ?? '';
        const idle = { keepInbox: false, heartbeatIntervalMs: 0, requestTimeoutMs: 60_000, autoAck: false };
        const connect = () => (opts.transport === 'ws' ? ImClient.connectWebSocket({ url: wsUrl, ...idle }) : ImClient.connect({ host: '127.0.0.1', port, ...idle }));
        const memNames = Array.from({ length: MEMORY_WARMUP_CONNECTIONS + opts.memoryConnections }, (_, i) => `${opts.userPrefix}${opts.users + i}`);
        note(`memory: ${MEMORY_WARMUP_CONNECTIONS} + ${opts.memoryConnections} idle logged-in ${opts.transport} connections on msg-server-1`);
        result.memory = await memoryPhase(opts, memNames, connect, pid);
      }
    }
  } finally {
    process.off('SIGINT', onSigint);
    await stopAll();
  }
  return result;
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  if (opts.prefill > 0 && opts.loginUrl) throw new Error('--prefill needs the bench\'s own cluster (it fills its database): drop --login-url');
  let result: Record<string, unknown>;
  if (opts.prefill > 0) {
    note(`run 1 of 2: empty database`);
    const empty = await runPhases(opts, EMPTY_TARGET, null);
    note(`run 2 of 2: a history of ${opts.prefill} messages`);
    const half = (empty.half_rate as { rate?: number } | undefined)?.rate ?? null;
    const prefilled = await runPhases(opts, prefilledTarget(opts.prefill), half);
    const rate = (r: Record<string, unknown>) => Number(r.msgs_per_s ?? 0);
    result = {
      prefill: opts.prefill,
      empty,
      prefilled,
      throughput_ratio: rate(empty) > 0 ? Math.round((rate(prefilled) / rate(empty)) * 1000) / 1000 : null,
    };
  } else {
    result = await runPhases(opts, EMPTY_TARGET, null);
  }
  process.stdout.write(JSON.stringify(result) + '\n');
  const rows = (r: Record<string, unknown>, label: string) => {
    const half = r.half_rate as ChatResult | undefined;
    const reads = r.reads as { history?: { p99_ms: number }; unread?: { p99_ms: number }; recent_sessions?: { p99_ms: number } } | undefined;
    return [
      [`${label}logins/s`, r.logins_per_s],
      [`${label}msgs/s (acked)`, r.msgs_per_s],
      [`${label}ack p50 / p99 ms`, `${r.ack_p50_ms} / ${r.ack_p99_ms}`],
      [`${label}deliver p50 / p99 ms`, `${r.deliver_p50_ms} / ${r.deliver_p99_ms}`],
      [`${label}lost`, r.lost],
      [`${label}MariaDB per msg: CPU ms / disk reads`, r.storage ? `${(r.storage as StorageCost).mariadb_cpu_ms_per_msg} / ${(r.storage as StorageCost).disk_reads_per_msg}` : undefined],
      [`${label}cores busy (of ${availableParallelism()})`, (r.storage as StorageCost | undefined)?.cores_busy],
      [`${label}half rate: ack p50 / p99 ms`, half ? `${half.ack_p50_ms} / ${half.ack_p99_ms}` : undefined],
      [`${label}reads p99 ms: history / unread / recent`, reads ? `${reads.history?.p99_ms} / ${reads.unread?.p99_ms} / ${reads.recent_sessions?.p99_ms}` : undefined],
      [`${label}group fan-out deliveries/s`, (r.group as GroupResult | undefined)?.fanout_deliveries_per_s],
      [`${label}RSS per idle connection (bytes)`, (r.memory as MemoryResult | undefined)?.rss_per_connection_bytes],
    ];
  };
  const table =
    opts.prefill > 0
      ? [...rows(result.empty as Record<string, unknown>, 'empty: '), ...rows(result.prefilled as Record<string, unknown>, `${opts.prefill}: `), ['throughput ratio', result.throughput_ratio]]
      : rows(result, '');
  for (const [k, v] of table) if (v !== undefined && !String(v).includes('undefined')) process.stderr.write(`  ${String(k).padEnd(44)} ${String(v)}\n`);
}

main().then(
  () => process.exit(0),
  (err) => {
    note(`failed: ${errorMessage(err)}`);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
