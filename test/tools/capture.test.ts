/**
 * The capture proxy over real TCP: what it records for a scripted session
 * (every PDU, both directions, decoded), that it forwards bytes unchanged and
 * in whatever chunks they come, and how it behaves with a stream it cannot
 * frame, an unreachable msg server and its own shutdown; the CLI.
 */
import t, { type Test } from 'tap';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../lib/paths';
import { CID, IM, ServiceId } from '../../pdu/commands';
import { encodeFrame, type Pdu } from '../../pdu/frame';
import { clientPasswordDigest } from '../../lib/password';
import { CAPTURE_FORMAT, bodyOf, frameOf, parseCapture, type CaptureRecord, type PduRecord } from '../../tools/capture/format';
import { waitFor } from '../helpers/wait';
import { ALICE, connectClient, recordSession, runClientSession, startProxy, tempDir } from './session';
import { startScriptedServer } from './scripted-server';
import { runCli } from './run-cli';

t.test('a scripted session is recorded PDU by PDU, both directions, decoded', async (t) => {
  const { capture, server } = await recordSession(t);
  t.equal(capture.header.format, CAPTURE_FORMAT);
  t.equal(capture.header.source, 'proxy');
  t.equal(capture.header.target, `127.0.0.1:${server.port}`);

  const kinds = capture.records.map((r) => (r.type === 'pdu' ? `${r.dir} ${r.name}` : r.type));
  t.same(kinds, [
    'open',
    'c2s CID_LOGIN_REQ_USERLOGIN',
    's2c CID_LOGIN_RES_USERLOGIN',
    's2c CID_MSG_DATA',
    'c2s CID_OTHER_HEARTBEAT',
    's2c CID_OTHER_HEARTBEAT',
    'c2s CID_MSG_TIME_REQUEST',
    's2c CID_MSG_TIME_RESPONSE',
    'c2s CID_MSG_UNREAD_CNT_REQUEST',
    's2c CID_MSG_UNREAD_CNT_RESPONSE',
    'c2s CID_LOGIN_REQ_LOGINOUT',
    's2c CID_LOGIN_RES_LOGINOUT',
    'close',
  ]);

  const open = capture.records[0];
  t.equal(open.type, 'open');
  if (open.type === 'open') {
    t.match(open.client, /^127\.0\.0\.1:\d+$/);
    t.equal(open.server, `127.0.0.1:${server.port}`);
  }
  const pdus = capture.records.filter((r): r is PduRecord => r.type === 'pdu');
  for (const p of pdus) {
    t.equal(p.length, 16 + bodyOf(p).length, `${p.name}: length is header + body`);
    t.equal(p.version, 1);
    t.equal(p.reserved, 0);
    t.ok(p.decoded, `${p.name} decoded`);
    t.notOk(p.error);
    t.match(p.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  }
  const ts = capture.records.map((r) => r.t);
  t.same(ts, [...ts].sort((a, b) => a - b), 't offsets never go back');

  const [loginReq, loginRes, push, hbIn, hbOut] = pdus;
  t.same(loginReq.decoded, {
    user_name: 'alice',
    password: clientPasswordDigest(ALICE.password),
    online_status: 'USER_STATUS_ONLINE',
    client_type: 'CLIENT_TYPE_WINDOWS',
    client_version: 'win_10086',
  });
  t.equal(loginReq.service, ServiceId.LOGIN);
  t.equal(loginReq.command, CID.LOGIN_REQ_USERLOGIN);
  t.equal(loginRes.seq, loginReq.seq, 'reply carries the request seq');
  t.match(loginRes.decoded, { result_code: 'REFUSE_REASON_NONE', result_string: '成功', user_info: { user_id: 1, user_nick_name: 'Alice' } });
  t.equal(push.seq, 0, 'push has seq 0');
  t.equal((push.decoded as { msg_data: string }).msg_data, Buffer.from('welcome back').toString('base64'), 'bytes as base64');
  t.equal(hbIn.seq, 77);
  t.same(frameOf(hbOut, bodyOf(hbOut)), frameOf(hbIn, bodyOf(hbIn)), 'heartbeat echoed byte for byte');
  const decodedBody = IM.Login.IMLoginReq.decode(bodyOf(loginReq));
  t.equal(decodedBody.user_name, 'alice', 'body is the real protobuf');

  const close = capture.records[capture.records.length - 1];
  t.equal(close.type, 'close');
  if (close.type === 'close') {
    t.equal(close.by, 'server', 'the server closed after logout');
    const sum = (dir: string) => pdus.filter((p) => p.dir === dir).reduce((n, p) => n + p.length, 0);
    t.equal(close.c2sBytes, sum('c2s'));
    t.equal(close.s2cBytes, sum('s2c'));
  }
});

/** A raw TCP server that keeps every byte and can send any bytes back. */
async function rawServer(t: Test) {
  const received: Buffer[] = [];
  const sockets: net.Socket[] = [];
  // Half-open allowed, like a real server that still answers after the client's FIN.
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.push(socket);
    socket.on('data', (d) => received.push(d));
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as net.AddressInfo).port, received, sockets };
}

function rawClient(t: Test, port: number): Promise<{ socket: net.Socket; received: Buffer[] }> {
  return new Promise((resolve, reject) => {
    const received: Buffer[] = [];
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    socket.on('data', (d) => received.push(d));
    socket.once('error', reject);
    socket.once('connect', () => resolve({ socket, received }));
    t.teardown(() => socket.destroy());
  });
}

t.test('bytes pass unchanged in both directions, however they are chunked', async (t) => {
  const upstream = await rawServer(t);
  const records: CaptureRecord[] = [];
  const proxy = await startProxy(t, upstream.port, (r) => records.push(r));
  const client = await rawClient(t, proxy.address.port);

  const login = encodeFrame(
    ServiceId.LOGIN,
    CID.LOGIN_REQ_USERLOGIN,
    5,
    IM.Login.IMLoginReq.encode({ user_name: 'u', password: 'p', online_status: 1, client_type: 1 }).finish(),
    6, // Android writes version 6 ...
  );
  login.writeUInt16BE(0x30, 14); // ... and reserved '0'
  const time = encodeFrame(ServiceId.MSG, CID.MSG_TIME_REQUEST, 6, Buffer.alloc(0));
  const stream = Buffer.concat([login, time, login]);
  // Split mid-header and mid-body, and merge PDUs, with pauses so the chunks stay apart.
  for (const [from, to] of [
    [0, 3],
    [3, 20],
    [20, login.length + 5],
    [login.length + 5, stream.length],
  ]) {
    client.socket.write(stream.subarray(from, to));
    await new Promise((r) => setTimeout(r, 20));
  }
  await waitFor(() => Buffer.concat(upstream.received).length === stream.length, 3000, 'bytes upstream');
  t.same(Buffer.concat(upstream.received), stream, 'server got exactly the client bytes');

  const reply = encodeFrame(ServiceId.MSG, CID.MSG_TIME_RESPONSE, 6, IM.Message.IMClientTimeRsp.encode({ server_time: 123 }).finish());
  upstream.sockets[0].write(reply.subarray(0, 9));
  await new Promise((r) => setTimeout(r, 20));
  upstream.sockets[0].write(reply.subarray(9));
  await waitFor(() => Buffer.concat(client.received).length === reply.length, 3000, 'bytes downstream');
  t.same(Buffer.concat(client.received), reply, 'client got exactly the server bytes');

  const pdus = records.filter((r): r is PduRecord => r.type === 'pdu');
  t.same(
    pdus.map((p) => [p.dir, p.name, p.seq, p.version, p.reserved]),
    [
      ['c2s', 'CID_LOGIN_REQ_USERLOGIN', 5, 6, 0x30],
      ['c2s', 'CID_MSG_TIME_REQUEST', 6, 1, 0],
      ['c2s', 'CID_LOGIN_REQ_USERLOGIN', 5, 6, 0x30],
      ['s2c', 'CID_MSG_TIME_RESPONSE', 6, 1, 0],
    ],
  );
  t.same(frameOf(pdus[0], bodyOf(pdus[0])), login, 'recorded header fields rebuild the exact frame');

  // A client half-close reaches the server as a FIN; the server's answer still gets through.
  client.socket.end();
  await waitFor(() => upstream.sockets[0].readableEnded, 3000, 'FIN upstream');
  upstream.sockets[0].end(reply);
  await waitFor(() => records.some((r) => r.type === 'close'), 3000, 'close recorded');
  await waitFor(() => Buffer.concat(client.received).length === 2 * reply.length, 3000, 'data after the half-close');
  t.same(Buffer.concat(client.received), Buffer.concat([reply, reply]), 'data after the half-close still relayed');
  const close = records.find((r) => r.type === 'close');
  t.match(close, { type: 'close', by: 'client', reason: 'client closed the connection' });
});

t.test('a stream that cannot be framed is recorded as an error and still relayed', async (t) => {
  const upstream = await rawServer(t);
  const records: CaptureRecord[] = [];
  const proxy = await startProxy(t, upstream.port, (r) => records.push(r));
  const client = await rawClient(t, proxy.address.port);

  const good = encodeFrame(ServiceId.MSG, CID.MSG_TIME_REQUEST, 1, Buffer.alloc(0));
  const garbage = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  client.socket.write(Buffer.concat([good, garbage]));
  await waitFor(() => Buffer.concat(upstream.received).length === good.length + garbage.length, 3000, 'relay');
  t.same(Buffer.concat(upstream.received), Buffer.concat([good, garbage]), 'garbage forwarded as is');

  // The other direction is unaffected, and still recorded.
  const reply = encodeFrame(ServiceId.MSG, CID.MSG_TIME_RESPONSE, 1, IM.Message.IMClientTimeRsp.encode({ server_time: 1 }).finish());
  upstream.sockets[0].write(reply);
  await waitFor(() => Buffer.concat(client.received).length === reply.length, 3000, 'reply relayed');
  // More client bytes after the error are relayed but not parsed.
  client.socket.write(good);
  await waitFor(() => Buffer.concat(upstream.received).length === 2 * good.length + garbage.length, 3000, 'relay after error');

  upstream.sockets[0].destroy();
  await waitFor(() => records.some((r) => r.type === 'close'), 3000, 'close recorded');
  t.same(
    records.filter((r) => r.type !== 'capture').map((r) => (r.type === 'pdu' ? `${r.dir} ${r.name}` : r.type === 'error' ? `error ${r.dir} ${r.code}` : r.type)),
    ['open', 'c2s CID_MSG_TIME_REQUEST', 'error c2s TT_ERR_PDU_LENGTH_TOO_LARGE', 's2c CID_MSG_TIME_RESPONSE', 'close'],
  );
  t.match(records.find((r) => r.type === 'close'), { by: 'server' });
  await waitFor(() => client.socket.destroyed || client.socket.readableEnded, 3000, 'client side closed too');
});

t.test('an undecodable body is recorded with an error instead of decoded', async (t) => {
  const upstream = await rawServer(t);
  const records: CaptureRecord[] = [];
  const proxy = await startProxy(t, upstream.port, (r) => records.push(r));
  const client = await rawClient(t, proxy.address.port);
  // IMLoginReq without its required fields, and a command id nobody knows.
  client.socket.write(encodeFrame(ServiceId.LOGIN, CID.LOGIN_REQ_USERLOGIN, 3, Buffer.from([0x0a, 0x01, 0x61])));
  client.socket.write(encodeFrame(ServiceId.OTHER, 0x0799, 4, Buffer.from([1, 2, 3])));
  await waitFor(() => records.filter((r) => r.type === 'pdu').length === 2, 3000, 'two PDUs');
  const [login, unknown] = records.filter((r): r is PduRecord => r.type === 'pdu');
  t.notOk(login.decoded);
  t.match(login.error, /CID_LOGIN_REQ_USERLOGIN body does not decode: .*missing required/);
  t.equal(login.body, Buffer.from([0x0a, 0x01, 0x61]).toString('base64'));
  t.equal(unknown.name, 'unknown(0x0799)');
  t.match(unknown.error, /unknown command/);
});

t.test('an unreachable msg server: the client is closed and the attempt recorded', async (t) => {
  // A port nothing listens on: TCP port 1 (tcpmux) is privileged, so no test can
  // take it, and outside the ephemeral range, so the proxy's own connection can
  // never get it as its source port and connect to itself. (A port freed by
  // closing a listener was taken again by tests running in parallel.)
  const closedPort = 1;
  const records: CaptureRecord[] = [];
  const proxy = await startProxy(t, closedPort, (r) => records.push(r));
  const client = await rawClient(t, proxy.address.port);
  await waitFor(() => client.socket.destroyed || client.socket.readableEnded, 3000, 'client closed');
  await waitFor(() => records.some((r) => r.type === 'close'), 3000, 'close recorded');
  t.same(
    records.map((r) => r.type),
    ['capture', 'open', 'close'],
  );
  const close = records.find((r) => r.type === 'close');
  t.match(close, { by: 'proxy', reason: new RegExp(`cannot connect to the msg server 127\\.0\\.0\\.1:${closedPort}: .*ECONNREFUSED`) });
});

t.test('stopping the proxy closes and records every open connection', async (t) => {
  const upstream = await rawServer(t);
  const records: CaptureRecord[] = [];
  const proxy = await startProxy(t, upstream.port, (r) => records.push(r));
  const a = await rawClient(t, proxy.address.port);
  const b = await rawClient(t, proxy.address.port);
  await waitFor(() => proxy.activeConnections === 2, 3000, 'two relayed connections');
  // Half a PDU on the wire when the proxy stops.
  a.socket.write(encodeFrame(ServiceId.MSG, CID.MSG_TIME_REQUEST, 1, Buffer.alloc(0)).subarray(0, 10));
  await waitFor(() => Buffer.concat(upstream.received).length === 10, 3000, 'partial PDU relayed');
  await proxy.close();
  const closes = records.filter((r) => r.type === 'close');
  t.equal(closes.length, 2, 'both closes recorded by the time close() resolves');
  for (const c of closes) t.match(c, { by: 'proxy', reason: 'capture stopped' });
  t.match(
    records.find((r) => r.type === 'error'),
    { dir: 'c2s', code: 'TT_ERR_CAPTURE_INCOMPLETE_PDU', message: /10 bytes/ },
  );
  await waitFor(() => a.socket.destroyed && b.socket.destroyed, 3000, 'clients disconnected');
});

t.test('the capture CLI relays, records, and flushes the file on SIGTERM', async (t) => {
  const server = await startScriptedServer(t, { users: [ALICE] });
  const out = join(tempDir(t), 'cli.jsonl');
  const child = spawn(process.execPath, [join(projectRoot, 'dist/tools/capture/cli.js'), '--listen', '0', '--target', `127.0.0.1:${server.port}`, '--out', out], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  await waitFor(() => /"listen":"127\.0\.0\.1:\d+"/.test(stdout), 10_000, `the proxy to listen (${stderr})`);
  const port = Number(/"listen":"127\.0\.0\.1:(\d+)"/.exec(stdout)?.[1]);
  await runClientSession(t, port);
  await waitFor(() => /capture: connection closed/.test(stdout), 3000, 'the connection log line');

  // A second client still connected when the proxy is told to stop.
  const answers: Pdu[] = [];
  const lingering = await connectClient(t, port, answers);
  lingering.sendFrame(encodeFrame(ServiceId.MSG, CID.MSG_TIME_REQUEST, 9, Buffer.alloc(0)));
  await waitFor(() => answers.length === 1, 3000, 'the time reply through the proxy');
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  t.equal(await exited, 0, stderr);

  const capture = parseCapture(readFileSync(out));
  const byConn = (conn: number) => capture.records.filter((r) => r.conn === conn).map((r) => (r.type === 'pdu' ? `${r.dir} ${r.name}` : r.type));
  t.equal(byConn(1).length, 13, 'whole first session');
  t.same(byConn(2), ['open', 'c2s CID_MSG_TIME_REQUEST', 's2c CID_MSG_TIME_RESPONSE', 'close']);
  t.match(capture.records[capture.records.length - 1], { type: 'close', conn: 2, by: 'proxy', reason: 'capture stopped' });
  t.match(stdout, /capture: stopped, file complete/);

  const refuse = await runCli('tools/capture/cli.js', ['--target', `127.0.0.1:${server.port}`, '--out', out, '--listen', '0']);
  t.equal(refuse.code, 1);
  t.match(refuse.stderr, /already exists \(pass --force to overwrite it\)/);
  const usage = await runCli('tools/capture/cli.js', ['--out', out]);
  t.equal(usage.code, 2);
  t.match(usage.stderr, /--target is required/);
  const badHost = await runCli('tools/capture/cli.js', ['--target', 'nowhere', '--out', out]);
  t.equal(badHost.code, 2);
  t.match(badHost.stderr, /--target must be HOST:PORT with a port from 1 to 65535, got "nowhere"/);
});
