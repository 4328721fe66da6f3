/**
 * The connection layer over real loopback TCP: request/response by seq_num,
 * timeouts, heartbeats and idle close, write backpressure, bad frames, and a
 * reconnecting link that survives a server restart.
 */
import t, { type Test } from 'tap';
import net from 'node:net';
import { IM } from '../../pdu/commands';
import { PduConnection, type ConnectionHandler } from '../../pdu/connection';
import { FrameDecoder, encodeFrame, type Pdu } from '../../pdu/frame';
import { ReconnectingLink } from '../../pdu/link';
import { PduServer } from '../../pdu/server';
import { duplexPair, holdOpen } from '../helpers/duplex-pair';
import { waitFor } from '../helpers/wait';
import { sendUntilDropped } from '../helpers/flood';

type Received = { conn: PduConnection; pdu: Pdu };

/** A server that records what it receives and lets the test decide how to answer. */
async function startServer(t: Tap, handler: Partial<ConnectionHandler> = {}, connection = {}) {
  const received: Received[] = [];
  const closed: string[] = [];
  const server = new PduServer(
    {
      onPdu: (conn, pdu) => {
        received.push({ conn, pdu });
        handler.onPdu?.(conn, pdu);
      },
      onClose: (conn, reason) => {
        closed.push(reason);
        handler.onClose?.(conn, reason);
      },
    },
    { name: 'test server', connection },
  );
  const { port } = await server.listen('127.0.0.1', 0);
  t.teardown(() => server.close());
  return { server, port, received, closed };
}

type Tap = Test;

function connect(t: Tap, port: number, handler: Partial<ConnectionHandler> = {}, options = {}): Promise<PduConnection> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('error', reject);
    socket.once('connect', () => {
      const conn = new PduConnection(socket, { onPdu: () => {}, ...handler }, options);
      t.teardown(() => conn.destroy('test over'));
      resolve(conn);
    });
  });
}

t.test('replies are matched by seq_num even when they come back out of order', async (t) => {
  const { port, received } = await startServer(t);
  const client = await connect(t, port);
  const asks = [11, 22, 33].map((user_id) =>
    client.request(IM.Buddy.IMUsersInfoReq, { user_id, user_id_list: [user_id] }, IM.Buddy.IMUsersInfoRsp),
  );
  await waitFor(() => received.length === 3);
  // Answer in reverse order, echoing each request's seq_num.
  for (const { conn, pdu } of [...received].reverse()) {
    const req = IM.Buddy.IMUsersInfoReq.decode(pdu.body);
    conn.send(IM.Buddy.IMUsersInfoRsp, { user_id: req.user_id, user_info_list: [] }, pdu.seqNum);
  }
  const replies = await Promise.all(asks);
  t.same(
    replies.map((r) => r.user_id),
    [11, 22, 33],
  );
  t.equal(new Set(received.map((r) => r.pdu.seqNum)).size, 3, 'each request had its own seq_num');
  t.equal(client.pendingRequests, 0);
  t.equal(client.remoteAddress, `127.0.0.1:${port}`, 'the client knows its peer');
  t.match(received[0].conn.remoteAddress, /^127\.0\.0\.1:\d+$/, 'and the server its client');
});

t.test('a PDU with a matching seq_num but another command is not taken as the reply', async (t) => {
  const { port, received } = await startServer(t);
  const pushes: Pdu[] = [];
  const client = await connect(t, port, { onPdu: (_c, pdu) => pushes.push(pdu) }, { requestTimeoutMs: 5000 });
  const reply = client.request(IM.Message.IMClientTimeReq, {}, IM.Message.IMClientTimeRsp);
  await waitFor(() => received.length === 1);
  const { conn, pdu } = received[0];
  conn.send(IM.Login.IMKickUser, { user_id: 1, kick_reason: 1 }, pdu.seqNum);
  conn.send(IM.Message.IMClientTimeRsp, { server_time: 1234 }, pdu.seqNum);
  t.equal((await reply).server_time, 1234);
  await waitFor(() => pushes.length === 1);
  t.equal(pushes[0].commandId, 0x0107, 'the other command went to the handler');
});

t.test('a request with no reply times out with a named error', async (t) => {
  const { port } = await startServer(t);
  const client = await connect(t, port, {}, { requestTimeoutMs: 300 });
  const started = Date.now();
  await t.rejects(client.request(IM.Message.IMClientTimeReq, {}, IM.Message.IMClientTimeRsp), {
    code: 'TT_ERR_REQUEST_TIMEOUT',
    message: /CID_MSG_TIME_REQUEST: no reply within 300 ms/,
  });
  t.ok(Date.now() - started >= 300);
  t.ok(client.isOpen, 'a timeout does not close the connection');
});

t.test('pending requests fail when the connection closes', async (t) => {
  const { port, received } = await startServer(t);
  const client = await connect(t, port);
  const reply = client.request(IM.Message.IMClientTimeReq, {}, IM.Message.IMClientTimeRsp);
  await waitFor(() => received.length === 1);
  received[0].conn.destroy('server gives up');
  await t.rejects(reply, { code: 'TT_ERR_CONNECTION_CLOSED' });
});

t.test('too many outstanding requests fail fast instead of queueing without bound', async (t) => {
  const { port } = await startServer(t);
  const client = await connect(t, port, {}, { maxPendingRequests: 2, requestTimeoutMs: 60_000 });
  const a = client.request(IM.Message.IMClientTimeReq, {}, IM.Message.IMClientTimeRsp);
  const b = client.request(IM.Message.IMClientTimeReq, {}, IM.Message.IMClientTimeRsp);
  await t.rejects(client.request(IM.Message.IMClientTimeReq, {}, IM.Message.IMClientTimeRsp), {
    code: 'TT_ERR_TOO_MANY_PENDING',
  });
  client.destroy('done');
  await Promise.allSettled([a, b]);
});

t.test('an idle connection is closed; heartbeats keep it alive', async (t) => {
  const { port, closed } = await startServer(t, {}, { idleTimeoutMs: 600 });
  const quiet = await connect(t, port);
  const chatty = await connect(t, port, {}, { heartbeatIntervalMs: 150 });
  let quietClosed = false;
  quiet.socket.once('close', () => (quietClosed = true));
  await waitFor(() => quietClosed && closed.length === 1, 5000);
  t.match(closed[0], /idle timeout: nothing received for 600 ms/);
  await new Promise((r) => setTimeout(r, 900));
  t.ok(chatty.isOpen, 'the heartbeating client outlived the idle timeout');
  t.equal(closed.length, 1);
});

t.test('heartbeats are echoed when asked and never reach the handler', async (t) => {
  const { port, received } = await startServer(t, {}, { echoHeartbeats: true });
  const raw = new net.Socket();
  await new Promise<void>((resolve) => raw.connect(port, '127.0.0.1', resolve));
  t.teardown(() => raw.destroy());
  const hb = encodeFrame(7, 0x0701, 77, Buffer.alloc(0));
  const echoed = new Promise<Buffer>((resolve) => raw.once('data', resolve));
  raw.write(hb);
  t.same([...(await echoed)], [...hb], 'the same bytes come back');
  t.equal(received.length, 0);
});

t.test('a slow reader is dropped once its write queue passes the limit', async (t) => {
  const closedReasons: string[] = [];
  let serverSide: PduConnection | null = null;
  const server = new PduServer(
    { onPdu: () => {}, onClose: (_c, reason) => closedReasons.push(reason) },
    {
      name: 'slow-reader test',
      connection: { maxWriteQueueBytes: 256 * 1024 },
      onConnection: (conn) => (serverSide = conn),
    },
  );
  const { port } = await server.listen('127.0.0.1', 0);
  t.teardown(() => server.close());
  const reader = new net.Socket();
  await new Promise<void>((resolve) => reader.connect(port, '127.0.0.1', resolve));
  reader.pause(); // never reads
  t.teardown(() => reader.destroy());
  await waitFor(() => serverSide !== null);
  const conn = serverSide as unknown as PduConnection;
  const sent = await sendUntilDropped(conn);
  await waitFor(() => closedReasons.length === 1, 5000);
  t.match(closedReasons[0], /write queue over 262144 bytes: peer reads too slowly/);
  t.ok(sent < 10_000, `dropped after ${sent} messages instead of buffering them all`);
});

t.test('a server with pauseReadingAboveBytes stops reading a peer that stops reading its replies, and loses nothing', async (t) => {
  const REQUESTS = 20_000;
  const reply = Buffer.alloc(4096, 0x62);
  let serverSide: PduConnection | null = null;
  let answered = 0;
  const server = new PduServer(
    {
      onPdu: (conn, pdu) => {
        answered++;
        conn.sendFrame(encodeFrame(pdu.serviceId, pdu.commandId + 1, pdu.seqNum, reply));
      },
    },
    {
      name: 'backpressure test',
      connection: { pauseReadingAboveBytes: 256 * 1024, maxWriteQueueBytes: 512 * 1024 * 1024 },
      onConnection: (conn) => (serverSide = conn),
    },
  );
  const { port } = await server.listen('127.0.0.1', 0);
  t.teardown(() => server.close());
  const peer = new net.Socket();
  await new Promise<void>((resolve) => peer.connect(port, '127.0.0.1', resolve));
  t.teardown(() => peer.destroy());
  peer.pause(); // stops reading the replies
  const requests = Buffer.concat(Array.from({ length: REQUESTS }, (_, i) => encodeFrame(2, 0x0201, (i % 0xffff) + 1, Buffer.alloc(16))));
  peer.write(requests);
  await waitFor(() => serverSide !== null && serverSide.readingPaused, 10_000, 'the server to stop reading');
  const conn = serverSide as unknown as PduConnection;
  const whilePaused = answered;
  t.ok(whilePaused < REQUESTS, `the server stopped reading after ${whilePaused} of ${REQUESTS} requests`);
  t.ok(conn.isOpen, 'the slow peer is slowed down, not cut off');

  let replies = 0;
  const decoder = new FrameDecoder(8192);
  peer.on('data', (chunk: Buffer) => {
    const error = decoder.push(chunk, () => replies++);
    if (error) throw error;
  });
  peer.resume();
  await waitFor(() => replies === REQUESTS, 60_000, 'every reply');
  t.equal(answered, REQUESTS, 'every request was read once the peer read again');
  t.ok(conn.outputPauses >= 1, `paused ${conn.outputPauses} times`);
  t.notOk(conn.readingPaused);
  t.ok(conn.isOpen);
});

t.test('pauseReading by a service and pausing for output are independent', async (t) => {
  const [a, b] = duplexPair();
  const conn = new PduConnection(a, { onPdu: () => {} });
  t.teardown(() => conn.destroy('test over'));
  conn.pauseReading();
  t.ok(conn.readingPaused);
  conn.outputDrained(); // a drain does not undo the service's pause
  t.ok(conn.readingPaused);
  t.ok(a.isPaused());
  conn.resumeReading();
  t.notOk(conn.readingPaused);
  t.notOk(a.isPaused());
  b.destroy();
});

t.test('a bad frame closes only the connection that sent it', async (t) => {
  const errors: Error[] = [];
  const { port, received, closed } = await startServer(t, {});
  const good = await connect(t, port);
  const bad = new net.Socket();
  await new Promise<void>((resolve) => bad.connect(port, '127.0.0.1', resolve));
  t.teardown(() => bad.destroy());
  const badClosed = new Promise<void>((resolve) => bad.once('close', () => resolve()));
  bad.on('error', (e) => errors.push(e));
  const header = Buffer.alloc(16);
  header.writeUInt32BE(7, 0); // length below 16
  bad.write(header);
  await badClosed;
  await waitFor(() => closed.length === 1);
  t.match(closed[0], /protocol error: PDU length 7 is below the 16-byte header size/);
  good.send(IM.Message.IMClientTimeReq, {}, 5);
  await waitFor(() => received.length === 1);
  t.equal(received[0].pdu.seqNum, 5, 'the other client is still served');
});

t.test('close() still delivers what was queued before it (e.g. a kick notice)', async (t) => {
  const got: Pdu[] = [];
  let serverSide: PduConnection | null = null;
  const server = new PduServer({ onPdu: () => {} }, { name: 'kick test', onConnection: (c) => (serverSide = c) });
  const { port } = await server.listen('127.0.0.1', 0);
  t.teardown(() => server.close());
  const client = await connect(t, port, { onPdu: (_c, pdu) => got.push(pdu) });
  const clientClosed = new Promise<void>((resolve) => client.socket.once('close', () => resolve()));
  await waitFor(() => serverSide !== null);
  const conn = serverSide as unknown as PduConnection;
  conn.send(IM.Login.IMKickUser, { user_id: 9, kick_reason: 1 });
  conn.close('kicked by a newer login');
  t.equal(conn.send(IM.Message.IMClientTimeRsp, { server_time: 1 }), false, 'nothing can be sent after close');
  await clientClosed;
  t.equal(got.length, 1);
  t.equal(got[0].commandId, 0x0107);
});

t.test('PDUs sent in one turn leave in one write', async (t) => {
  const { port, received } = await startServer(t);
  const client = await connect(t, port);
  const writes: number[] = [];
  const originalWrite = client.socket.write.bind(client.socket);
  (client.socket as unknown as { write: typeof originalWrite }).write = ((chunk: Buffer, ...rest: never[]) => {
    writes.push(chunk.length);
    return originalWrite(chunk, ...rest);
  }) as typeof originalWrite;
  for (let i = 1; i <= 50; i++) client.send(IM.Message.IMClientTimeReq, {}, i);
  await waitFor(() => received.length === 50);
  t.same(writes, [50 * 16], 'fifty PDUs, one socket write');
});

t.test('a reconnecting link comes back after the server restarts and re-registers', async (t) => {
  const registrations: number[] = [];
  let server = new PduServer({ onPdu: (_c, pdu) => registrations.push(pdu.commandId) }, { name: 'restartable' });
  const { port } = await server.listen('127.0.0.1', 0);
  let downs = 0;
  const link = new ReconnectingLink(
    { name: 'test link', host: '127.0.0.1', port, initialBackoffMs: 50, maxBackoffMs: 200 },
    {
      onUp: (conn) => {
        conn.send(IM.Server.IMMsgServInfo, { ip1: '10.0.0.1', ip2: '10.0.0.2', port: 8000, max_conn_cnt: 10, cur_conn_cnt: 0, host_name: 'h' });
      },
      onPdu: () => {},
      onDown: () => downs++,
    },
  );
  link.start();
  t.teardown(() => link.stop());
  await link.waitUntilUp(5000);
  await waitFor(() => registrations.length === 1);
  await server.close();
  await waitFor(() => downs === 1, 5000);
  t.notOk(link.isUp);
  // Down for a while: several reconnect attempts fail.
  await new Promise((r) => setTimeout(r, 400));
  server = new PduServer({ onPdu: (_c, pdu) => registrations.push(pdu.commandId) }, { name: 'restarted' });
  await server.listen('127.0.0.1', port);
  t.teardown(() => server.close());
  await link.waitUntilUp(5000);
  await waitFor(() => registrations.length === 2, 5000);
  t.same(registrations, [0x0709, 0x0709], 'registration sent again on the new connection');
  t.equal(link.connects, 2);
});

t.test('a link to a server that never answers keeps retrying until stopped', async (t) => {
  const blackhole = net.createServer(() => {});
  await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
  const port = (blackhole.address() as net.AddressInfo).port;
  blackhole.close(); // nothing listens any more: every attempt is refused
  const link = new ReconnectingLink(
    { name: 'nowhere', host: '127.0.0.1', port, initialBackoffMs: 20, maxBackoffMs: 40 },
    { onPdu: () => {} },
  );
  link.start();
  await t.rejects(link.waitUntilUp(300), { code: 'TT_ERR_LINK_DOWN' });
  link.stop();
  t.notOk(link.isUp);
});

t.test('a seq_num whose request timed out is not handed out again while its reply may still come', async (t) => {
  holdOpen(t);
  const [near, far] = duplexPair();
  const client = new PduConnection(near, { onPdu: () => t.fail('a late reply must not surface as a push') }, { requestTimeoutMs: 100 });
  t.teardown(() => client.destroy('test over'));
  const seen: number[] = [];
  let answer = true;
  const server = new PduConnection(far, {
    onPdu: (conn, pdu) => {
      seen.push(pdu.seqNum);
      if (answer) conn.send(IM.Message.IMClientTimeRsp, { server_time: pdu.seqNum }, pdu.seqNum);
    },
  });
  // The first request goes unanswered and times out.
  answer = false;
  await t.rejects(client.request(IM.Message.IMClientTimeReq, {}, IM.Message.IMClientTimeRsp), { code: 'TT_ERR_REQUEST_TIMEOUT' });
  const lateSeq = seen[0];
  answer = true;
  client.requestTimeoutMs = 30_000;
  // Enough requests to go round the whole 16-bit seq space once more.
  for (let batch = 0; batch < 14; batch++) {
    const replies = await Promise.all(Array.from({ length: 5000 }, () => client.request(IM.Message.IMClientTimeReq, {}, IM.Message.IMClientTimeRsp)));
    t.ok(replies.every((r) => r.server_time !== lateSeq), `batch ${batch}: no request used the timed-out seq_num`);
  }
  t.notOk(seen.slice(1).includes(lateSeq), `seq ${lateSeq} was skipped while ${seen.length - 1} requests went round`);
  // The late reply arrives now: nobody takes it for theirs, it is counted and dropped.
  server.send(IM.Message.IMClientTimeRsp, { server_time: 1 }, lateSeq);
  const next = client.request(IM.Message.IMClientTimeReq, {}, IM.Message.IMClientTimeRsp);
  t.not((await next).server_time, 1);
  t.equal(client.lateReplies, 1);
});

t.test('a peer that leaves too many requests unanswered is disconnected', async (t) => {
  holdOpen(t);
  const [near, far] = duplexPair();
  let reason = '';
  const client = new PduConnection(near, { onPdu: () => {}, onClose: (_c, r) => (reason = r) }, { requestTimeoutMs: 50, maxPendingRequests: 3 });
  new PduConnection(far, { onPdu: () => {} });
  // One unanswered request after the other: their seq numbers stay reserved.
  for (let i = 0; i < 4; i++) {
    await t.rejects(client.request(IM.Message.IMClientTimeReq, {}, IM.Message.IMClientTimeRsp), { code: 'TT_ERR_REQUEST_TIMEOUT' });
  }
  await waitFor(() => !client.isOpen, 2000, 'the connection to close');
  t.match(reason, /4 requests got no reply in time: the peer is not answering/);
});
