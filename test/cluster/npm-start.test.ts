/**
 * `npm start` as a user runs it: the supervisor starts every service as its own
 * process, prints the banner, serves logins, refuses a second instance, lets a
 * msg server join, and leaves no process behind when stopped.
 */
import t from 'tap';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import Redis from 'ioredis';
import { IM } from '../../pdu/commands';
import { projectRoot } from '../../lib/paths';
import { parseMysqlUrl } from '../../lib/mysql-url';
import { DEMO_PASSWORD } from '../../scripts/db/seed';
import { freeLoopbackPort } from '../../scripts/infra/system';
import { ImClient, fetchMsgServer } from '../../tools/client/im-client';
import { waitFor } from '../helpers/wait';


function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Runs a compiled script, collecting its output. */
function run(script: string, env: NodeJS.ProcessEnv, args: string[] = []) {
  const proc: ChildProcess = spawn(process.execPath, [join(projectRoot, script), ...args], { cwd: projectRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { text: '' };
  proc.stdout?.on('data', (d: Buffer) => (out.text += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out.text += d.toString()));
  const exited = new Promise<number>((resolve) => proc.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 0))));
  return { proc, out, exited };
}

t.test('npm start: cluster up, logins work, second instance refused, a msg server joins, clean stop', async (t) => {
  const database = `tt_test_start_${randomBytes(3).toString('hex')}`;
  const prefix = `tt_test_start_${randomBytes(3).toString('hex')}:`;
  const runDir = mkdtempSync(join(tmpdir(), 'tt-start-'));
  const ports = await Promise.all(Array.from({ length: 16 }, freeLoopbackPort));
  const [http, loginMsg, admin, route, db, msg1, msg2, msg3, msfs, msfsInternal, file, fileInternal, push, ws1, ws2, ws3] = ports;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TT_RUN_DIR: runDir,
    TT_CLUSTER_DATABASE: database,
    TT_CLUSTER_REDIS_KEY_PREFIX: prefix,
    TT_CLUSTER_LOGIN_HTTP_PORT: String(http),
    TT_CLUSTER_LOGIN_MSG_SERVER_PORT: String(loginMsg),
    TT_CLUSTER_LOGIN_ADMIN_PORT: String(admin),
    TT_CLUSTER_ROUTE_PORT: String(route),
    TT_CLUSTER_DB_PROXY_PORT: String(db),
    TT_CLUSTER_MSG_SERVER_PORTS: `${msg1},${msg2}`,
    TT_CLUSTER_MSFS_PORT: String(msfs),
    TT_CLUSTER_MSFS_INTERNAL_PORT: String(msfsInternal),
    TT_CLUSTER_FILE_SERVER_PORT: String(file),
    TT_CLUSTER_FILE_SERVER_INTERNAL_PORT: String(fileInternal),
    TT_CLUSTER_PUSH_SERVER_PORT: String(push),
    TT_CLUSTER_MSG_SERVER_WS_PORTS: `${ws1},${ws2}`,
    TT_CLUSTER_LOG_LEVEL: 'warn',
  };
  t.teardown(async () => {
    rmSync(runDir, { recursive: true, force: true });
    const conn = await mysql.createConnection({ ...parseMysqlUrl(process.env.MYSQL_URL as string), database: undefined });
    await conn.query(`DROP DATABASE IF EXISTS \`${database}\``);
    await conn.end();
    const redis = new Redis(process.env.REDIS_URL as string);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  const cluster = run('dist/scripts/start.js', env);
  t.teardown(() => {
    if (cluster.proc.exitCode === null) cluster.proc.kill('SIGKILL');
  });
  await waitFor(() => cluster.out.text.includes('TeamTalk cluster is up'), 60_000, 'the banner');
  t.match(cluster.out.text, `login: http://127.0.0.1:${http}/msg_server`);
  t.match(cluster.out.text, `web chat: http://127.0.0.1:${http}/chat/`);
  t.match(cluster.out.text, `msg servers for browsers: ws://127.0.0.1:${ws1}/, ws://127.0.0.1:${ws2}/`);
  t.match(cluster.out.text, /demo logins: alice, bob, carol, dave \(password "teamtalk"\)/);
  t.match(cluster.out.text, /npm run client -- --user alice/);

  // Two demo users on the two msg servers chat.
  t.match(cluster.out.text, `pictures (msfs): http://127.0.0.1:${msfs}/    file server: 127.0.0.1:${file}`, 'the banner lists the file store and file server');
  t.match(cluster.out.text, `push server 127.0.0.1:${push}`);
  const a = await fetchMsgServer(`http://127.0.0.1:${http}/msg_server`);
  t.equal(a.raw.msfsPrior, `http://127.0.0.1:${msfs}/`, 'the login server points clients at the file store');
  const form = new FormData();
  form.append('file0', new Blob([Buffer.from('GIF89a-tiny')]), 'x.gif');
  const upload = (await (await fetch(String(a.raw.msfsPrior), { method: 'POST', body: form })).json()) as { error_code: number; url: string };
  t.equal(upload.error_code, 0, 'msfs stores a picture');
  t.equal(await (await fetch(upload.url)).text(), 'GIF89a-tiny');
  const alice = await ImClient.connect({ host: a.host, port: a.port });
  await alice.login('alice', DEMO_PASSWORD);
  const b = await fetchMsgServer(`http://127.0.0.1:${http}/msg_server`);
  t.not(b.port, a.port, 'the second login goes to the other (less loaded) msg server');
  const bob = await ImClient.connect({ host: b.host, port: b.port });
  await bob.login('bob', DEMO_PASSWORD);
  const ack = await alice.sendText(bob.userId, 'hi bob');
  const got = await bob.next(IM.Message.IMMsgData, (m) => m.msg_id === ack.msg_id, 10_000);
  t.equal(got.from_user_id, alice.userId, 'delivered across msg servers');

  // A second instance says so and exits.
  const second = run('dist/scripts/start.js', env);
  t.equal(await second.exited, 1);
  t.match(second.out.text, /already running \(pid \d+/);

  // One more msg server joins the running cluster.
  const extra = run('dist/scripts/add-msg-server.js', env, ['--port', String(msg3), '--ws-port', String(ws3)]);
  await waitFor(async () => ((await (await fetch(`http://127.0.0.1:${admin}/msg_servers`)).json()) as unknown[]).length === 3, 30_000, 'third msg server registered');
  extra.proc.kill('SIGTERM');
  t.equal(await extra.exited, 0, 'the extra msg server stops cleanly');
  await waitFor(async () => ((await (await fetch(`http://127.0.0.1:${admin}/msg_servers`)).json()) as unknown[]).length === 2, 10_000, 'it leaves the list');

  alice.close();
  bob.close();
  // The supervisor's children must all be gone after SIGTERM.
  const children = execFileSync('pgrep', ['-P', String(cluster.proc.pid)], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map(Number)
    .filter(Boolean);
  t.equal(children.length, 8, 'db-proxy, route, login, msfs, file server, push server and two msg servers run as separate processes');
  cluster.proc.kill('SIGTERM');
  t.equal(await cluster.exited, 0);
  await waitFor(() => children.every((pid) => !isAlive(pid)), 10_000, 'children gone');
  t.pass('no orphans left');
});
