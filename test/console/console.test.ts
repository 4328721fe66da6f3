/**
 * The web console in a real headless browser (Debian's chromium through
 * puppeteer-core), against a real cluster of two msg servers: sign in, see the
 * cluster and a logged-in client, kick it (the client receives the kick), drain
 * a msg server, change a log level, disable and enable an account, watch the
 * charts and warnings, sign out. Then what it must refuse: anything without a
 * session, actions without the CSRF token or from another origin, a sign-in
 * link used twice, and more sign-in attempts than allowed.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IM } from '../../pdu/commands';
import { issueSignInLink } from '../../services/console/auth';
import { consoleConfig, type ConsoleConfig } from '../../services/console/config';
import { startConsole } from '../../services/console/console';
import { adminGet } from '../helpers/admin';
import { clickWhenReady } from '../helpers/browser';
import { launchBrowser, textOf, textsOf } from '../helpers/browser';
import { startCluster } from '../helpers/cluster';
import { tlsSettings } from '../helpers/tls';
import { waitFor } from '../helpers/wait';

const OPERATOR_PASSWORD = 'console-test-password';
const WAIT_MS = 15_000;
const portOf = (url: string) => Number(new URL(url).port);

t.test('the console in a browser: cluster, users, kick, drain, log level, accounts, charts', async (t) => {
  const cluster = await startCluster(t, { msgServers: 2, captureLogs: true, msg: { drainBatchSize: 10, drainIntervalMs: 200 } });
  await cluster.addUsers(['alice', 'bob', 'carol']);
  const dir = mkdtempSync(join(tmpdir(), 'tt-console-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const operatorsFile = join(dir, 'credentials.json');
  writeFileSync(operatorsFile, JSON.stringify({ consoleOperators: [{ name: 'admin', password: OPERATOR_PASSWORD }] }), { mode: 0o600 });
  const config: ConsoleConfig = consoleConfig.load({
    env: {},
    overrides: {
      httpPort: 0,
      loginServers: [{ host: '127.0.0.1', port: cluster.login.adminPort }],
      routeServers: [{ host: '127.0.0.1', port: portOf(cluster.route.adminUrl) }],
      dbProxies: [{ host: '127.0.0.1', port: portOf(cluster.dbProxy.adminUrl) }],
      mysqlUrl: cluster.db.url,
      operatorsFile,
      signInLinkFile: join(dir, 'links.json'),
      sampleIntervalMs: 300,
      signInMaxFailures: 3,
      ...tlsSettings('admin'),
    },
  });
  const running = await startConsole(config, cluster.logger('console'));
  t.teardown(() => running.stop('test over'));
  const url = running.url;

  const alice = await cluster.loginAs('alice', 0);
  const bob = await cluster.loginAs('bob', 1);
  for (let i = 0; i < 5; i++) await alice.sendText(bob.userId, `hi ${i}`);

  const browser = await launchBrowser(t);
  const page = await browser.newPerson();
  page.on('dialog', (dialog) => void dialog.accept()); // the console confirm()s its actions

  // Nothing without signing in: the app sends you to the sign-in page.
  await page.goto(`${url}/`);
  t.equal(new URL(page.url()).pathname, '/signin', 'the console starts at the sign-in page');
  await page.type('#password', 'wrong');
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  t.match(await textOf(page, '.message'), /Wrong operator name or password/, 'a wrong password is refused');
  await page.type('#password', OPERATOR_PASSWORD);
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  t.equal(new URL(page.url()).pathname, '/', 'signed in');
  t.equal(await textOf(page, '#operator'), 'admin');

  // The cluster at a glance: both msg servers, with the route server, db-proxy and login server.
  await page.waitForFunction(() => (globalThis as unknown as { document: { querySelectorAll(s: string): { length: number } } }).document.querySelectorAll('#msg-servers tbody tr').length === 2, { timeout: WAIT_MS });
  const rows = await textsOf(page, '#msg-servers tbody tr');
  for (const server of cluster.msgServers) t.ok(rows.some((r) => r.includes(`127.0.0.1:${server.port}`) && r.includes('active')), `msg server ${server.port} listed as active`);
  const services = await textsOf(page, '#services tbody tr');
  t.ok(services.some((r) => r.startsWith('route-server') && r.includes('up')), 'the route server is up');
  t.ok(services.some((r) => r.startsWith('db-proxy') && r.includes('MySQL up, Redis up')), 'the db-proxy and its storage are up');
  t.ok(services.some((r) => r.startsWith('login-server') && r.includes('2 msg servers')), 'the login server lists both');
  await waitFor(async () => (await textOf(page, '#online-count')) === '2', WAIT_MS, 'two users online');

  // Live charts: samples every 300 ms; the five messages show as a rate and a store latency.
  await waitFor(async () => Number(await page.$eval('#chart-rate polyline', (e) => (e as unknown as { dataset: { points: string } }).dataset.points)) >= 2, WAIT_MS, 'rate chart points');
  const series = (await (await page.evaluate(`fetch('/api/series').then((r) => r.json())`)) as { points: Array<{ messagesPerSecond: number; storeP99Ms: number | null }> }).points;
  t.ok(series.some((p) => p.messagesPerSecond > 0), 'the message rate saw the messages');
  t.ok(series.some((p) => p.storeP99Ms !== null && p.storeP99Ms > 0), 'the store latency saw them too');

  // Online users: search alice, see her device and msg server, kick her: the client gets the kick.
  await page.type('#user-query', 'ali');
  await page.click('#user-search button');
  await page.waitForSelector('#user-results tr[data-user="alice"]', { timeout: WAIT_MS });
  const found = await textOf(page, '#user-results tr[data-user="alice"]');
  t.match(found, `127.0.0.1:${cluster.msgServers[0].port}`, 'alice is shown on her msg server');
  t.match(found, /windows 127\.0\.0\.1:\d+/, 'with her device');
  const kicked = alice.next(IM.Login.IMKickUser, () => true, WAIT_MS);
  await clickWhenReady(page, '#user-results tr[data-user="alice"] button.kick', WAIT_MS);
  t.equal((await kicked).kick_reason, IM.BaseDefine.KickReasonType.KICK_REASON_DUPLICATE_USER, 'alice\'s client received the kick');
  await waitFor(() => !alice.isOpen, WAIT_MS, 'alice disconnected');
  await waitFor(async () => (await textsOf(page, '#actions li')).some((a) => /admin \(.+\): kick alice: 1 connection/.test(a)), WAIT_MS, 'the kick in the action log');
  await cluster.logLine((l) => l.msg === 'operator kicked a user' && l.by === 'admin', 'the msg server logged who kicked');

  // Log level of the route server, from its row.
  await page.select('#services tr[data-kind="route-server"] select.log-level', 'debug');
  await waitFor(async () => (await adminGet<{ level: string }>(cluster.route.adminUrl, 'route-server', '/log-level')).level === 'debug', WAIT_MS, 'route server at debug');
  await waitFor(async () => (await textsOf(page, '#actions li')).some((a) => /log level route-server .*: info -> debug/.test(a)), WAIT_MS, 'logged in the action log');

  // Accounts.
  await page.type('#account-name', 'carol');
  await page.click('#account-disable');
  await waitFor(async () => (await cluster.query<{ status: number }>('SELECT status FROM IMUser WHERE name = ?', ['carol']))[0].status === 3, WAIT_MS, 'carol disabled');
  await page.click('#account-enable');
  await waitFor(async () => (await cluster.query<{ status: number }>('SELECT status FROM IMUser WHERE name = ?', ['carol']))[0].status === 0, WAIT_MS, 'carol enabled again');

  // Recent warnings from the services (the kick was one).
  await waitFor(async () => (await textsOf(page, '#warnings li')).some((w) => w.includes('operator kicked a user')), WAIT_MS, 'the kick among the recent warnings');

  // Drain the second msg server: bob is moved off, the server finishes.
  const second = cluster.msgServers[1];
  const bobGone = new Promise<void>((resolve) => bob.once('close', () => resolve()));
  await clickWhenReady(page, `#msg-servers tr[data-url="${second.adminUrl}"] button.drain`, WAIT_MS);
  await waitFor(async () => (await adminGet<{ state: string }>(second.adminUrl, 'msg-server', '/status')).state !== 'active', WAIT_MS, 'draining');
  await bobGone;
  t.equal(await second.done, 'drained', 'the drained msg server finished');
  await waitFor(async () => (await textsOf(page, '#actions li')).some((a) => /drain .*: drain started/.test(a)), WAIT_MS, 'the drain in the action log');
  await second.stop('drained');

  t.same(browser.pageErrors, [], 'no script errors in the page');
  await Promise.all([page.waitForNavigation(), page.click('#signout button')]);
  t.equal(new URL(page.url()).pathname, '/signin', 'signed out');
  const after = await page.evaluate(`fetch('/api/overview').then((r) => r.status)`);
  t.equal(after, 401, 'the session is gone');
});

t.test('the console refuses what it must', async (t) => {
  const cluster = await startCluster(t, { msgServers: 1 });
  await cluster.addUsers(['alice']);
  const dir = mkdtempSync(join(tmpdir(), 'tt-console-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const operatorsFile = join(dir, 'credentials.json');
  writeFileSync(operatorsFile, JSON.stringify({ consoleOperators: [{ name: 'admin', password: OPERATOR_PASSWORD }] }), { mode: 0o600 });
  const linkFile = join(dir, 'links.json');
  const running = await startConsole(
    consoleConfig.load({
      env: {},
      overrides: {
        httpPort: 0,
        loginServers: [{ host: '127.0.0.1', port: cluster.login.adminPort }],
        routeServers: [],
        dbProxies: [],
        mysqlUrl: cluster.db.url,
        operatorsFile,
        signInLinkFile: linkFile,
        signInMaxFailures: 3,
        ...tlsSettings('admin'),
      },
    }),
    cluster.logger('console'),
  );
  t.teardown(() => running.stop('test over'));
  const url = running.url;
  const get = (path: string, cookie = '') => fetch(url + path, { redirect: 'manual', headers: cookie ? { cookie } : {} });

  for (const path of ['/api/overview', '/api/users?q=a', '/api/series', '/api/warnings', '/api/actions', '/assets/console.js', '/assets/console.css', '/nothing']) {
    t.equal((await get(path)).status, 401, `${path} needs a session`);
  }
  for (const path of ['/api/kick', '/api/drain', '/api/log-level', '/api/accounts', '/signout']) {
    const res = await fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"user":"alice"}' });
    t.equal(res.status, 401, `POST ${path} needs a session`);
  }
  const root = await get('/');
  t.equal(root.status, 303);
  t.equal(root.headers.get('location'), '/signin');
  t.match((await get('/signin')).headers.get('content-security-policy') ?? '', /default-src 'none'.*frame-ancestors 'none'/, 'a strict content security policy');

  // The sign-in form needs its own token (no sign-in from another site's form).
  const blind = await fetch(`${url}/signin`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `name=admin&password=${OPERATOR_PASSWORD}` });
  t.equal(blind.status, 403, 'a sign-in POST without the form\'s token is refused');

  // A one-time link: works once, then never again; a made-up one never.
  const token = issueSignInLink(linkFile, 'admin', 60_000);
  const first = await get(`/signin/link?token=${token}`);
  t.equal(first.status, 303, 'the link signs in');
  const cookie = (first.headers.get('set-cookie') ?? '').split(';')[0];
  t.match(cookie, /^tt_console=/);
  t.equal((await get(`/signin/link?token=${token}`)).status, 401, 'a used link does not work again');
  const expired = issueSignInLink(linkFile, 'admin', -1);
  t.equal((await get(`/signin/link?token=${expired}`)).status, 401, 'an expired link does not work');

  // Signed in: reads work; actions need the CSRF token and our own origin.
  const overview = await get('/api/overview', cookie);
  t.equal(overview.status, 200);
  const page = await (await get('/', cookie)).text();
  const csrf = /name="csrf-token" content="([^"]+)"/.exec(page)?.[1] as string;
  t.ok(csrf, 'the page carries the CSRF token');
  const kick = (headers: Record<string, string>) =>
    fetch(`${url}/api/kick`, { method: 'POST', headers: { cookie, 'content-type': 'application/json', ...headers }, body: '{"user":"alice"}' });
  t.equal((await kick({})).status, 403, 'an action without the CSRF token is refused');
  t.equal((await kick({ 'x-csrf-token': 'guess' })).status, 403, 'with a wrong one too');
  t.equal((await kick({ 'x-csrf-token': csrf, origin: 'http://evil.example' })).status, 403, 'and from another origin');
  const ok = await kick({ 'x-csrf-token': csrf });
  t.equal(ok.status, 200, 'with the token it goes through');
  t.match(await ok.json(), { kicked: 0 }, 'alice is not online');
  const badLevel = await fetch(`${url}/api/log-level`, { method: 'POST', headers: { cookie, 'content-type': 'application/json', 'x-csrf-token': csrf }, body: JSON.stringify({ url: 'https://example.com:1', level: 'debug' }) });
  t.equal(badLevel.status, 400, 'a service the console does not know cannot be targeted');
  const badAccount = await fetch(`${url}/api/accounts`, { method: 'POST', headers: { cookie, 'content-type': 'application/json', 'x-csrf-token': csrf }, body: JSON.stringify({ name: 'nobody', action: 'disable' }) });
  t.equal(badAccount.status, 400, 'an unknown account is a clear error');
  t.match(await badAccount.json(), { error: /does not exist/ });

  // Sign-in attempts (passwords and links) are limited per address: after 3 failures even the right password waits.
  const attempt = async (password: string) => {
    const form = await get('/signin');
    const formCookie = (form.headers.get('set-cookie') ?? '').split(';')[0];
    const formToken = /name="csrf" value="([^"]+)"/.exec(await form.text())?.[1] ?? '';
    return fetch(`${url}/signin`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: formCookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ name: 'admin', password, csrf: formToken }).toString(),
    });
  };
  // The used and the expired link above were failures 1 and 2.
  t.equal((await attempt('wrong')).status, 401, 'a wrong password: failure 3');
  const limited = await attempt(OPERATOR_PASSWORD);
  t.equal(limited.status, 429, 'then sign-in is refused for a while');
  t.ok(Number(limited.headers.get('retry-after')) > 0, 'saying when to try again');
});
