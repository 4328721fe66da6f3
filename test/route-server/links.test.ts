/**
 * msg-server links over real TCP: online snapshots (replace, never double
 * count), a link that closes or stops heartbeating takes exactly its users with
 * it and the changes are announced, the master role flag, two independent route
 * servers, and bad PDUs that close only the sender's link.
 */
import t from 'tap';
import { CID, IM } from '../../pdu/commands';
import { encodeFrame } from '../../pdu/frame';
import { waitFor } from '../helpers/wait';
import { ANDROID, IOS, LEAVE, MAC, OFFLINE, ONLINE, WINDOWS, FakeMsgServer, captureLogger, frameOf } from './fake-msg-server';
import { connectFakes, settle, startRoute } from './route-fixture';

function buddyNotes(fake: FakeMsgServer): Array<[number, number]> {
  return fake.decoded(IM.Buddy.IMUserStatNotify).map((n) => [n.user_stat.user_id, n.user_stat.status]);
}
function loginNotes(fake: FakeMsgServer): Array<[number, number]> {
  return fake.decoded(IM.Server.IMServerPCLoginStatusNotify).map((n) => [n.user_id, n.login_status]);
}
const byUser = (x: [number, number], y: [number, number]) => x[0] - y[0];

t.test('a msg server that disconnects takes exactly its devices, and the changes are announced', async (t) => {
  const { logger, lines } = captureLogger();
  const route = await startRoute(t, {}, logger);
  const fakes = await connectFakes(t, route, 3);
  const [a, b, c] = fakes;
  a.snapshot([
    { userId: 10, clientType: WINDOWS }, // only on A
    { userId: 11, clientType: MAC }, // PC on A, phone on B
    { userId: 12, clientType: WINDOWS }, // PC on A and on B
  ]);
  await settle(a, fakes);
  b.status(11, ONLINE, IOS);
  b.status(12, ONLINE, WINDOWS);
  await settle(b, fakes);
  for (const f of fakes) f.clear();

  a.stop();
  await waitFor(() => route.status().links.length === 2, 3000, 'route to notice A left');
  await settle(b, [b, c]);
  for (const f of [b, c]) {
    t.same(buddyNotes(f).sort(byUser), [
      [10, OFFLINE],
      [11, OFFLINE],
    ], `${f.link.name}: buddy status for users whose last PC went away`);
    t.same(loginNotes(f), [[11, 0]], `${f.link.name}: login-status 0 for the user whose phone is still on`);
  }
  t.same(await b.statusOf([10, 11, 12]), { 10: OFFLINE, 11: OFFLINE, 12: ONLINE });
  t.equal(route.users.devicesByLink(12).size, 1, 'no stale entry for A');
  t.same([...route.users.deviceCounts(12)], [[WINDOWS, 1]], 'B\'s device only (the original kept A\'s count)');
  t.same([...route.users.deviceCounts(11)], [[IOS, 1]]);
  t.equal(route.users.size, 2);
  const line = lines().find((l) => l.msg === 'msg server disconnected');
  t.match(line, { usersRemoved: 3, statusChanges: 2 }, 'disconnect logged with what it removed');
});

t.test('a msg server that stops heartbeating is dropped and its users removed', async (t) => {
  const { logger, lines } = captureLogger();
  const route = await startRoute(t, { linkTimeoutMs: 600, heartbeatIntervalMs: 100 }, logger);
  const alive = await FakeMsgServer.start(t, route.port, { name: 'alive', connection: { heartbeatIntervalMs: 100 } });
  const silent = await FakeMsgServer.start(t, route.port, { name: 'silent', connection: { heartbeatIntervalMs: 0 } });
  silent.status(20, ONLINE, WINDOWS);
  await settle(silent, [alive, silent]);
  t.same(await alive.statusOf([20]), { 20: ONLINE });

  await waitFor(() => silent.downs > 0, 5000, 'route to close the silent link');
  await waitFor(() => !route.users.hasPcDevice(20), 3000, 'user removed');
  await alive.waitForCount(CID.BUDDY_LIST_STATUS_NOTIFY, 2);
  t.same(buddyNotes(alive), [
    [20, ONLINE],
    [20, OFFLINE],
  ]);
  t.same(await alive.statusOf([20]), { 20: OFFLINE });
  t.equal(alive.downs, 0, 'the heartbeating link stays up');
  const line = lines().find((l) => l.msg === 'msg server disconnected' && l.usersRemoved === 1);
  t.match(String(line?.reason), /idle timeout/);
});

t.test('snapshots replace what the link reported; a resend or a reconnect does not double count', async (t) => {
  const route = await startRoute(t);
  const snapshot = [
    { userId: 30, clientType: WINDOWS },
    { userId: 30, clientType: ANDROID },
    { userId: 31, clientType: MAC, status: LEAVE },
    { userId: 32, clientType: IOS },
    { userId: 33, clientType: WINDOWS, status: OFFLINE }, // not online: ignored
  ];
  const watcher = await FakeMsgServer.start(t, route.port, { name: 'watcher' });
  // Like a real msg server: the snapshot goes out on every (re)connect.
  const sender = await FakeMsgServer.start(t, route.port, {
    name: 'sender',
    onUp: (conn) =>
      conn.send(IM.Server.IMOnlineUserInfo, {
        user_stat_list: snapshot.map((d) => ({ user_id: d.userId, status: d.status ?? ONLINE, client_type: d.clientType })),
      }),
  });
  await settle(sender, [watcher, sender]);
  t.same(buddyNotes(watcher).sort(byUser), [
    [30, ONLINE],
    [31, LEAVE],
  ], 'PC users of the snapshot are announced with their status');
  t.same(loginNotes(watcher).sort(byUser), [
    [30, 1],
    [31, 1],
  ]);
  const counts = () => [30, 31, 32, 33].map((u) => [...route.users.deviceCounts(u)].sort());
  const expected = [
    [
      [WINDOWS, 1],
      [ANDROID, 1],
    ],
    [[MAC, 1]],
    [[IOS, 1]],
    [],
  ];
  t.same(counts(), expected);

  watcher.clear();
  sender.snapshot(snapshot);
  await settle(sender, [watcher]);
  t.same(counts(), expected, 'same snapshot again: same counts');
  t.same(buddyNotes(watcher), [], 'and nothing to announce');
  t.equal(route.status().links.find((l) => l.users === 3)?.snapshots, 2);

  // The link drops and comes back: the old link's devices go, the new snapshot brings them back once.
  sender.conn.destroy('simulated network failure');
  await waitFor(() => sender.link.connects === 2 && sender.link.isUp, 5000, 'reconnect');
  await settle(sender, [watcher]);
  await waitFor(() => route.status().links.length === 2, 3000, 'old link gone');
  t.same(counts(), expected, 'after reconnect: counted once');

  watcher.clear();
  sender.snapshot([{ userId: 30, clientType: ANDROID }]);
  await settle(sender, [watcher]);
  t.same(counts(), [[[ANDROID, 1]], [], [], []], 'a smaller snapshot removes the rest');
  t.same(buddyNotes(watcher).sort(byUser), [
    [30, OFFLINE],
    [31, OFFLINE],
  ]);
  t.same(loginNotes(watcher), [[30, 0]]);
});

t.test('a restarted route server is rebuilt from the snapshots msg servers resend', async (t) => {
  const first = await startRoute(t);
  const port = first.port;
  const fakes = [0, 1, 2].map(
    (i) =>
      new FakeMsgServer(port, {
        name: `msg ${i}`,
        onUp: (conn) =>
          conn.send(IM.Server.IMOnlineUserInfo, {
            user_stat_list: [
              { user_id: 40 + i, status: ONLINE, client_type: WINDOWS },
              { user_id: 50, status: ONLINE, client_type: MAC },
            ],
          }),
      }),
  );
  for (const f of fakes) {
    t.teardown(() => f.stop());
    f.link.start();
    await f.link.waitUntilUp();
  }
  await waitFor(() => first.users.deviceCounts(50).get(MAC) === 3, 3000, 'first map');
  await first.stop('simulated crash');
  const second = await startRoute(t, { listenPort: port });
  await waitFor(() => fakes.every((f) => f.link.connects === 2 && f.link.isUp), 5000, 'reconnects');
  await waitFor(() => second.users.size === 4 && second.users.deviceCounts(50).get(MAC) === 3, 3000, 'rebuilt map');
  t.same([40, 41, 42, 50].map((u) => second.users.isOnline(u)), [true, true, true, true]);
});

t.test('the master role is remembered per link and shown in the status view', async (t) => {
  const { logger, lines } = captureLogger();
  const route = await startRoute(t, {}, logger);
  const fakes = await connectFakes(t, route, 3);
  const [a, b] = fakes;
  a.send(IM.Server.IMRoleSet, { master: 1 });
  b.send(IM.Server.IMRoleSet, { master: 0 });
  await settle(a, fakes);
  await settle(b, fakes);
  t.same(
    route.status().links.map((l) => l.master),
    [true, false, null],
  );
  t.same(
    lines()
      .filter((l) => l.msg === 'msg server role set')
      .map((l) => l.master),
    [true, false],
  );
});

t.test('two route servers fed by the same msg servers keep the same map', async (t) => {
  const routes = [await startRoute(t), await startRoute(t)];
  // Each msg server links to both route servers and tells both the same things.
  const servers: FakeMsgServer[][] = [];
  for (let i = 0; i < 3; i++) {
    const links: FakeMsgServer[] = [];
    for (const route of routes) links.push(await FakeMsgServer.start(t, route.port, { name: `msg ${i} -> route ${route.port}` }));
    servers.push(links);
  }
  const all = (i: number, act: (f: FakeMsgServer) => void) => servers[i].forEach(act);
  all(0, (f) => f.snapshot([{ userId: 60, clientType: WINDOWS }]));
  all(1, (f) => f.snapshot([{ userId: 60, clientType: ANDROID }, { userId: 61, clientType: MAC }]));
  all(2, (f) => f.status(62, ONLINE, IOS));
  all(2, (f) => f.status(61, ONLINE, WINDOWS));
  all(1, (f) => f.status(61, OFFLINE, MAC));
  all(0, (f) => f.send(IM.Server.IMRoleSet, { master: 1 }));
  for (let r = 0; r < 2; r++) {
    for (let i = 0; i < 3; i++) await servers[i][r].usersStatus([]);
  }
  const view = (r: number) => [60, 61, 62].map((u) => [...routes[r].users.deviceCounts(u)].sort());
  t.same(view(0), [
    [
      [WINDOWS, 1],
      [ANDROID, 1],
    ],
    [[WINDOWS, 1]],
    [[IOS, 1]],
  ]);
  t.same(view(1), view(0), 'both route servers agree');
  t.same(await servers[2][0].statusOf([60, 61, 62]), await servers[2][1].statusOf([60, 61, 62]));
  t.same(
    routes.map((r) => r.status().links.map((l) => l.master)),
    [
      [true, null, null],
      [true, null, null],
    ],
  );
});

t.test('bad PDUs close only the sender\'s link; unknown commands and bad bodies are logged and dropped', async (t) => {
  const { logger, lines } = captureLogger();
  const route = await startRoute(t, { maxPduBytes: 4096 }, logger);
  const fakes = await connectFakes(t, route, 3);
  const [a, b, c] = fakes;
  a.status(70, ONLINE, WINDOWS);
  c.status(71, ONLINE, WINDOWS);
  await settle(a, fakes);
  await settle(c, fakes);

  // Unknown command and an undecodable status update: logged, link stays.
  a.sendFrame(encodeFrame(0x0007, 0x0799, 0, Buffer.alloc(3)));
  a.sendFrame(encodeFrame(0x0007, CID.OTHER_USER_STATUS_UPDATE, 0, Buffer.from([0x08])));
  t.same(await a.statusOf([70]), { 70: ONLINE }, 'A still served');
  t.ok(lines().some((l) => l.msg === 'unknown command from msg server; dropped' && l.commandId === '0x0799'));
  t.ok(lines().some((l) => l.msg === 'malformed PDU body from msg server; dropped' && l.conn !== undefined));

  // A length below the header size: C's stream is out of sync, C's link is closed.
  const tooShort = Buffer.alloc(16);
  tooShort.writeUInt32BE(8, 0);
  c.sendFrame(tooShort);
  await waitFor(() => c.downs === 1, 3000, 'C closed');
  await waitFor(() => !route.users.hasUser(71), 3000, 'C\'s user removed');

  // Over the size cap: B's link is closed.
  const huge = Buffer.alloc(16);
  huge.writeUInt32BE(1_000_000, 0);
  b.sendFrame(huge);
  await waitFor(() => b.downs === 1, 3000, 'B closed');

  t.equal(a.downs, 0, 'A was never disconnected');
  t.same(await a.statusOf([70, 71]), { 70: ONLINE, 71: OFFLINE });
  const bad = lines().filter((l) => l.msg === 'bad PDU from msg server; closing its connection');
  t.same(bad.map((l) => l.code).sort(), ['TT_ERR_PDU_LENGTH_TOO_LARGE', 'TT_ERR_PDU_LENGTH_TOO_SMALL']);

  // The others reconnected (fresh links) and relaying between everyone works again.
  await waitFor(() => b.link.isUp && c.link.isUp, 5000, 'B and C back');
  await waitFor(() => route.status().links.length === 3, 3000, 'three links');
  const ping = frameOf(IM.SwitchService.IMP2PCmdMsg, { from_user_id: 1, to_user_id: 2, cmd_msg_data: 'ping' });
  for (const f of fakes) f.clear();
  a.sendFrame(ping);
  await settle(a, fakes);
  t.same(b.received.map((p) => p.frame), [ping]);
  t.same(c.received.map((p) => p.frame), [ping]);
});

t.test('a msg server that stops reading is cut off at maxWriteQueueBytes, its users announced offline, and it comes back with its snapshot', async (t) => {
  const { logger, lines } = captureLogger();
  const route = await startRoute(t, { maxWriteQueueBytes: 64 * 1024 }, logger);
  const a = await FakeMsgServer.start(t, route.port, {
    name: 'slow A',
    onUp: (conn) => conn.send(IM.Server.IMOnlineUserInfo, { user_stat_list: [{ user_id: 20, status: ONLINE, client_type: WINDOWS }] }),
  });
  const [b] = await connectFakes(t, route, 1);
  await waitFor(async () => (await b.statusOf([20]))[20] === ONLINE, 3000, 'user 20 online on A');
  b.clear();
  const stuck = a.conn;
  stuck.pauseReading(); // A no longer reads what the route server relays to it
  const text = Buffer.alloc(3000, 0x61);
  for (let i = 1; i <= 50_000 && a.downs === 0; i++) {
    b.sendFrame(frameOf(IM.Message.IMMsgData, { from_user_id: 10, to_session_id: 20, msg_id: i, create_time: 0, msg_type: 1, msg_data: text }));
    if (i % 50 === 0) await new Promise((r) => setImmediate(r));
  }
  await waitFor(() => a.downs === 1, 10_000, 'the route server to cut A off');
  const line = lines().find((l) => l.msg === 'msg server disconnected');
  t.match(line, { usersRemoved: 1, reason: /^write queue over 65536 bytes \(maxWriteQueueBytes\): peer reads too slowly$/ }, 'cut off as too slow, naming the key');
  await waitFor(() => buddyNotes(b).some(([user, status]) => user === 20 && status === OFFLINE), 3000, 'B to hear user 20 went offline');
  await a.link.waitUntilUp(5000);
  await waitFor(async () => (await b.statusOf([20]))[20] === ONLINE, 5000, 'A to reconnect and send its snapshot');
  t.same(buddyNotes(b).filter(([user]) => user === 20), [[20, OFFLINE], [20, ONLINE]], 'B hears offline, then online again');
  t.not(a.conn, stuck, 'on a new connection');
});
