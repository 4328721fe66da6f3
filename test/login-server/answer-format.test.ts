/**
 * Pure pieces of the login server's answer: the original's JSON layout, the
 * address checks, and the least-loaded choice.
 */
import t from 'tap';
import { isLoopbackAddress, prefersFirstAddress } from '../../services/login-server/addresses';
import { styledJson } from '../../services/login-server/http/styled-json';
import { MsgServerRegistry } from '../../services/login-server/msg-server-registry';

t.test('styled JSON: byte-ordered keys, three-space indent, " : ", trailing newline', async (t) => {
  t.equal(styledJson({ msg: '', code: 0, Zeta: 'z' }), '{\n   "Zeta" : "z",\n   "code" : 0,\n   "msg" : ""\n}\n');
  t.equal(styledJson({}), '{}\n');
  const risky = styledJson({ hostName: '</script><b>"x"&' });
  t.equal(risky, '{\n   "hostName" : "\\u003c/script\\u003e\\u003cb\\u003e\\"x\\"\\u0026"\n}\n', 'no markup in a text/html body');
  t.same(JSON.parse(risky), { hostName: '</script><b>"x"&' }, 'and the value is intact');
});

t.test('loopback addresses', async (t) => {
  for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1', 'localhost', 'LOCALHOST', '[::1]']) t.ok(isLoopbackAddress(a), a);
  for (const a of ['10.0.0.1', '128.0.0.1', '::ffff:10.0.0.1', '2001:db8::1', 'example.com', '1270.0.0.1']) t.notOk(isLoopbackAddress(a), a);
});

t.test('IPv4 clients (also IPv4-mapped) get ip1 first', async (t) => {
  t.ok(prefersFirstAddress('203.0.113.7'));
  t.ok(prefersFirstAddress('::ffff:203.0.113.7'));
  t.notOk(prefersFirstAddress('2001:db8::7'));
  t.notOk(prefersFirstAddress('::1'));
});

t.test('choice: least loaded below its limit, ties in registration order, none vs full, closing links vetoed', async (t) => {
  const registry = new MsgServerRegistry();
  t.same(registry.choose(), { kind: 'none' });
  const reg = (cur: number, max: number, port: number) => ({ ip1: 'a', ip2: 'b', port, maxConnections: max, currentConnections: cur, hostName: `h${port}`, wsUrl: '' });
  registry.register(1, 'p', 0, reg(3, 3, 8001));
  t.same(registry.choose(), { kind: 'full' });
  registry.register(2, 'p', 0, reg(2, 5, 8002));
  registry.register(3, 'p', 0, reg(2, 5, 8003));
  const chosen = registry.choose();
  t.equal(chosen.kind === 'chosen' && chosen.server.port, 8002);
  const vetoed = registry.choose((e) => e.linkId !== 2);
  t.equal(vetoed.kind === 'chosen' && vetoed.server.port, 8003);
  t.same(registry.choose((e) => e.linkId === 1), { kind: 'full' });
  t.same(registry.choose(() => false), { kind: 'none' });
  registry.register(2, 'p', 0, reg(4, 5, 8002));
  t.same(
    registry.list().map((e) => e.port),
    [8001, 8002, 8003],
    're-registration keeps its place',
  );
  t.equal(registry.userCountChanged(9, true), undefined);
  t.equal(registry.totalUsers, 9);
});
