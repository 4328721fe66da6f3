/**
 * Replay: a session recorded through the capture proxy, replayed against fresh
 * scripted servers (real TCP). Clean report when the server behaves the same;
 * mismatches, missing and unexpected PDUs when it does not; volatile fields,
 * seq numbers, user ids and credentials handled; the CLI's output and exit codes.
 */
import t from 'tap';
import http from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clientPasswordDigest } from '../../lib/password';
import type { PduRecord } from '../../tools/capture/format';
import { replayCapture } from '../../tools/replay/replay';
import { formatReport } from '../../tools/replay/report';
import { startScriptedServer } from './scripted-server';
import { runCli } from './run-cli';
import { ALICE, BOB, recordSession, tempDir } from './session';

const S2C_PDUS = 6; // login reply, offline push, heartbeat echo, time, unread, logout
const C2S_PDUS = 5;

t.test('a fresh server that behaves the same: clean report, volatile fields ignored', async (t) => {
  const { capture } = await recordSession(t);
  const fresh = await startScriptedServer(t, { users: [ALICE, BOB] });
  const report = await replayCapture(capture, { server: `127.0.0.1:${fresh.port}`, fast: true });
  t.ok(report.ok, formatReport(report));
  t.equal(report.connections.length, 1);
  const [conn] = report.connections;
  t.equal(conn.matched, S2C_PDUS);
  t.equal(conn.sent, C2S_PDUS);
  t.same([conn.mismatched, conn.missing, conn.unexpected, conn.problems], [[], [], [], []]);
  t.same(report.userIds, [[1, 1]]);

  // The values really differed: only the ignore list made them match.
  const recorded = capture.records.filter((r): r is PduRecord => r.type === 'pdu' && r.dir === 's2c');
  const recordedPush = recorded.find((r) => r.name === 'CID_MSG_DATA')?.decoded as { msg_id: number; create_time: number };
  const recordedTime = recorded.find((r) => r.name === 'CID_MSG_TIME_RESPONSE')?.decoded as { server_time: number };
  t.notOk(fresh.msgIds.includes(recordedPush.msg_id), 'live msg_id differs from the recorded one');
  t.notOk(fresh.serverTimes.includes(recordedTime.server_time), 'live server_time differs');
  t.match(formatReport(report), /result: OK/);
});

t.test('the records the proxy emits can be replayed without a file', async (t) => {
  const { capture } = await recordSession(t);
  const fresh = await startScriptedServer(t, { users: [ALICE] });
  const report = await replayCapture([capture.header, ...capture.records], { server: { host: '127.0.0.1', port: fresh.port }, fast: true });
  t.ok(report.ok, formatReport(report));
});

t.test('one field answered differently is a mismatch with a readable diff', async (t) => {
  const { capture } = await recordSession(t);
  const changed = await startScriptedServer(t, { users: [ALICE], nickSuffix: ' (changed)' });
  const report = await replayCapture(capture, { server: `127.0.0.1:${changed.port}`, fast: true });
  t.notOk(report.ok);
  t.same(report.totals, { matched: S2C_PDUS - 1, mismatched: 1, earlierState: 0, missing: 0, unexpected: 0, problems: 0, notReplayed: 0 });
  const [mismatch] = report.connections[0].mismatched;
  t.equal(mismatch.expected.name, 'CID_LOGIN_RES_USERLOGIN');
  t.equal(mismatch.expected.line, 4, 'names the capture line (header, open, login request, login reply)');
  t.same(mismatch.diffs, [{ path: 'user_info.user_nick_name', expected: 'Alice', actual: 'Alice (changed)' }]);
  const text = formatReport(report);
  t.match(text, /MISMATCH CID_LOGIN_RES_USERLOGIN seq 1 \(capture line 4\):\n {4}user_info\.user_nick_name: expected "Alice", got "Alice \(changed\)"/);
  t.match(text, /result: FAILED/);

  for (const ignore of ['user_nick_name', 'user_info.user_nick_name', 'user_info']) {
    const again = await startScriptedServer(t, { users: [ALICE], nickSuffix: ' (changed)' });
    const ignored = await replayCapture(capture, { server: `127.0.0.1:${again.port}`, fast: true, ignore: [ignore] });
    t.ok(ignored.ok, `--ignore ${ignore}`);
  }
});

t.test('missing replies and unexpected pushes are reported', async (t) => {
  const { capture } = await recordSession(t);
  const odd = await startScriptedServer(t, { users: [ALICE], ignoreTimeRequests: true, extraPush: true });
  const report = await replayCapture(capture, { server: `127.0.0.1:${odd.port}`, fast: true, timeoutMs: 300 });
  t.notOk(report.ok);
  const [conn] = report.connections;
  t.equal(conn.matched, S2C_PDUS - 1);
  t.same(conn.missing.map((p) => [p.name, p.seq]), [['CID_MSG_TIME_RESPONSE', 2]]);
  t.same(conn.unexpected.map((p) => [p.name, p.seq]), [['CID_BUDDY_LIST_STATUS_NOTIFY', 0]]);
  const text = formatReport(report);
  t.match(text, /MISSING CID_MSG_TIME_RESPONSE seq 2 \(capture line \d+\): recorded, never sent by the live server/);
  t.match(text, /UNEXPECTED CID_BUDDY_LIST_STATUS_NOTIFY seq 0: sent by the live server, not in the recording/);
});

t.test('user ids are learned from the login reply and rewritten', async (t) => {
  const { capture } = await recordSession(t);
  // Same user, another id on this server.
  const other = await startScriptedServer(t, { users: [{ ...ALICE, id: 41 }] });
  const report = await replayCapture(capture, { server: `127.0.0.1:${other.port}`, fast: true });
  t.ok(report.ok, formatReport(report));
  t.same(report.userIds, [[1, 41]]);
  t.same(other.unreadRequests, [41], 'the unread request carried the live user id');
});

t.test('--as logs in as another user: name, md5 password and user ids rewritten', async (t) => {
  const { capture } = await recordSession(t);
  const userInfo = ['user_nick_name', 'user_real_name', 'user_domain', 'email'];

  const server = await startScriptedServer(t, { users: [ALICE, BOB] });
  const report = await replayCapture(capture, { server: `127.0.0.1:${server.port}`, fast: true, as: 'bob:bob-pw', ignore: userInfo });
  t.ok(report.ok, formatReport(report));
  t.same(server.logins, [{ user_name: 'bob', password: clientPasswordDigest('bob-pw') }]);
  t.same(server.unreadRequests, [BOB.id]);
  t.same(report.userIds, [[ALICE.id, BOB.id]]);

  // Without ignoring bob's own profile fields they are (correctly) reported.
  const strict = await startScriptedServer(t, { users: [ALICE, BOB] });
  const strictReport = await replayCapture(capture, { server: `127.0.0.1:${strict.port}`, fast: true, as: { user: 'bob', password: 'bob-pw' } });
  t.notOk(strictReport.ok);
  t.same(
    strictReport.connections[0].mismatched[0].diffs.map((d) => d.path),
    ['user_info.user_nick_name', 'user_info.email', 'user_info.user_real_name', 'user_info.user_domain'],
  );

  // RECORDED=USER:PASSWORD applies only to logins recorded under that name.
  const scoped = await startScriptedServer(t, { users: [ALICE, BOB] });
  await replayCapture(capture, { server: `127.0.0.1:${scoped.port}`, fast: true, as: ['carol=bob:bob-pw'] });
  t.same(scoped.logins.map((l) => l.user_name), ['alice'], 'not recorded as carol: unchanged');
  const scoped2 = await startScriptedServer(t, { users: [ALICE, BOB] });
  await replayCapture(capture, { server: `127.0.0.1:${scoped2.port}`, fast: true, as: ['alice=bob:bob-pw'], ignore: userInfo });
  t.same(scoped2.logins.map((l) => l.user_name), ['bob']);

  // A wrong password for a login that succeeded in the recording: the replay stops there, nothing more is sent.
  const refusing = await startScriptedServer(t, { users: [ALICE, BOB] });
  const warnings: string[] = [];
  const refused = await replayCapture(capture, {
    server: `127.0.0.1:${refusing.port}`,
    fast: true,
    as: 'bob:wrong',
    timeoutMs: 300,
    warn: (line) => warnings.push(line),
  });
  t.notOk(refused.ok);
  t.match(refused.stopped, { conn: 1, reason: /the login of alice \(capture line 3\) succeeded in the recording but failed live/ });
  t.match(warnings, [/^stopped: the login of alice/]);
  t.equal(refused.connections[0].sent, 1, 'only the login was sent');
  t.same(refusing.logins.map((l) => l.user_name), ['bob'], 'one attempt: nothing more that could lock the account');
  t.equal(refused.totals.notReplayed, S2C_PDUS - 1, 'what came after the login is not replayed (not reported missing)');
  t.equal(refused.totals.missing, 0);
});

t.test('the CLI: a stopped replay, and reports written as JUnit and JSON', async (t) => {
  const { file } = await recordSession(t);
  const dir = tempDir(t);
  const junit = join(dir, 'replay.xml');
  const json = join(dir, 'replay.json');
  const server = await startScriptedServer(t, { users: [ALICE, BOB] });
  // --report FILE may come before the capture file.
  const run = await runCli('tools/replay/cli.js', ['--report', 'junit', junit, file, '--server', `127.0.0.1:${server.port}`, '--fast', '--as', 'bob:wrong', '--report', 'json', json]);
  t.equal(run.code, 1, run.stdout + run.stderr);
  t.match(run.stderr, /^replay: WARNING stopped: the login of alice \(capture line 3\) succeeded in the recording but failed live/m);
  t.match(run.stdout, /^STOPPED at connection 1: the login of alice/m);
  t.match(run.stdout, /NOT REPLAYED 5 recorded server PDUs: the replay stopped first/);
  const xml = readFileSync(junit, 'utf8');
  t.match(xml, /tests="1" failures="1" errors="0" skipped="0"/);
  t.match(xml, /<failure message="replay stopped: the login of alice/);
  t.match(JSON.parse(readFileSync(json, 'utf8')), { ok: false, stopped: { conn: 1 }, totals: { notReplayed: 5 } });
});

t.test('--login-url asks a login server for the msg server, like a client', async (t) => {
  const { capture } = await recordSession(t);
  const msg = await startScriptedServer(t, { users: [ALICE] });
  let asked = 0;
  const login = http.createServer((req, res) => {
    asked++;
    const body = JSON.stringify({ code: 0, msg: '', priorIP: '127.0.0.1', backupIP: '127.0.0.1', port: String(msg.port) });
    res.writeHead(req.url?.startsWith('/msg_server') ? 200 : 404, { 'Content-Type': 'text/html;charset=utf-8' });
    res.end(body);
  });
  await new Promise<void>((resolve) => login.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => login.close(() => resolve())));
  const url = `http://127.0.0.1:${(login.address() as { port: number }).port}`;
  const report = await replayCapture(capture, { loginUrl: url, fast: true });
  t.ok(report.ok, formatReport(report));
  t.equal(asked, 1, 'once per recorded connection');
  t.equal(report.connections[0].server, `127.0.0.1:${msg.port}`);
});

t.test('the CLI: original pacing, exit codes, report on stdout', async (t) => {
  const { file, capture } = await recordSession(t);
  const same = await startScriptedServer(t, { users: [ALICE] });
  const ok = await runCli('tools/replay/cli.js', [file, '--server', `127.0.0.1:${same.port}`]);
  t.equal(ok.code, 0, ok.stdout + ok.stderr);
  t.match(
    ok.stdout,
    /connection 1 \(recorded client 127\.0\.0\.1:\d+, user alice, replayed to 127\.0\.0\.1:\d+\): 6 matched, 0 mismatched, 0 depend on earlier state, 0 missing, 0 unexpected; 5 client PDUs sent/,
  );
  t.match(ok.stdout, /^compare: exact \(every value not ignored must be equal\)$/m);
  t.match(ok.stdout, /result: OK\n$/);

  const changed = await startScriptedServer(t, { users: [ALICE], nickSuffix: '!' });
  const bad = await runCli('tools/replay/cli.js', [file, '--server', `127.0.0.1:${changed.port}`, '--fast']);
  t.equal(bad.code, 1, 'exit 1 on a mismatch');
  t.match(bad.stdout, /user_info\.user_nick_name: expected "Alice", got "Alice!"/);
  t.match(bad.stdout, /result: FAILED/);

  const again = await startScriptedServer(t, { users: [ALICE, BOB], nickSuffix: '!' });
  const asBob = await runCli('tools/replay/cli.js', [
    file,
    '--server',
    `127.0.0.1:${again.port}`,
    '--fast',
    '--as',
    'bob:bob-pw',
    '--ignore',
    'user_nick_name,user_real_name',
    '--ignore',
    'user_domain,email',
    '--json',
  ]);
  t.equal(asBob.code, 0, asBob.stdout + asBob.stderr);
  t.match(JSON.parse(asBob.stdout), { ok: true, userIds: [[1, 7]] });
  t.same(again.logins.map((l) => l.user_name), ['bob']);

  // An unusable capture: exit 2 naming the line and offset.
  const dir = tempDir(t);
  const text = readFileSync(file, 'utf8');
  const cut = join(dir, 'cut.jsonl');
  const lines = text.split('\n');
  const keep = lines.slice(0, 5).join('\n') + '\n' + lines[5].slice(0, 40);
  writeFileSync(cut, keep);
  const truncated = await runCli('tools/replay/cli.js', [cut, '--server', `127.0.0.1:${same.port}`]);
  t.equal(truncated.code, 2);
  const offset = Buffer.byteLength(lines.slice(0, 5).join('\n') + '\n');
  t.match(truncated.stderr, new RegExp(`capture line 6 \\(byte offset ${offset}\\): not a JSON object .*the capture was cut off`));
  t.equal(capture.records.length, lines.filter(Boolean).length - 1, 'sanity: one record per line after the header');

  const usage = await runCli('tools/replay/cli.js', [file]);
  t.equal(usage.code, 2);
  t.match(usage.stderr, /give either --server or --login-url/);
  const server = ['--server', '127.0.0.1:1'];
  for (const [args, message] of [
    [['--bogus'], /Unknown option '--bogus'/],
    [['--compare', 'fuzzy'], /--compare must be exact or protocol, got "fuzzy"/],
    [['--report', 'xml', 'out.xml'], /--report takes a format \(junit or json\) and a file, got "xml"/],
    [['--report', 'junit'], /--report junit needs a file: --report junit FILE/],
    [['--provision'], /--provision needs --password PW/],
    [['--password', 'pw'], /--password only goes with --provision or --provision-only/],
    [['--force'], /--force only goes with --provision/],
  ] as Array<[string[], RegExp]>) {
    const wrong = await runCli('tools/replay/cli.js', [file, ...server, ...args]);
    t.equal(wrong.code, 2, args.join(' '));
    t.match(wrong.stderr, message);
  }
  const provisionOnly = await runCli('tools/replay/cli.js', [file, '--provision-only', '--password', 'pw', ...server]);
  t.equal(provisionOnly.code, 2);
  t.match(provisionOnly.stderr, /--provision-only replays nothing: leave out --server/);
  const badAs = await runCli('tools/replay/cli.js', [file, '--server', '127.0.0.1:1', '--as', 'nopassword']);
  t.equal(badAs.code, 2);
  t.match(badAs.stderr, /--as must be USER:PASSWORD/);
});
