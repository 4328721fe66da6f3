/**
 * `npm start` as a user runs it: the supervisor starts every service as its own
 * process, prints the banner, serves logins, refuses a second instance, lets a
 * msg server join, and leaves no process behind when stopped.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { IM } from '../../pdu/commands';
import { DEMO_PASSWORD } from '../../scripts/db/seed';
import { freeLoopbackPort } from '../../scripts/infra/system';
import { ImClient, fetchMsgServer } from '../../tools/client/im-client';
import { clusterAdmin, prepareClusterRun, runScript as run } from '../helpers/npm-start';
import { waitFor } from '../helpers/wait';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

t.test('npm start: cluster up, logins work, second instance refused, a msg server joins, clean stop', async (t) => {
  const { runDir, env, ports } = await prepareClusterRun(t, 2);
  const { http, loginAdmin: admin, routeAdmin, dbAdmin } = ports;
  const [msgAdmin1, msgAdmin2] = ports.msgAdmin;
  const consolePort = ports.console;
  const [msg3, msgAdmin3, ws3] = await Promise.all([freeLoopbackPort(), freeLoopbackPort(), freeLoopbackPort()]);
  const cluster = run('dist/scripts/start.js', env);
  t.teardown(() => {
    if (cluster.proc.exitCode === null) cluster.proc.kill('SIGKILL');
  });
  await waitFor(() => cluster.out.text.includes('TeamTalk cluster is up'), 60_000, 'the banner');
  t.match(cluster.out.text, `login: http://127.0.0.1:${http}/msg_server`);
  t.match(cluster.out.text, `web chat: http://127.0.0.1:${http}/chat/`);
  t.match(cluster.out.text, `msg servers for browsers: ws://127.0.0.1:${ports.msgWs[0]}/, ws://127.0.0.1:${ports.msgWs[1]}/`);
  t.match(cluster.out.text, /demo logins: alice, bob, carol, dave \(password "teamtalk"\)/);
  t.match(cluster.out.text, /npm run client -- --user alice/);
  const metricsLine = /metrics: (.*)/.exec(cluster.out.text)?.[1] ?? '';
  t.same(
    metricsLine.split(' '),
    [admin, routeAdmin, dbAdmin, msgAdmin1, msgAdmin2].map((p) => `https://127.0.0.1:${p}/metrics`),
    'the banner lists every service\'s metrics URL',
  );
  const adminClient = clusterAdmin(runDir);
  t.teardown(() => adminClient.close());
  for (const [url, role] of metricsLine.split(' ').map((u, i) => [u, (['login-server', 'route-server', 'db-proxy', 'msg-server', 'msg-server'] as const)[i]] as const)) {
    const text = await adminClient.text({ url: url.replace(/\/metrics$/, ''), role }, '/metrics');
    t.match(text, /^process_cpu_user_seconds_total /m, `${url} serves metrics over mutual TLS`);
  }
  const link = new RegExp(`console: (http://127\\.0\\.0\\.1:${consolePort}/signin/link\\?token=\\S+)`).exec(cluster.out.text)?.[1];
  t.ok(link, 'the banner has the console\'s one-time sign-in link');
  const signedIn = await fetch(link as string, { redirect: 'manual' });
  t.equal(signedIn.status, 303, 'the link signs in');
  t.match(signedIn.headers.get('set-cookie') ?? '', /tt_console=[^;]+;.*HttpOnly.*SameSite=Strict/i, 'with an HttpOnly, SameSite=Strict session cookie');
  t.equal((await fetch(link as string, { redirect: 'manual' })).status, 401, 'the link works once');
  const creds = JSON.parse(readFileSync(join(runDir, 'credentials.json'), 'utf8')) as { consoleOperators: Array<{ name: string; password: string }> };
  t.equal(creds.consoleOperators[0].name, 'admin', 'the operator password is in .run/credentials.json');
  t.equal(statSync(join(runDir, 'credentials.json')).mode & 0o777, 0o600, 'which is mode 600');

  // Two demo users on the two msg servers chat.
  t.match(cluster.out.text, `pictures (msfs): http://127.0.0.1:${ports.msfs}/    file server: 127.0.0.1:${ports.file}`, 'the banner lists the file store and file server');
  t.match(cluster.out.text, `push server 127.0.0.1:${ports.push}`);
  const a = await fetchMsgServer(`http://127.0.0.1:${http}/msg_server`);
  t.equal(a.raw.msfsPrior, `http://127.0.0.1:${ports.msfs}/`, 'the login server points clients at the file store');
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
  const extra = run('dist/scripts/add-msg-server.js', env, ['--port', String(msg3), '--admin-port', String(msgAdmin3), '--ws-port', String(ws3)]);
  const listed = async () => (await adminClient.get<unknown[]>({ url: `https://127.0.0.1:${admin}`, role: 'login-server' }, '/msg_servers')).length;
  await waitFor(async () => (await listed()) === 3, 30_000, 'third msg server registered');
  extra.proc.kill('SIGTERM');
  t.equal(await extra.exited, 0, 'the extra msg server stops cleanly');
  await waitFor(async () => (await listed()) === 2, 10_000, 'it leaves the list');

  alice.close();
  bob.close();
  // The supervisor's children must all be gone after SIGTERM.
  const children = execFileSync('pgrep', ['-P', String(cluster.proc.pid)], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map(Number)
    .filter(Boolean);
  t.equal(children.length, 9, 'db-proxy, route, login, msfs, file server, push server, two msg servers and the console run as separate processes');
  cluster.proc.kill('SIGTERM');
  t.equal(await cluster.exited, 0);
  await waitFor(() => children.every((pid) => !isAlive(pid)), 10_000, 'children gone');
  t.pass('no orphans left');
});

t.test('a service that refuses its configuration (exit code 2) is not restarted: npm start stops and shows the error', async (t) => {
  // Every msg server inherits this and refuses it.
  const { env, ports } = await prepareClusterRun(t, 1, { TT_MSG_FLOOD_LIMIT_PER_SECOND: 'lots' });
  const { http } = ports;
  const cluster = run('dist/scripts/start.js', env);
  t.teardown(() => {
    if (cluster.proc.exitCode === null) cluster.proc.kill('SIGKILL');
  });
  const code = await cluster.exited;
  t.equal(code, 2, 'npm start exits with the configuration error code');
  t.match(cluster.out.text, /msg-server-1 stopped on a configuration error \(exit code 2\); not restarting it/);
  t.notMatch(cluster.out.text, /msg-server-1 exited .*restarting/, 'never restarted');
  t.notMatch(cluster.out.text, /TeamTalk cluster is up/);
  const tail = cluster.out.text.trimEnd().split('\n').slice(-2).join('\n');
  t.match(tail, /msg-server-1 refused its configuration[^\n]*\n.*key "floodLimitPerSecond" must be an integer from 1 to \d+, got "lots" \(from environment variable TT_MSG_FLOOD_LIMIT_PER_SECOND\)/, 'the last lines show the error naming the key');
  await waitFor(async () => {
    try {
      await fetch(`http://127.0.0.1:${http}/msg_server`);
      return false;
    } catch {
      return true;
    }
  }, 10_000, 'the rest of the cluster stopped');
  t.pass('the other services were stopped');
});
