/**
 * Config discipline (lib/config.ts) across the services: overrides are checked
 * like files and env, cross-key rules hold whatever the source, hosts are
 * validated, the size limits are keys, and a too-large PDU names its key.
 */
import t from 'tap';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../lib/errors';
import { FrameDecoder, encodeFrame } from '../../pdu/frame';
import { msgServerConfig } from '../../services/msg-server/config';
import { routeServerConfig } from '../../services/route-server/config';
import { loginServerConfig } from '../../services/login-server/config';
import { dbProxyConfig } from '../../services/db-proxy/config';
import { pushServerConfig } from '../../services/push-server/config';
import { fileServerConfig } from '../../services/file-server/config';
import { consoleConfig } from '../../services/console/config';

t.test('programmatic overrides are validated like files and env', async (t) => {
  t.throws(() => routeServerConfig.load({ env: {}, overrides: { listenPort: 70_000 } }), {
    message: 'route-server config: key "listenPort" must be a port number from 0 to 65535, got 70000 (from overrides)',
  });
  t.throws(() => msgServerConfig.load({ env: {}, overrides: { floodLimitPerSecond: 0 } }), { message: /"floodLimitPerSecond" must be an integer from 1/ });
  t.throws(() => msgServerConfig.load({ env: {}, overrides: { dbProxies: [] } }), { message: /"dbProxies" must be a list of host:port \(at least 1\)/ });
  t.throws(() => msgServerConfig.load({ env: {}, overrides: { logLevel: 'loud' } }), ConfigError);
  t.throws(() => msgServerConfig.load({ env: {}, overrides: { nope: 1 } as never }), { message: 'msg-server config: unknown key "nope" in overrides' });
  t.equal(msgServerConfig.load({ env: { TT_MSG_LISTEN_PORT: '9001' }, overrides: { listenPort: 9002 } }).listenPort, 9002, 'overrides still win');
  t.equal(msgServerConfig.load({ env: { TT_MSG_LISTEN_PORT: '9001' }, overrides: { listenPort: undefined } }).listenPort, 9001, 'an undefined override is no override');
});

const heartbeatRules: Array<[string, () => unknown, RegExp]> = [
  ['msg-server', () => msgServerConfig.load({ env: {}, overrides: { linkHeartbeatIntervalMs: 20_000, linkTimeoutMs: 30_000 } }), /"linkHeartbeatIntervalMs" \(20000\) must be at most half of "linkTimeoutMs" \(30000\)/],
  ['route-server', () => routeServerConfig.load({ env: { TT_ROUTE_LINK_TIMEOUT_MS: '5000' } }), /"heartbeatIntervalMs" \(5000\) must be at most half of "linkTimeoutMs" \(5000\)/],
  ['login-server', () => loginServerConfig.load({ env: {}, overrides: { heartbeatIntervalMs: 40_000 } }), /login-server config: key "heartbeatIntervalMs"/],
  ['db-proxy', () => dbProxyConfig.load({ env: {}, overrides: { linkTimeoutMs: 9_000 } }), /db-proxy config: key "heartbeatIntervalMs" \(5000\) must be at most half of "linkTimeoutMs" \(9000\)/],
  ['push-server', () => pushServerConfig.load({ env: { TT_PUSH_HEARTBEAT_INTERVAL_MS: '30000' } }), /push-server config: key "heartbeatIntervalMs"/],
  ['file-server', () => fileServerConfig.load({ env: {}, overrides: { heartbeatIntervalMs: 15_001 } }), /file-server config: key "heartbeatIntervalMs" \(15001\)/],
];

t.test('every service with link heartbeats refuses a heartbeat that is not well within the link timeout', async (t) => {
  for (const [service, load, message] of heartbeatRules) t.throws(load, { message }, service);
  t.doesNotThrow(() => msgServerConfig.load({ env: {}, overrides: { linkHeartbeatIntervalMs: 15_000, linkTimeoutMs: 30_000 } }), 'exactly half is fine');
});

t.test('a rule is checked for values from a file too', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tt-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'route.json');
  writeFileSync(file, JSON.stringify({ heartbeatIntervalMs: 1000, linkTimeoutMs: 1500 }));
  t.throws(() => routeServerConfig.load({ env: {}, file }), { message: /"heartbeatIntervalMs" \(1000\) must be at most half of "linkTimeoutMs" \(1500\)/ });
  t.throws(() => dbProxyConfig.load({ env: {}, overrides: { maxQueuedPerConnection: 30_000 } }), { message: /"maxQueuedPerConnection"/ }, 'service rules run at load');
});

t.test('hosts are IP addresses or host names', async (t) => {
  for (const good of ['0.0.0.0', '::', '::1', '10.1.2.3', 'msg-1.example.com', 'localhost']) {
    t.equal(msgServerConfig.load({ env: { TT_MSG_LISTEN_HOST: good } }).listenHost, good, good);
  }
  for (const bad of ['', 'bad host', 'a/b', 'http://x', '-lead.example', 'x..y', '[::1]', '1.2.3.4:80']) {
    t.throws(() => msgServerConfig.load({ env: {}, overrides: { listenHost: bad } }), { message: /key "listenHost" must be an IP address or a host name/ }, JSON.stringify(bad));
  }
  t.equal(msgServerConfig.load({ env: {} }).publicIp2, '', 'an optional host may be empty');
  t.throws(() => msgServerConfig.load({ env: { TT_MSG_PUBLIC_IP2: 'no such host!' } }), { message: /"publicIp2"/ });
  t.throws(() => msgServerConfig.load({ env: { TT_MSG_ROUTE_SERVERS: '127.0.0.1:8200,bad_host!:8201' } }), { message: /"routeServers"/ });
  t.throws(() => msgServerConfig.load({ env: {}, overrides: { routeServers: [{ host: 'a b', port: 8200 }] } }), { message: /"routeServers"/ });
  t.throws(() => msgServerConfig.load({ env: { TT_MSG_DB_PROXIES: '[fe80::zz]:10600' } }), { message: /"dbProxies"/ }, 'brackets hold an IPv6 address');
  t.same(msgServerConfig.load({ env: { TT_MSG_DB_PROXIES: '[::1]:10600' } }).dbProxies, [{ host: '::1', port: 10600 }]);
  t.throws(() => fileServerConfig.load({ env: { TT_FILE_PUBLIC_IPS: '203.0.113.5,not a host' } }), { message: /"publicIps"/ });
  t.throws(() => consoleConfig.load({ env: { TT_CONSOLE_HTTP_HOST: 'x y' } }), { message: /"httpHost"/ });
});

t.test('the size limits are keys with floors', async (t) => {
  const db = dbProxyConfig.load({ env: {} });
  t.same([db.maxRequestPduBytes, db.maxWriteQueueBytes], [4 * 1024 * 1024, 256 * 1024 * 1024]);
  t.equal(loginServerConfig.load({ env: {} }).msgServerMaxPduBytes, 64 * 1024);
  const msg = msgServerConfig.load({ env: { TT_MSG_LINK_MAX_PDU_BYTES: '1048576' } });
  t.same([msg.linkMaxPduBytes, msg.linkMaxWriteQueueBytes], [1024 * 1024, 256 * 1024 * 1024]);
  t.equal(pushServerConfig.load({ env: {} }).maxPduBytes, 4 * 1024 * 1024);
  t.equal(fileServerConfig.load({ env: {} }).msgServerMaxPduBytes, 1024 * 1024);
  t.throws(() => dbProxyConfig.load({ env: { TT_DB_PROXY_MAX_REQUEST_PDU_BYTES: '100' } }), { message: /"maxRequestPduBytes" must be an integer from 65536/ });
  t.throws(() => msgServerConfig.load({ env: {}, overrides: { linkMaxWriteQueueBytes: 1000 } }), { message: /"linkMaxWriteQueueBytes"/ });
  t.throws(() => loginServerConfig.load({ env: { TT_LOGIN_MSG_SERVER_MAX_PDU_BYTES: '10' } }), { message: /"msgServerMaxPduBytes"/ });
  t.throws(() => dbProxyConfig.load({ env: { TT_DB_PROXY_PAUSE_READING_ABOVE_BYTES: String(256 * 1024 * 1024) } }), {
    message: /"pauseReadingAboveBytes" \(268435456\) must be below "maxWriteQueueBytes" \(268435456\)/,
  });
});

t.test('a PDU over the limit is refused with a hint that names the key', async (t) => {
  const frame = encodeFrame(1, 0x0101, 1, Buffer.alloc(2000));
  const named = new FrameDecoder(1024, 'clientMaxPduBytes').push(frame, () => {});
  t.equal(named?.message, 'PDU length 2016 exceeds the limit of 1024 bytes (raise clientMaxPduBytes if such PDUs are legitimate on this link)');
  const fixed = new FrameDecoder(1024).push(frame, () => {});
  t.equal(fixed?.message, 'PDU length 2016 exceeds the limit of 1024 bytes', 'no hint where no key sets the limit');
});
