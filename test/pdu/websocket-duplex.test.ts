/**
 * WebSocketDuplex over real loopback WebSockets: one PDU per binary message both
 * ways (also when PduConnection coalesces a turn's PDUs into one write), every
 * way of breaking that rule closes the connection with a reason, message size is
 * capped, a slow reader hits the write-queue limit as on TCP, a paused reader
 * pauses the WebSocket, and close() delivers what was queued with a normal close.
 */
import t, { type Test } from 'tap';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { IM } from '../../pdu/commands';
import { PduConnection, type ConnectionOptions } from '../../pdu/connection';
import { encodePdu } from '../../pdu/encode';
import type { Pdu } from '../../pdu/frame';
import { PduServer } from '../../pdu/server';
import { WebSocketDuplex, openWebSocketDuplex } from '../../pdu/websocket-duplex';
import { waitFor } from '../helpers/wait';
import { sendUntilDropped } from '../helpers/flood';

interface Harness {
  url: string;
  received: Pdu[];
  closed: string[];
  violations: string[];
  /** Server sides of the connections, in accept order. */
  connections: PduConnection[];
}

async function startWsServer(t: Test, connection: Partial<ConnectionOptions> = {}, maxPayload = 64 * 1024): Promise<Harness> {
  const received: Pdu[] = [];
  const closed: string[] = [];
  const violations: string[] = [];
  const connections: PduConnection[] = [];
  const server = new PduServer(
    { onPdu: (_c, pdu) => received.push(pdu), onClose: (_c, reason) => closed.push(reason) },
    { name: 'ws test server', connection, onConnection: (c) => connections.push(c) },
  );
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload, perMessageDeflate: false });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  wss.on('connection', (ws, req) => {
    server.handle(new WebSocketDuplex(ws, { remoteAddress: req.socket.remoteAddress, remotePort: req.socket.remotePort, onViolation: (r) => violations.push(r) }));
  });
  t.teardown(async () => {
    await server.close();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });
  const { port } = wss.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/`,
    received,
    closed,
    violations,
    connections,
  };
}

/** A raw ws client: the test decides exactly what each message holds. */
async function rawClient(t: Test, url: string): Promise<{ ws: WebSocket; messages: Buffer[]; closed: Promise<{ code: number; reason: string }> }> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  const messages: Buffer[] = [];
  ws.on('message', (data: Buffer) => messages.push(data));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  t.teardown(() => ws.terminate());
  return { ws, messages, closed };
}

const timeReq = (seq: number) => encodePdu(IM.Message.IMClientTimeReq, {}, seq);

t.test('requests and replies travel one PDU per message; a turn of coalesced PDUs is split at PDU boundaries', async (t) => {
  const h = await startWsServer(t);
  const duplex = await openWebSocketDuplex(h.url);
  const client = new PduConnection(duplex, { onPdu: () => {} });
  t.teardown(() => client.destroy('test over'));
  // Three requests in one turn: one write on the client side, three messages on the wire.
  const replies = [1, 2, 3].map(() => client.request(IM.Message.IMClientTimeReq, {}, IM.Message.IMClientTimeRsp));
  await waitFor(() => h.received.length === 3);
  t.same(h.received.map((p) => p.commandId), [0x0305, 0x0305, 0x0305]);
  for (const pdu of h.received) h.connections[0].reply(pdu, IM.Message.IMClientTimeRsp, { server_time: pdu.seqNum * 100 });
  t.same((await Promise.all(replies)).map((r) => r.server_time), [100, 200, 300], 'each reply matched by seq_num');
  t.match(h.connections[0].remoteAddress, /^127\.0\.0\.1:\d+$/, 'the peer address is known for logs');

  const raw = await rawClient(t, h.url);
  await waitFor(() => h.connections.length === 2);
  const server = h.connections[1];
  for (let i = 1; i <= 50; i++) server.send(IM.Message.IMClientTimeRsp, { server_time: i }, i);
  await waitFor(() => raw.messages.length === 50);
  t.ok(raw.messages.every((m) => m.length === m.readUInt32BE(0)), 'every message is exactly one PDU');
  t.same(raw.messages.map((m) => m.readUInt16BE(12)), Array.from({ length: 50 }, (_, i) => i + 1), 'in order');
});

t.test('a text message closes the connection (1003) with a reason', async (t) => {
  const h = await startWsServer(t);
  const raw = await rawClient(t, h.url);
  raw.ws.send('hello');
  const { code, reason } = await raw.closed;
  t.equal(code, 1003);
  t.match(reason, /text message/);
  await waitFor(() => h.closed.length === 1);
  t.match(h.violations[0], /text message received: PDUs travel in binary messages/);
  t.match(h.closed[0], /text message/);
  t.equal(h.received.length, 0);
});

t.test('a binary message that is not exactly one PDU closes the connection (1002)', async (t) => {
  const two = Buffer.concat([timeReq(1), timeReq(2)]);
  const cases: Array<[string, Buffer, RegExp]> = [
    ['two PDUs', two, /binary message of 32 bytes is not one whole PDU \(its length field says 16\)/],
    ['half a PDU', encodePdu(IM.Message.IMMsgData, { from_user_id: 1, to_session_id: 2, msg_id: 0, create_time: 0, msg_type: 1, msg_data: Buffer.alloc(40) }).subarray(0, 30), /binary message of 30 bytes is not one whole PDU/],
    ['shorter than a header', Buffer.alloc(5), /binary message of 5 bytes is shorter than a PDU header/],
  ];
  for (const [what, bytes, expected] of cases) {
    const h = await startWsServer(t);
    const raw = await rawClient(t, h.url);
    raw.ws.send(timeReq(7)); // a good one first: served
    raw.ws.send(bytes);
    const { code } = await raw.closed;
    t.equal(code, 1002, `${what}: protocol error`);
    await waitFor(() => h.closed.length === 1);
    t.match(h.violations[0], expected, `${what}: the reason names the problem`);
    t.same(h.received.map((p) => p.seqNum), [7], `${what}: what came before is served, nothing after`);
  }
});

t.test('a message over the size cap closes the connection (1009)', async (t) => {
  const h = await startWsServer(t, {}, 1024);
  const raw = await rawClient(t, h.url);
  const big = encodePdu(IM.Message.IMMsgData, { from_user_id: 1, to_session_id: 2, msg_id: 0, create_time: 0, msg_type: 1, msg_data: Buffer.alloc(2000) });
  raw.ws.send(big);
  const { code } = await raw.closed;
  t.equal(code, 1009);
  await waitFor(() => h.closed.length === 1);
  t.match(h.violations[0], /Max payload size exceeded/);
  t.equal(h.received.length, 0);
});

t.test('a reader that never reads is dropped once the write queue passes the limit, as on TCP', async (t) => {
  const h = await startWsServer(t, { maxWriteQueueBytes: 256 * 1024 });
  const raw = await rawClient(t, h.url);
  raw.ws.pause(); // stops reading its socket
  await waitFor(() => h.connections.length === 1);
  const conn = h.connections[0];
  const sent = await sendUntilDropped(conn);
  await waitFor(() => h.closed.length === 1, 5000);
  t.match(h.closed[0], /write queue over 262144 bytes: peer reads too slowly/);
  t.ok(sent < 10_000, `dropped after ${sent} messages instead of buffering them all`);
});

t.test('a paused reader pauses the WebSocket; resuming delivers everything in order', async (t) => {
  const h = await startWsServer(t);
  const raw = await rawClient(t, h.url);
  raw.ws.send(timeReq(1));
  await waitFor(() => h.received.length === 1);
  const conn = h.connections[0];
  conn.pauseReading();
  const count = 2000;
  for (let i = 2; i <= count; i++) raw.ws.send(timeReq(i));
  const duplex = conn.socket as WebSocketDuplex;
  await waitFor(() => duplex.ws.isPaused, 5000, 'the WebSocket to be paused');
  t.equal(h.received.length, 1, 'nothing is handed on while paused');
  conn.resumeReading();
  await waitFor(() => h.received.length === count, 5000);
  t.same(
    h.received.map((p) => p.seqNum),
    Array.from({ length: count }, (_, i) => i + 1),
    'all of them, in order',
  );
});

t.test('close() sends what was queued (e.g. a kick notice), then a normal close', async (t) => {
  const h = await startWsServer(t);
  const raw = await rawClient(t, h.url);
  await waitFor(() => h.connections.length === 1);
  const conn = h.connections[0];
  conn.send(IM.Login.IMKickUser, { user_id: 9, kick_reason: 1 });
  conn.close('kicked by a newer login');
  const { code } = await raw.closed;
  t.equal(code, 1000);
  t.equal(raw.messages.length, 1);
  t.equal(raw.messages[0].readUInt16BE(10), 0x0107, 'the kick notice arrived before the close');
  await waitFor(() => h.closed.length === 1);
  t.equal(h.closed[0], 'kicked by a newer login');
});

t.test('a refused upgrade is a clear error for clients', async (t) => {
  const { createServer } = await import('node:http');
  const http = createServer((_req, res) => res.writeHead(403).end());
  http.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n'));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => http.close(() => resolve())));
  const { port } = http.address() as AddressInfo;
  await t.rejects(openWebSocketDuplex(`ws://127.0.0.1:${port}/`), /the server refused the WebSocket upgrade: HTTP 403 Forbidden/);
});
