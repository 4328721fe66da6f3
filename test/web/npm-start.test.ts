/**
 * What the issue promises a person: after `npm start`, open the web chat URL
 * the banner prints, sign in as a demo user, and chat with someone using
 * `npm run client` (the terminal client, a separate process over TCP).
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { DEMO_PASSWORD } from '../../scripts/db/seed';
import { launchBrowser } from '../helpers/browser';
import { prepareClusterRun, runScript as run } from '../helpers/npm-start';
import { waitFor } from '../helpers/wait';
import { ChatPage } from './chat-page';

/** In the page function below (it runs in the browser). */
declare const document: { querySelectorAll(selector: string): Iterable<{ textContent: string | null; getAttribute(name: string): string | null }> };

t.test('npm start: the banner\'s web chat URL works, and a browser user chats with npm run client', async (t) => {
  const { env, ports, loginUrl } = await prepareClusterRun(t, 2);
  const cluster = run('dist/scripts/start.js', env);
  t.teardown(() => {
    if (cluster.proc.exitCode === null) cluster.proc.kill('SIGKILL');
  });
  await waitFor(() => cluster.out.text.includes('TeamTalk cluster is up'), 60_000, 'the banner');
  const url = /web chat: (http:\/\/\S+\/chat\/)/.exec(cluster.out.text)?.[1];
  t.equal(url, `http://127.0.0.1:${ports.http}/chat/`, 'the banner prints the web chat URL');

  const browser = await launchBrowser(t);
  const alice = await ChatPage.signedIn(browser, url as string, 'alice', DEMO_PASSWORD);

  const bob = run('dist/tools/client/cli.js', { ...env, NO_COLOR: '1' }, ['--user', 'bob', '--password', DEMO_PASSWORD, '--login-url', loginUrl], 'pipe');
  const type = (line: string) => (bob.proc.stdin as Writable).write(line);
  t.teardown(() => {
    if (bob.proc.exitCode === null) bob.proc.kill('SIGKILL');
  });
  await waitFor(() => bob.out.text.includes('type /help for commands'), 20_000, 'the terminal client to log in');
  type('/msg alice hello from the terminal\n');
  await waitFor(() => /sent to alice \(msg id \d+\)/.test(bob.out.text), 20_000, 'the terminal client\'s send');

  const bobId = await alice.page.evaluate(() => {
    const person = [...document.querySelectorAll('#people [data-user-id]')].find((b) => /bob/.test(b.textContent ?? ''));
    return Number(person?.getAttribute('data-user-id'));
  });
  await alice.waitUnread(`u:${bobId}`, 1);
  await alice.openSession(`u:${bobId}`);
  await alice.waitForMessage('hello from the terminal');
  await alice.send('hello from the browser');
  await waitFor(() => /new message from alice.*hello from the browser/.test(bob.out.text), 20_000, 'the terminal client to show the reply');
  t.pass('the terminal client shows the browser user\'s reply');

  type('/quit\n');
  t.equal(await bob.exited, 0);
  cluster.proc.kill('SIGTERM');
  t.equal(await cluster.exited, 0, 'the cluster stops cleanly');
  t.same(browser.pageErrors, []);
});

t.test('npm start refuses a WebSocket port list that does not match the msg servers, naming the key', async (t) => {
  const runDir = mkdtempSync(join(tmpdir(), 'tt-start-web-'));
  t.teardown(() => rmSync(runDir, { recursive: true, force: true }));
  const start = run('dist/scripts/start.js', { ...process.env, TT_RUN_DIR: runDir, TT_CLUSTER_MSG_SERVER_PORTS: '18000,18001', TT_CLUSTER_MSG_SERVER_WS_PORTS: '18400' });
  t.equal(await start.exited, 1);
  t.match(start.out.text, /key "msgServerWsPorts" lists 1 WebSocket ports for 2 msg servers/);
});

t.test('the web origins msg servers accept: the login server by the addresses people use', async (t) => {
  const { webOrigins } = await import('../../scripts/cluster/web');
  t.same(webOrigins({ clientHost: '127.0.0.1', publicIp: '127.0.0.1', loginHttpPort: 8080 }), ['http://127.0.0.1:8080', 'http://localhost:8080']);
  t.same(webOrigins({ clientHost: '0.0.0.0', publicIp: '192.0.2.7', loginHttpPort: 80 }), ['http://127.0.0.1:80', 'http://192.0.2.7:80', 'http://localhost:80']);
  t.same(webOrigins({ clientHost: '::', publicIp: '2001:db8::7', loginHttpPort: 8080 }), ['http://127.0.0.1:8080', 'http://[2001:db8::7]:8080', 'http://localhost:8080']);
});
