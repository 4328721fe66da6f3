/**
 * The client HTTP endpoint over real sockets: the exact text, key set and
 * types of the original's answer (port is a string), headers (Cache-Control,
 * CORS), GET and POST, least-loaded choice, full servers skipped, codes 1 and 2,
 * IPv4 vs IPv6 clients, and the public /health.
 */
import t from 'tap';
import { adminGet } from '../helpers/admin';
import { askMsgServer, registerMsgServer, startLogin, userCount, waitForCount } from './login-fixture';

const SUCCESS_TEXT = `{
   "backupIP" : "10.0.0.2",
   "code" : 0,
   "discovery" : "http://127.0.0.1/api/discovery",
   "msfsBackup" : "http://127.0.0.1:8700/",
   "msfsPrior" : "http://127.0.0.1:8700/",
   "msg" : "",
   "port" : "8000",
   "priorIP" : "10.0.0.1"
}
`;

t.test('no msg server registered: code 1 with a clear message', async (t) => {
  const login = await startLogin(t);
  const answer = await askMsgServer(login);
  t.equal(answer.status, 200, 'always 200, like the original: clients read the code');
  t.equal(answer.text, '{\n   "code" : 1,\n   "msg" : "no msg server is available"\n}\n');
  t.equal(answer.headers.get('cache-control'), 'no-store');
  t.equal(answer.headers.get('access-control-allow-origin'), '*');
});

t.test('the answer is the original\'s text exactly, for GET and POST and any path under /msg_server', async (t) => {
  const login = await startLogin(t);
  await registerMsgServer(t, login, { ip1: '10.0.0.1', ip2: '10.0.0.2', port: 8000, hostName: 'msg-a' });
  const requests = [
    { method: 'GET' },
    { method: 'POST', body: '{"anything":"ignored"}', headers: { 'Content-Type': 'application/json' } },
    { method: 'GET', path: '/msg_server/?client=android' },
    { method: 'POST', path: '/msg_server_v2' },
  ];
  for (const init of requests) {
    const what = `${init.method} ${init.path ?? '/msg_server'}`;
    const answer = await askMsgServer(login, init);
    t.equal(answer.status, 200, what);
    t.equal(answer.text, SUCCESS_TEXT, `${what}: body`);
    t.equal(answer.headers.get('content-type'), 'text/html;charset=utf-8', `${what}: the original's content type`);
    t.equal(answer.headers.get('content-length'), String(Buffer.byteLength(SUCCESS_TEXT)));
    t.equal(answer.headers.get('cache-control'), 'no-store');
    t.equal(answer.headers.get('access-control-allow-origin'), '*');
    t.equal(answer.headers.get('connection'), 'close');
    t.equal(answer.headers.get('x-powered-by'), null);
  }
  const { json } = await askMsgServer(login);
  t.same(Object.keys(json).sort(), ['backupIP', 'code', 'discovery', 'msfsBackup', 'msfsPrior', 'msg', 'port', 'priorIP']);
  t.equal(typeof json.port, 'string', 'port is a string, as clients parse it');
  t.equal(typeof json.code, 'number');

  const other = await fetch(`http://127.0.0.1:${login.httpPort}/elsewhere`);
  t.equal(other.status, 404, 'other paths are not answered');
  await other.text();
});

t.test('a browser preflight is answered, and /health is there', async (t) => {
  const login = await startLogin(t);
  const preflight = await fetch(`http://127.0.0.1:${login.httpPort}/msg_server`, {
    method: 'OPTIONS',
    headers: { Origin: 'https://chat.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
  });
  t.equal(preflight.status, 204);
  t.equal(preflight.headers.get('access-control-allow-origin'), '*');
  t.match(preflight.headers.get('access-control-allow-methods'), /POST/);
  t.equal(preflight.headers.get('access-control-allow-headers'), 'content-type');

  const health = await fetch(`http://127.0.0.1:${login.httpPort}/health`);
  t.same(await health.json(), { status: 'ok' });
});

t.test('the least-loaded msg server with room is chosen; ties go to the first registered', async (t) => {
  const login = await startLogin(t, { msfsUrl: 'http://files.example:8700/', discoveryUrl: 'http://disc.example/api' });
  await registerMsgServer(t, login, { ip1: '10.0.1.1', port: 8001, cur: 5, max: 10 });
  const b = await registerMsgServer(t, login, { ip1: '10.0.1.2', port: 8002, cur: 2, max: 10 });
  await registerMsgServer(t, login, { ip1: '10.0.1.3', port: 8003, cur: 9, max: 10 });
  const chosen = async () => (await askMsgServer(login)).json;

  const first = await chosen();
  t.equal(first.port, '8002');
  t.equal(first.priorIP, '10.0.1.2');
  t.equal(first.msfsPrior, 'http://files.example:8700/');
  t.equal(first.msfsBackup, 'http://files.example:8700/');
  t.equal(first.discovery, 'http://disc.example/api');

  for (let i = 0; i < 3; i++) userCount(b, true, 100 + i);
  await waitForCount(login, 8002, 5);
  t.equal((await chosen()).port, '8001', '5 vs 5: the earlier registration wins');

  userCount(b, false);
  await waitForCount(login, 8002, 4);
  t.equal((await chosen()).port, '8002', 'a logout makes it the least loaded again');
});

t.test('full msg servers are skipped; when all are full the answer is code 2', async (t) => {
  const login = await startLogin(t);
  const a = await registerMsgServer(t, login, { ip1: '10.0.2.1', port: 8001, cur: 4, max: 5 });
  await registerMsgServer(t, login, { ip1: '10.0.2.2', port: 8002, cur: 3, max: 3 });
  t.equal((await askMsgServer(login)).json.port, '8001', 'the less loaded one is full, so it is skipped');
  userCount(a, true);
  await waitForCount(login, 8001, 5);
  const answer = await askMsgServer(login);
  t.equal(answer.text, '{\n   "code" : 2,\n   "msg" : "all msg servers are full"\n}\n');
  userCount(a, false);
  await waitForCount(login, 8001, 4);
  t.equal((await askMsgServer(login)).json.port, '8001', 'room again');
});

t.test('an IPv4 client gets ip1 first, an IPv6 client ip2 first (behaviour.md §2.1)', async (t) => {
  const v4 = await startLogin(t);
  await registerMsgServer(t, v4, { ip1: '198.51.100.1', ip2: '198.51.100.2', port: 8000 });
  const fromV4 = (await askMsgServer(v4)).json;
  t.same([fromV4.priorIP, fromV4.backupIP], ['198.51.100.1', '198.51.100.2']);

  const v6 = await startLogin(t, { httpHost: '::1' });
  await registerMsgServer(t, v6, { ip1: '198.51.100.1', ip2: '198.51.100.2', port: 8000 });
  const fromV6 = (await askMsgServer(v6, { host: '[::1]' })).json;
  t.same([fromV6.priorIP, fromV6.backupIP], ['198.51.100.2', '198.51.100.1']);
});

t.test('web clients (?transport=ws) get the least-loaded msg server with a WebSocket URL; others never see one', async (t) => {
  const login = await startLogin(t);
  t.equal(
    (await askMsgServer(login, { path: '/msg_server?transport=ws' })).text,
    '{\n   "code" : 1,\n   "msg" : "no msg server accepts WebSocket connections"\n}\n',
  );
  await registerMsgServer(t, login, { ip1: '10.0.0.1', ip2: '10.0.0.2', port: 8000, hostName: 'original' });
  await registerMsgServer(t, login, { ip1: '10.0.3.1', port: 8001, cur: 1, wsUrl: 'http://not-a-websocket.example/' });
  await registerMsgServer(t, login, { ip1: '10.0.3.2', port: 8002, cur: 5, wsUrl: 'wss://chat.example.com/ws' });
  t.equal((await askMsgServer(login)).text, SUCCESS_TEXT, 'a TCP client\'s answer is the original\'s exactly');

  const web = await askMsgServer(login, { path: '/msg_server?transport=ws' });
  t.equal(
    web.text,
    `{
   "backupIP" : "10.0.3.2",
   "code" : 0,
   "discovery" : "http://127.0.0.1/api/discovery",
   "msfsBackup" : "http://127.0.0.1:8700/",
   "msfsPrior" : "http://127.0.0.1:8700/",
   "msg" : "",
   "port" : "8002",
   "priorIP" : "10.0.3.2",
   "wsUrl" : "wss://chat.example.com/ws"
}
`,
    'the busier server, the only one with a usable WebSocket URL (an http:// one is not offered)',
  );
  const admin = await adminGet<Array<{ wsUrl: string }>>(login.adminUrl, 'login-server', '/msg_servers');
  t.same(admin.map((s) => s.wsUrl), ['', '', 'wss://chat.example.com/ws']);
});
