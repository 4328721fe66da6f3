/**
 * What the multi-host test runs inside a network namespace ("a host"), where
 * the test process itself cannot connect: it provisions that host's storage
 * server, or plays the clients, and reports on stdout (one JSON line).
 *
 *   node host-agent.js mariadb RUN_DIR HOST PORT CLIENT_HOSTS   MariaDB on HOST:PORT, migrated, two users; runs until SIGTERM
 *   node host-agent.js redis RUN_DIR HOST PORT                  Redis on HOST:PORT; runs until SIGTERM
 *   node host-agent.js client LOGIN_URL MSG1 MSG2               the chat flow (alice where the login server
 *                                                               sends her, bob on the other); prints what happened, exits
 */
import { formatMysqlUrl, parseMysqlUrl } from '../../lib/mysql-url';
import { IM } from '../../pdu/commands';
import { addDepartment, addUser } from '../../scripts/db/accounts';
import { migrate } from '../../scripts/db/migrate';
import { localCredentials } from '../../scripts/infra/credentials';
import { startLocalMariaDb, type LocalServer } from '../../scripts/infra/mariadb';
import { startLocalRedis } from '../../scripts/infra/redis';
import { parseHostPort } from '../../lib/host-port';
import mysql from 'mysql2/promise';
import { ImClient, fetchMsgServer } from '../../tools/client/im-client';

export const AGENT_PASSWORD = 'multi-host-pass';

const report = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');

async function untilTerminated(server: LocalServer): Promise<void> {
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await server.stop();
}

async function mariadb(runDir: string, host: string, port: number, clientHosts: string[]): Promise<void> {
  const server = await startLocalMariaDb({ runDir, name: 'mariadb', host, port, database: 'teamtalk', clientHosts, log: () => {}, bufferPoolSize: '64M' });
  const creds = localCredentials(runDir);
  const admin = formatMysqlUrl({ host, port, user: creds.mysqlAdminUser, password: creds.mysqlAdminPassword, database: 'teamtalk' });
  await migrate(admin);
  const pool = mysql.createPool({ ...parseMysqlUrl(admin), connectionLimit: 1 });
  const depart = await addDepartment(pool, 'Hosts');
  const ids = [];
  for (const name of ['alice', 'bob']) ids.push(await addUser(pool, { name, password: AGENT_PASSWORD, departId: depart }));
  await pool.end();
  report({ ready: true, pid: server.pid, users: ids });
  await untilTerminated(server);
}

async function redis(runDir: string, host: string, port: number): Promise<void> {
  const server = await startLocalRedis({ runDir, name: 'redis', host, port, log: () => {} });
  report({ ready: true, pid: server.pid });
  await untilTerminated(server);
}

async function client(loginUrl: string, msg1: string, msg2: string): Promise<void> {
  // Until the login server knows both msg servers (they register once their links are up).
  const until = Date.now() + 60_000;
  let assigned: { host: string; port: number } | null = null;
  for (;;) {
    try {
      assigned = await fetchMsgServer(loginUrl);
      break;
    } catch (err) {
      if (Date.now() > until) throw new Error(`the login server never handed out a msg server: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  const at = (hp: string) => parseHostPort(hp) as { host: string; port: number };
  // A msg server refuses logins (and closes the connection) until its db-proxy link is up: a new connection each try.
  const loggedIn = async (hp: string, name: string): Promise<ImClient> => {
    for (;;) {
      let c: ImClient | null = null;
      try {
        c = await ImClient.connect(at(hp));
        await c.login(name, AGENT_PASSWORD);
        return c;
      } catch (err) {
        c?.close();
        if (Date.now() > until) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  };
  // alice where the login server sends her, bob on the other msg server: every message crosses hosts.
  const aliceOn = `${assigned.host}:${assigned.port}`;
  const bobOn = aliceOn === msg1 ? msg2 : msg1;
  const alice = await loggedIn(aliceOn, 'alice');
  const bob = await loggedIn(bobOn, 'bob');
  const { MsgType } = IM.BaseDefine;
  const acks: number[] = [];
  for (let i = 1; i <= 3; i++) acks.push((await alice.sendMessage(bob.userId, Buffer.from(`over the wire ${i}`), MsgType.MSG_TYPE_SINGLE_TEXT)).msg_id);
  const delivered = [];
  for (const id of acks) delivered.push(Buffer.from((await bob.next(IM.Message.IMMsgData, (m) => m.msg_id === id, 10_000)).msg_data).toString());
  const reply = await bob.sendMessage(alice.userId, Buffer.from('reply across hosts'), MsgType.MSG_TYPE_SINGLE_TEXT);
  const back = Buffer.from((await alice.next(IM.Message.IMMsgData, (m) => m.msg_id === reply.msg_id, 10_000)).msg_data).toString();
  const history = (await bob.history(alice.userId)).msg_list.map((m) => m.msg_id);
  const unread = (await alice.unreadCounts()).unreadinfo_list.map((u) => ({ from: u.session_id, count: u.unread_cnt }));
  alice.close();
  bob.close();
  report({ assigned, aliceOn, bobOn, acks, delivered, replyId: reply.msg_id, back, history, unread });
}

async function main(): Promise<void> {
  const [mode, ...args] = process.argv.slice(2);
  if (mode === 'mariadb') return mariadb(args[0], args[1], Number(args[2]), args[3].split(','));
  if (mode === 'redis') return redis(args[0], args[1], Number(args[2]));
  if (mode === 'client') return client(args[0], args[1], args[2]);
  throw new Error(`unknown mode ${mode}`);
}

main().then(
  () => process.exit(0),
  (err) => {
    report({ error: (err as Error).stack ?? String(err) });
    process.exit(1);
  },
);
