/**
 * The cluster the fuzzer attacks: the services of `npm start` (serviceSpecs)
 * as separate processes under the Supervisor, on free loopback ports, with a
 * CA of their own, in a database the caller provides. Adds the accounts of the
 * run (fuzz users to log in with, peers to address, sentinels with ids kept out
 * of the fuzzer's reach) and one group, and watches every process: pid changes
 * and supervisor restarts are crashes; ERROR and FATAL log lines are kept.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { parseMysqlUrl } from '../../lib/mysql-url';
import { ensureCa, ensureCertificate, type Pki } from '../../lib/pki';
import { readFileSync } from 'node:fs';
import { loginAdmin } from '../../scripts/cluster/admin';
import { clusterConfig } from '../../scripts/cluster/config';
import { localIdentity } from '../../scripts/cluster/pki';
import { Supervisor } from '../../scripts/cluster/supervisor';
import { addDepartment, addUser } from '../../scripts/db/accounts';
import { migrate } from '../../scripts/db/migrate';
import type { Storage } from '../../scripts/infra/provision';
import { freeLoopbackPort, sleep } from '../../scripts/infra/system';
import { serviceSpecs } from '../../scripts/start';
import { ImClient } from '../client/im-client';
import { fuzzAdminClient, registeredMsgServers, type FuzzAdminAccess } from './admin';
import type { Endpoint, FuzzIdentities } from './connection';
import type { Dictionary } from './generate';

export interface FuzzAccount {
  name: string;
  password: string;
  id: number;
}

export interface ProcessState {
  name: string;
  pid: number | undefined;
  restarts: number;
}

export interface ErrorLine {
  service: string;
  line: string;
}

export interface FuzzClusterOptions {
  /** mysqlAdminUrl migrates the database; the services use mysqlUrl. */
  storage: Pick<Storage, 'mysqlUrl' | 'mysqlAdminUrl' | 'redisUrl'>;
  redisKeyPrefix: string;
  /** Where the run's CA (and a foreign one) live. */
  pkiDir: string;
  /** The services' log level; ERROR and FATAL lines are always collected. */
  logLevel: string;
  /** Print every service log line on stderr. */
  verbose: boolean;
  /** Users to log in with (one per fuzz worker). */
  loginUsers: number;
  note(line: string): void;
}

export interface FuzzCluster {
  loginUrl: string;
  /** The login server's admin endpoint, with an admin certificate of the run's CA. */
  admin: FuzzAdminAccess;
  msgServers: Endpoint[];
  msgServerNames: string[];
  route: Endpoint;
  dbProxy: Endpoint;
  loginRegistration: Endpoint;
  identities: FuzzIdentities;
  loginUsers: FuzzAccount[];
  peers: FuzzAccount[];
  /** a, b chat during the run; late logs in at its end. */
  sentinels: { a: FuzzAccount; b: FuzzAccount; late: FuzzAccount };
  groupIds: number[];
  processes(): ProcessState[];
  /** ERROR and FATAL log lines seen so far (the newest 200) and their total count per service. */
  errors(): { total: Record<string, number>; recent: ErrorLine[] };
  /** Ids and names the fuzzer may use; `includeSentinels` for hostile-client targets (a client may talk to anyone). */
  dictionary(includeSentinels: boolean): Dictionary;
  stop(): Promise<void>;
}

const MSG_SERVERS = 2;

export async function startFuzzCluster(options: FuzzClusterOptions): Promise<FuzzCluster> {
  const { storage, note } = options;
  await migrate(storage.mysqlAdminUrl);
  const accounts = await createAccounts(storage.mysqlUrl, options.loginUsers);

  const free = () => freeLoopbackPort();
  const [loginHttp, loginMsg, loginAdminPort, route, routeAdmin, db, dbAdmin] = [await free(), await free(), await free(), await free(), await free(), await free(), await free()];
  const [consolePort, msfs, msfsInternal, fileServer, fileServerInternal, pushServer] = [await free(), await free(), await free(), await free(), await free(), await free()];
  const msgPorts: number[] = [];
  const msgAdminPorts: number[] = [];
  for (let i = 0; i < MSG_SERVERS; i++) {
    msgPorts.push(await free());
    msgAdminPorts.push(await free());
  }
  const config = clusterConfig.load({
    env: {},
    overrides: {
      logLevel: options.logLevel,
      loginHttpPort: loginHttp,
      loginMsgServerPort: loginMsg,
      loginAdminPort: loginAdminPort,
      routePort: route,
      routeAdminPort: routeAdmin,
      dbProxyPort: db,
      dbProxyAdminPort: dbAdmin,
      msgServerPorts: msgPorts,
      msgServerAdminPorts: msgAdminPorts,
      msgServerWsPorts: [],
      consolePort,
      msfsPort: msfs,
      msfsInternalPort: msfsInternal,
      fileServerPort: fileServer,
      fileServerInternalPort: fileServerInternal,
      pushServerPort: pushServer,
      redisKeyPrefix: options.redisKeyPrefix,
      seedDemoUsers: false,
    },
  });

  const errorTotals: Record<string, number> = {};
  const recent: ErrorLine[] = [];
  const supervisor = new Supervisor({
    output: (line) => {
      if (options.verbose) process.stderr.write(line + '\n');
      // ERROR / FATAL log lines, and anything a service printed that is not a log line (a stack trace).
      const service = /^\S* ?(?:ERROR|FATAL)\s+\[([^\]]+)\]/.exec(line)?.[1] ?? /^\[([^\]]+)\] /.exec(line)?.[1];
      if (service === undefined) return;
      errorTotals[service] = (errorTotals[service] ?? 0) + 1;
      recent.push({ service, line: line.length > 2000 ? `${line.slice(0, 2000)}...` : line });
      if (recent.length > 200) recent.shift();
    },
    note,
    color: false,
  });
  const pki = ensureCa(join(options.pkiDir, 'cluster'), 'TeamTalk fuzz CA');
  // The web console is an operators' HTTP page, no PDU port: not started.
  const specs = serviceSpecs(config, { ...storage, started: { mysql: false, redis: false }, stop: async () => {} }, pki)
    .filter((spec) => spec.name !== 'console')
    .map((spec) => ({
      ...spec,
      env: { ...spec.env, ...(spec.name.startsWith('msg-server') ? { TT_MSG_STATS_INTERVAL_MS: '0' } : {}) },
    }));
  for (const spec of specs) supervisor.start(spec);
  const stop = () => supervisor.stopAll();
  try {
    const admin = fuzzAdmin(pki, loginAdminPort);
    await waitForMsgServers(admin, MSG_SERVERS);
    const msgServers = msgPorts.map((port) => ({ host: '127.0.0.1', port }));
    const groupIds = await createGroups(msgServers[1], accounts);
    const startPids = supervisor.pids();
    const identities = fuzzIdentities(pki, options.pkiDir);
    return {
      loginUrl: `http://127.0.0.1:${loginHttp}/msg_server`,
      admin,
      msgServers,
      msgServerNames: msgPorts.map((_, i) => `msg-server-${i + 1}`),
      route: { host: '127.0.0.1', port: route },
      dbProxy: { host: '127.0.0.1', port: db },
      loginRegistration: { host: '127.0.0.1', port: loginMsg },
      identities,
      ...accounts,
      groupIds,
      processes: () => {
        const pids = supervisor.pids();
        const restarts = supervisor.restarts();
        return Object.keys(startPids).map((name) => ({
          name,
          pid: pids[name],
          // A pid that changed is a restart the supervisor may not have counted yet.
          restarts: Math.max(restarts[name] ?? 0, pids[name] === startPids[name] ? 0 : 1),
        }));
      },
      errors: () => ({ total: { ...errorTotals }, recent: [...recent] }),
      dictionary: (includeSentinels) => ({
        userIds: [
          ...accounts.loginUsers.map((u) => u.id),
          ...accounts.peers.map((u) => u.id),
          ...(includeSentinels ? [accounts.sentinels.a.id, accounts.sentinels.b.id] : []),
        ],
        groupIds,
        userNames: accounts.peers.map((u) => u.name),
      }),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** What the sentinel (a process of its own) needs to ask the login server's admin endpoint: files, no live objects. */
function fuzzAdmin(pki: Pki, port: number): FuzzAdminAccess {
  const cert = ensureCertificate(pki, { role: 'admin', name: 'fuzz-admin', hosts: ['127.0.0.1'] });
  return { login: loginAdmin('127.0.0.1', port), caFile: pki.caFile, certFile: cert.certFile, keyFile: cert.keyFile };
}

async function waitForMsgServers(admin: FuzzAdminAccess, count: number): Promise<void> {
  const client = fuzzAdminClient(admin, 5_000);
  try {
    const until = Date.now() + 60_000;
    for (;;) {
      try {
        if ((await registeredMsgServers(client, admin)).length >= count) return;
      } catch {
        // starting
      }
      if (Date.now() > until) throw new Error('the fuzz cluster did not come up within 60 s (run with --verbose to see its logs)');
      await sleep(200);
    }
  } finally {
    client.close();
  }
}

/**
 * Sentinel ids are moved far away from every id the fuzzer generates (real
 * ids, small numbers, boundaries), so that commands a trusted peer may
 * legitimately send (e.g. a msg server kicking a user) never hit them by chance.
 */
const SENTINEL_ID_BASE = 1_500_000_000;

async function createAccounts(
  mysqlUrl: string,
  loginUsers: number,
): Promise<{ loginUsers: FuzzAccount[]; peers: FuzzAccount[]; sentinels: { a: FuzzAccount; b: FuzzAccount; late: FuzzAccount } }> {
  const pool = mysql.createPool({ ...parseMysqlUrl(mysqlUrl), connectionLimit: 2 });
  try {
    const departId = await addDepartment(pool, `fuzz ${randomBytes(3).toString('hex')}`);
    const add = async (name: string): Promise<FuzzAccount> => {
      const password = randomBytes(9).toString('base64url');
      return { name, password, id: await addUser(pool, { name, password, departId }) };
    };
    const logins: FuzzAccount[] = [];
    for (let i = 0; i < loginUsers; i++) logins.push(await add(`fuzz_login_${i}`));
    const peers: FuzzAccount[] = [];
    for (let i = 0; i < 6; i++) peers.push(await add(`fuzz_peer_${i}`));
    const sentinel = async (name: string, offset: number): Promise<FuzzAccount> => {
      const account = await add(name);
      const id = SENTINEL_ID_BASE + offset;
      await pool.query('UPDATE IMUser SET id = ? WHERE id = ?', [id, account.id]);
      return { ...account, id };
    };
    return {
      loginUsers: logins,
      peers,
      sentinels: { a: await sentinel('sentinel_a', 1), b: await sentinel('sentinel_b', 2), late: await sentinel('sentinel_late', 3) },
    };
  } finally {
    await pool.end();
  }
}

/** Two temporary groups (of peers and fuzz users), made the way a client makes them. */
async function createGroups(server: Endpoint, accounts: { loginUsers: FuzzAccount[]; peers: FuzzAccount[] }): Promise<number[]> {
  const owner = accounts.peers[0];
  const client = await ImClient.connect({ ...server, keepInbox: false });
  try {
    await client.login(owner.name, owner.password);
    const ids: number[] = [];
    for (const members of [accounts.peers.slice(1), [...accounts.loginUsers, accounts.peers[1]]]) {
      const rsp = await client.createGroup(`fuzz group ${ids.length + 1}`, members.map((m) => m.id));
      if (rsp.result_code !== 0) throw new Error(`creating a fuzz group failed (result ${rsp.result_code})`);
      ids.push(rsp.group_id);
    }
    return ids;
  } finally {
    client.close();
  }
}

function fuzzIdentities(pki: Pki, pkiDir: string): FuzzIdentities {
  const foreignCa = ensureCa(join(pkiDir, 'foreign'), 'Someone else\'s CA');
  const foreign = ensureCertificate(foreignCa, { role: 'msg-server', name: 'foreign-msg-server', hosts: ['127.0.0.1'] });
  return {
    cluster: localIdentity('msg-server', 'fuzz-msg-server', pki),
    wrongRole: localIdentity('push-server', 'fuzz-push-server', pki),
    caPem: readFileSync(pki.caFile, 'utf8'),
    foreign: { certPem: readFileSync(foreign.certFile, 'utf8'), keyPem: readFileSync(foreign.keyFile, 'utf8') },
  };
}
