/**
 * A rolling restart of every msg server of `npm start`, as the README tells an
 * operator to do it (`npm run msg-server -- rolling-restart`), while people
 * chat: each msg server drains, exits, is started again by the supervisor as a
 * new process, and the next one follows; the clients move over and back, and
 * no acked message is lost or shown twice. Also: drain's usage errors.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { DEMO_PASSWORD, DEMO_USERS } from '../../scripts/db/seed';
import { ChatFlow } from '../helpers/chat-flow';
import { prepareClusterRun, runScript } from '../helpers/npm-start';
import { sleep, waitFor } from '../helpers/wait';

function msgServerPids(supervisorPid: number, msgPorts: number[]): Map<number, number> {
  // The children's command lines do not name their port; their environment does.
  const pids = execFileSync('pgrep', ['-P', String(supervisorPid)], { encoding: 'utf8' }).trim().split('\n').map(Number).filter(Boolean);
  const out = new Map<number, number>();
  for (const pid of pids) {
    let environ = '';
    try {
      environ = execFileSync('cat', [`/proc/${pid}/environ`], { encoding: 'utf8' });
    } catch {
      continue;
    }
    const port = /(?:^|\0)TT_MSG_LISTEN_PORT=(\d+)/.exec(environ)?.[1];
    if (port !== undefined && msgPorts.includes(Number(port))) out.set(Number(port), pid);
  }
  return out;
}

t.test('rolling restart of every msg server while the chat flow runs: nothing acked is lost', async (t) => {
  const run = await prepareClusterRun(t, 2);
  const cluster = runScript('dist/scripts/start.js', run.env);
  t.teardown(() => {
    if (cluster.proc.exitCode === null) cluster.proc.kill('SIGKILL');
  });
  await waitFor(() => cluster.out.text.includes('TeamTalk cluster is up'), 60_000, 'the banner');
  const before = msgServerPids(cluster.proc.pid as number, run.ports.msg);
  t.equal(before.size, 2, 'two msg server processes');

  const flow = await ChatFlow.start(run.loginUrl, DEMO_USERS.map((u) => u.name), DEMO_PASSWORD);
  t.teardown(() => flow.close());
  const where = new Set(flow.users.map((u) => u.client.where));
  t.equal(where.size, 2, 'the users are on both msg servers');
  flow.run(50);
  await sleep(1000);

  const restart = runScript('dist/scripts/add-msg-server.js', run.env, ['rolling-restart']);
  t.equal(await restart.exited, 0, 'the rolling restart finishes');
  for (const port of run.ports.msg) {
    t.match(restart.out.text, new RegExp(`msg-server-\\d \\(port ${port}\\): drain started`), `port ${port} drained`);
    t.match(restart.out.text, new RegExp(`port ${port}: back and taking clients`), `port ${port} came back`);
  }
  t.match(restart.out.text, /rolling restart done/);
  const after = msgServerPids(cluster.proc.pid as number, run.ports.msg);
  t.equal(after.size, 2, 'both msg servers run again');
  for (const port of run.ports.msg) t.not(after.get(port), before.get(port), `port ${port} is a new process`);

  await waitFor(() => flow.users.every((u) => u.client.isOpen), 20_000, 'every client logged in again');
  t.ok(flow.users.every((u) => u.client.logins >= 2), 'every client was moved at least once');
  await sleep(1000);
  await flow.stop();
  t.ok(flow.acked.size > 50, `messages kept flowing (${flow.acked.size} acked)`);
  await waitFor(() => flow.missing().length === 0, 20_000, 'every acked message received').catch(() => undefined);
  t.same(flow.missing(), [], 'no acked message lost');
  t.equal(flow.duplicates, 0, 'none shown twice');
  t.notMatch(cluster.out.text, /stopped on a configuration error/);

  const usage = runScript('dist/scripts/add-msg-server.js', run.env, ['drain']);
  t.equal(await usage.exited, 2, 'drain without a port is a usage error');
  t.match(usage.out.text, /drain needs the client port of one msg server/);
  const unknown = runScript('dist/scripts/add-msg-server.js', run.env, ['drain', '1']);
  t.equal(await unknown.exited, 1);
  t.match(unknown.out.text, /no msg server on client port 1 is registered/);

  cluster.proc.kill('SIGTERM');
  t.equal(await cluster.exited, 0, 'npm start stops cleanly');
});
