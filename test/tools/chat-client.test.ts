/**
 * The terminal chat client, driven through stdin/stdout as a person would use
 * it: two real client processes against a real cluster, on two msg servers.
 */
import t, { type Test } from 'tap';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from '../../lib/paths';
import { PASSWORD, startCluster } from '../helpers/cluster';
import { freeLoopbackPort } from '../../scripts/infra/system';
import { waitFor } from '../helpers/wait';

interface ChatProcess {
  proc: ChildProcessWithoutNullStreams;
  output(): string;
  type(line: string): void;
  /** Waits for `pattern` in the output after `from` (an index into the output). */
  expect(pattern: RegExp, from?: number): Promise<number>;
  exited: Promise<number>;
}

function chat(t: Test, args: string[]): ChatProcess {
  const proc = spawn(process.execPath, [join(projectRoot, 'dist/tools/client/cli.js'), ...args], {
    cwd: projectRoot,
    env: { ...process.env, NO_COLOR: '1' },
  });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number>((resolve) => proc.on('exit', (code) => resolve(code ?? 1)));
  t.teardown(() => {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  });
  return {
    proc,
    output: () => out,
    type: (line) => proc.stdin.write(line + '\n'),
    async expect(pattern, from = 0) {
      let index = -1;
      await waitFor(
        () => {
          const m = pattern.exec(out.slice(from));
          if (m) index = from + m.index + m[0].length;
          return m !== null;
        },
        15_000,
        `${pattern} in:\n${out}`,
      );
      return index;
    },
    exited,
  };
}

t.test('two people chat through the terminal client across two msg servers', async (t) => {
  const cluster = await startCluster(t);
  await cluster.addUsers(['alice', 'bob', 'carol']);
  const login = ['--password', PASSWORD, '--login-url', cluster.loginUrl];

  const alice = chat(t, ['--user', 'alice', ...login]);
  await alice.expect(/logged in as alice \(ALICE\), user id \d+, on 127\.0\.0\.1:(\d+)/);
  await alice.expect(/no recent conversations/);
  await alice.expect(/type \/help for commands/);
  const bob = chat(t, ['--user', 'bob', ...login]);
  await bob.expect(/type \/help for commands/);
  const port = (s: string) => /on 127\.0\.0\.1:(\d+)/.exec(s)?.[1];
  t.not(port(alice.output()), port(bob.output()), 'the login server put them on different msg servers');

  alice.type('/help');
  await alice.expect(/\/newgroup NAME a,b,c/);

  alice.type('/open bob');
  await alice.expect(/--- conversation with bob ---/);
  await alice.expect(/\(no messages yet\)/);
  alice.type('hello bob, how are you?');
  await alice.expect(/sent to bob \(msg id 1\)/);
  await bob.expect(/\* new message from alice \(1 unread\)/);

  let mark = bob.output().length;
  bob.type('/sessions');
  await bob.expect(/alice\s+1 unread\s+\d\d:\d\d\s+hello bob, how are you\?/, mark);

  bob.type('/open alice');
  mark = await bob.expect(/\[\d\d:\d\d\] alice: hello bob, how are you\?/);
  // Shown, so read: the unread count is cleared on the server.
  bob.type('/sessions');
  await bob.expect(/recent conversations:\n\s+alice\s+\d\d:\d\d/, mark);

  bob.type('fine, thanks!');
  await alice.expect(/\[\d\d:\d\d\] bob: fine, thanks!/);

  mark = alice.output().length;
  alice.type('/users');
  await alice.expect(/bob\s+BOB\s+online/, mark);
  await alice.expect(/carol\s+CAROL\s+offline/, mark);
  alice.type('/online');
  mark = await alice.expect(/alice\s+ALICE\s+online/, mark);

  alice.type('/newgroup lunch bob,carol');
  await alice.expect(/created group #lunch \(id \d+\)/);
  await alice.expect(/--- group #lunch ---/);
  alice.type('pizza at noon?');
  await alice.expect(/sent to #lunch/);
  await bob.expect(/\* new message from alice in #lunch \(1 unread\)/);
  bob.type('/group lunch');
  await bob.expect(/\[\d\d:\d\d\] alice: pizza at noon\?/);

  alice.type('/quit');
  t.equal(await alice.exited, 0, 'alice logs out cleanly');
  bob.proc.stdin.end(); // Ctrl-D
  t.equal(await bob.exited, 0, 'end of input logs out too');
});

t.test('clear errors: wrong password, login server down, unknown command', async (t) => {
  const cluster = await startCluster(t, { msgServers: 1 });
  await cluster.addUsers(['alice']);
  const wrong = chat(t, ['--user', 'alice', '--password', 'nope', '--login-url', cluster.loginUrl]);
  t.equal(await wrong.exited, 1);
  t.match(wrong.output(), /login failed: /);

  const closedPort = await freeLoopbackPort();
  const down = chat(t, ['--user', 'alice', '--password', PASSWORD, '--login-url', `http://127.0.0.1:${closedPort}/msg_server`]);
  t.equal(await down.exited, 1);
  t.match(down.output(), /cannot reach the login server at http:\/\/127\.0\.0\.1:\d+\/msg_server — is the cluster running\? \(npm start\)/);

  const usage = chat(t, ['--password', 'x']);
  t.equal(await usage.exited, 2);
  t.match(usage.output(), /--user is required/);

  const alice = chat(t, ['--user', 'alice', '--password', PASSWORD, '--login-url', cluster.loginUrl]);
  await alice.expect(/type \/help for commands/);
  alice.type('/dance');
  await alice.expect(/error: unknown command \/dance \(try \/help\)/);
  alice.type('hello?');
  await alice.expect(/error: open a conversation first/);
  alice.type('/open nobody');
  await alice.expect(/error: no user named "nobody"/);
  alice.type('/quit');
  t.equal(await alice.exited, 0);
});

t.test('a second login elsewhere logs the terminal client out with a clear message', async (t) => {
  const cluster = await startCluster(t, { msgServers: 1 });
  await cluster.addUsers(['alice']);
  const first = chat(t, ['--user', 'alice', '--password', PASSWORD, '--login-url', cluster.loginUrl]);
  await first.expect(/type \/help for commands/);
  await cluster.loginAs('alice', 0);
  await first.expect(/you were logged out: you logged in elsewhere/);
  t.equal(await first.exited, 3);
});
