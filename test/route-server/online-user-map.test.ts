/**
 * The route server's online map as pure logic: counting per (user, link,
 * client type), removal only when no device remains, snapshots that replace,
 * and a departing link taking exactly its own devices (behaviour.md §18 bug 10).
 */
import t from 'tap';
import { OnlineUserMap, isPcClientType } from '../../services/route-server/online-user-map';
import { ANDROID, IOS, MAC, WINDOWS } from './fake-msg-server';

const LINK_A = 1;
const LINK_B = 2;

t.test('PC and mobile classes follow bit 0x10 of the client type', async (t) => {
  t.ok(isPcClientType(WINDOWS));
  t.ok(isPcClientType(MAC));
  t.notOk(isPcClientType(IOS));
  t.notOk(isPcClientType(ANDROID));
});

t.test('two devices of one type: the user stays until the second one leaves', async (t) => {
  const map = new OnlineUserMap();
  map.addDevice(7, LINK_A, WINDOWS);
  map.addDevice(7, LINK_A, WINDOWS);
  t.same([...map.deviceCounts(7)], [[WINDOWS, 2]]);
  t.ok(map.removeDevice(7, LINK_A, WINDOWS));
  t.ok(map.isOnline(7), 'one Windows device left');
  t.ok(map.removeDevice(7, LINK_A, WINDOWS));
  t.notOk(map.hasUser(7));
  t.equal(map.size, 0);
  t.equal(map.usersOnLink(LINK_A), 0);
});

t.test('a mobile-only user is not online; PC presence makes them online', async (t) => {
  const map = new OnlineUserMap();
  map.addDevice(8, LINK_A, ANDROID);
  t.ok(map.hasUser(8));
  t.notOk(map.isOnline(8), 'mobile only reads as offline');
  map.addDevice(8, LINK_B, MAC);
  t.ok(map.isOnline(8));
  map.removeDevice(8, LINK_B, MAC);
  t.notOk(map.isOnline(8));
  t.same([...map.deviceCounts(8)], [[ANDROID, 1]]);
});

t.test('an offline from a link that never reported the device changes nothing', async (t) => {
  const map = new OnlineUserMap();
  map.addDevice(9, LINK_A, WINDOWS);
  t.notOk(map.removeDevice(9, LINK_B, WINDOWS), 'other link');
  t.notOk(map.removeDevice(9, LINK_A, MAC), 'other type');
  t.notOk(map.removeDevice(10, LINK_A, WINDOWS), 'unknown user');
  t.same([...map.deviceCounts(9)], [[WINDOWS, 1]]);
});

t.test('removing a link removes exactly its devices and reports PC presence flips', async (t) => {
  const map = new OnlineUserMap();
  map.addDevice(1, LINK_A, WINDOWS); // only on A
  map.addDevice(2, LINK_A, WINDOWS); // PC on A, mobile on B
  map.addDevice(2, LINK_B, IOS);
  map.addDevice(3, LINK_A, MAC); // PC on both
  map.addDevice(3, LINK_B, WINDOWS);
  const changes = map.removeLink(LINK_A);
  t.same(
    changes.sort((x, y) => x.userId - y.userId),
    [
      { userId: 1, hadPc: true, hasPc: false, stillOnline: false },
      { userId: 2, hadPc: true, hasPc: false, stillOnline: true },
      { userId: 3, hadPc: true, hasPc: true, stillOnline: true },
    ],
  );
  t.notOk(map.hasUser(1));
  t.same([...map.deviceCounts(2)], [[IOS, 1]]);
  t.same([...map.deviceCounts(3)], [[WINDOWS, 1]], 'the Mac that A reported is gone, B\'s Windows stays');
  t.same([...map.devicesByLink(3).keys()], [LINK_B]);
  t.equal(map.usersOnLink(LINK_A), 0);
});

t.test('a snapshot replaces what the link reported before; resending it does not double count', async (t) => {
  const map = new OnlineUserMap();
  map.addDevice(1, LINK_B, WINDOWS);
  const first = map.replaceLink(LINK_A, [
    { userId: 1, clientType: WINDOWS },
    { userId: 2, clientType: ANDROID },
    { userId: 2, clientType: ANDROID },
  ]);
  t.same(
    first.sort((x, y) => x.userId - y.userId),
    [
      { userId: 1, hadPc: true, hasPc: true, stillOnline: true },
      { userId: 2, hadPc: false, hasPc: false, stillOnline: true },
    ],
  );
  map.replaceLink(LINK_A, [
    { userId: 1, clientType: WINDOWS },
    { userId: 2, clientType: ANDROID },
    { userId: 2, clientType: ANDROID },
  ]);
  t.same([...map.deviceCounts(1)], [[WINDOWS, 2]], 'one from A, one from B');
  t.same([...map.deviceCounts(2)], [[ANDROID, 2]]);

  const shrink = map.replaceLink(LINK_A, [{ userId: 3, clientType: MAC }]);
  t.same(
    shrink.sort((x, y) => x.userId - y.userId),
    [
      { userId: 1, hadPc: true, hasPc: true, stillOnline: true },
      { userId: 2, hadPc: false, hasPc: false, stillOnline: false },
      { userId: 3, hadPc: false, hasPc: true, stillOnline: true },
    ],
  );
  t.same([...map.deviceCounts(1)], [[WINDOWS, 1]]);
  t.notOk(map.hasUser(2));
  t.equal(map.usersOnLink(LINK_A), 1);
  t.equal(map.size, 2);
});
