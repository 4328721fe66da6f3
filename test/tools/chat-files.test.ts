/**
 * Files and pictures in the terminal chat client: /send-file online to someone
 * at a computer, /send-file offline to someone away, /get-file lists and
 * fetches, and a picture (TeamTalk markup) shows as a link.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { PASSWORD, startCluster, type TestCluster } from '../helpers/cluster';
import { chat } from './chat-process';

function args(cluster: TestCluster, user: string, dir: string): string[] {
  return ['--user', user, '--password', PASSWORD, '--login-url', cluster.loginUrl, '--download-dir', dir];
}

t.test('send and get files online and offline, pictures as links', async (t) => {
  const cluster = await startCluster(t, { fileServer: true });
  await cluster.addUsers(['alice', 'bob']);
  const dir = await mkdtemp(join(tmpdir(), 'tt-chat-files-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const aliceDir = join(dir, 'alice');
  const bobDir = join(dir, 'bob');
  await Promise.all([aliceDir, bobDir].map((d) => mkdir(d)));
  const report = randomBytes(300_000);
  await writeFile(join(aliceDir, 'report.pdf'), report);

  const alice = chat(t, args(cluster, 'alice', aliceDir));
  await alice.expect(/type \/help for commands/);
  const bob = chat(t, args(cluster, 'bob', bobDir));
  await bob.expect(/type \/help for commands/);

  // Online: bob is at a computer.
  alice.type(`/send-file bob ${join(aliceDir, 'report.pdf')}`);
  await alice.expect(/offering report\.pdf \(293\.0 KB\) to bob/);
  await bob.expect(/\* alice wants to send you report\.pdf \(293\.0 KB\): \/get-file 1/);
  let mark = bob.mark();
  bob.type('/get-file');
  await bob.expect(/ {2}1 {2}report\.pdf {2}293\.0 KB {2}from alice {2}online/, mark);
  bob.type('/get-file 1');
  await bob.expect(/saved report\.pdf \(293\.0 KB\) from alice as .*report\.pdf/);
  await alice.expect(/sent report\.pdf to bob/);
  t.ok((await readFile(join(bobDir, 'report.pdf'))).equals(report), 'the file bob saved is the one alice sent');

  // Offline: bob leaves; alice's file waits for him.
  bob.type('/quit');
  await bob.exited;
  mark = alice.mark();
  alice.type(`/send-file bob ${join(aliceDir, 'report.pdf')}`);
  await alice.expect(/uploaded report\.pdf \(293\.0 KB\): bob is not at a computer and can fetch it later with \/get-file/, mark);
  const bobAgain = chat(t, args(cluster, 'bob', bobDir));
  await bobAgain.expect(/type \/help for commands/);
  bobAgain.type('/get-file');
  await bobAgain.expect(/ {2}1 {2}report\.pdf {2}293\.0 KB {2}from alice {2}offline/);
  bobAgain.type('/get-file 1');
  await bobAgain.expect(/saved report\.pdf \(293\.0 KB\) from alice as .*report \(1\)\.pdf/);
  t.ok((await readFile(join(bobDir, 'report (1).pdf'))).equals(report), 'a second copy, not over the first');
  mark = bobAgain.mark();
  bobAgain.type('/get-file');
  await bobAgain.expect(/no files for you/, mark);

  // A picture in a message: the URL between TeamTalk's markers is shown as a link.
  bobAgain.type('/open alice');
  alice.type('/msg bob look &$#@~^@[{:http://127.0.0.1:8700/g0/000/000/1700000000123456_140234567890.png:}]&$~@#@ nice');
  await bobAgain.expect(/alice: look \[picture: http:\/\/127\.0\.0\.1:8700\/g0\/000\/000\/1700000000123456_140234567890\.png\] nice/);
});
