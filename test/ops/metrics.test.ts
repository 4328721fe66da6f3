/**
 * Every service's admin endpoint, scraped the way Prometheus does (HTTPS with an
 * admin client certificate) after real traffic: the documented metrics are
 * there with live values. The endpoints refuse everyone else, and change the
 * log level at runtime, recording who asked.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { AdminCallError, AdminClient } from '../../lib/admin-client';
import { projectRoot } from '../../lib/paths';
import { clusterConfig } from '../../scripts/cluster/config';
import { IM } from '../../pdu/commands';
import { LoginRefusedError, fetchMsgServer } from '../../tools/client/im-client';
import { adminClient, adminGet, metricsText, sample } from '../helpers/admin';
import { startCluster } from '../helpers/cluster';
import { testIdentity } from '../helpers/tls';
import { waitFor } from '../helpers/wait';

/** The metrics README.md documents, per service (the default process metrics are checked once). */
const DOCUMENTED = {
  'msg-server': [
    'teamtalk_msg_server_client_connections',
    'teamtalk_msg_server_online_connections',
    'teamtalk_msg_server_online_users',
    'teamtalk_msg_server_logins_total',
    'teamtalk_msg_server_messages_total',
    'teamtalk_msg_server_deliveries_total',
    'teamtalk_msg_server_delivery_acks_total',
    'teamtalk_msg_server_delivery_resends_total',
    'teamtalk_msg_server_delivery_misses_total',
    'teamtalk_msg_server_commands_before_login_total',
    'teamtalk_msg_server_db_request_seconds',
    'teamtalk_msg_server_link_up',
    'teamtalk_msg_server_link_connects_total',
    'teamtalk_msg_server_draining',
    'teamtalk_msg_server_pdus_received_total',
    'teamtalk_msg_server_pdus_sent_total',
    'teamtalk_msg_server_pdu_received_bytes_total',
    'teamtalk_msg_server_pdu_sent_bytes_total',
  ],
  'db-proxy': [
    'teamtalk_db_proxy_requests_total',
    'teamtalk_db_proxy_request_seconds',
    'teamtalk_db_proxy_store_batch_messages',
    'teamtalk_db_proxy_store_batch_seconds',
    'teamtalk_db_proxy_requests_in_flight',
    'teamtalk_db_proxy_msg_server_connections',
    'teamtalk_db_proxy_storage_up',
    'teamtalk_db_proxy_storage_errors_total',
    'teamtalk_db_proxy_storage_outages_total',
    'teamtalk_db_proxy_storage_retries_total',
    'teamtalk_db_proxy_pdus_received_total',
    'teamtalk_db_proxy_pdus_sent_total',
  ],
  'route-server': [
    'teamtalk_route_server_msg_server_links',
    'teamtalk_route_server_online_users',
    'teamtalk_route_server_relays_total',
    'teamtalk_route_server_pdus_received_total',
    'teamtalk_route_server_pdus_sent_total',
  ],
  'login-server': ['teamtalk_login_server_msg_servers', 'teamtalk_login_server_users', 'teamtalk_login_server_answers_total', 'teamtalk_login_server_pdus_received_total'],
  process: ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_heap_size_used_bytes'],
} as const;

/** The HTTP status an admin call failed with (0: no answer); -1 if it did not fail. */
async function statusOf(call: Promise<unknown>): Promise<number> {
  try {
    await call;
    return -1;
  } catch (err) {
    return err instanceof AdminCallError ? err.status : -2;
  }
}

t.test('every service serves its documented metrics with live values', async (t) => {
  const cluster = await startCluster(t, { msgServers: 2, msg: { floodLimitPerSecond: 5 } });
  await cluster.addUsers(['alice', 'bob']);
  for (let i = 0; i < 2; i++) await fetchMsgServer(cluster.loginUrl);
  const alice = await cluster.loginAs('alice', 0);
  const bob = await cluster.loginAs('bob', 1);
  await cluster.loginAs('alice', 0, { clientType: IM.BaseDefine.ClientType.CLIENT_TYPE_ANDROID });
  const wrong = await cluster.connect(0);
  await t.rejects(wrong.login('bob', 'wrong password'), LoginRefusedError);
  for (let i = 0; i < 3; i++) {
    const ack = await alice.sendText(bob.userId, `hello ${i}`);
    await bob.next(IM.Message.IMMsgData, (m) => m.msg_id === ack.msg_id, 5000);
  }
  const [msg0, msg1] = cluster.msgServers;
  // Eight in one flood-control second, limit 5: three are dropped (and never acked).
  const window = msg0.context.floodWindow;
  await waitFor(() => msg0.context.floodWindow !== window, 3000, 'a fresh flood window');
  for (let i = 0; i < 8; i++) alice.sendText(bob.userId, `flood ${i}`).catch(() => undefined);

  await waitFor(async () => sample(await metricsText(msg0.adminUrl, 'msg-server'), 'teamtalk_msg_server_messages_total', { result: 'stored' }) === 8, 5000, 'the flood stored');
  await waitFor(async () => (sample(await metricsText(msg1.adminUrl, 'msg-server'), 'teamtalk_msg_server_delivery_acks_total') ?? 0) >= 8, 5000, 'acks counted');

  const texts = {
    'msg-server': await metricsText(msg0.adminUrl, 'msg-server'),
    'db-proxy': await metricsText(cluster.dbProxy.adminUrl, 'db-proxy'),
    'route-server': await metricsText(cluster.route.adminUrl, 'route-server'),
    'login-server': await metricsText(cluster.login.adminUrl, 'login-server'),
  };
  for (const [service, names] of Object.entries(DOCUMENTED)) {
    const text = service === 'process' ? texts['msg-server'] : texts[service as keyof typeof texts];
    for (const name of names) t.match(text, new RegExp(`^# HELP ${name} `, 'm'), `${service} has ${name}`);
  }
  for (const text of Object.values(texts)) t.ok((sample(text, 'nodejs_heap_size_used_bytes') ?? 0) > 0, 'heap is measured');

  const m0 = texts['msg-server'];
  t.equal(sample(m0, 'teamtalk_msg_server_messages_total', { result: 'stored' }), 3 + 5, 'stored messages: 3, and 5 of the flood within the limit');
  t.equal(sample(m0, 'teamtalk_msg_server_messages_total', { result: 'flood_dropped' }), 3, 'flood drops');
  t.equal(sample(m0, 'teamtalk_msg_server_logins_total', { result: 'ok', client_type: 'windows' }), 1, 'alice logged in on a PC');
  t.equal(sample(m0, 'teamtalk_msg_server_logins_total', { result: 'ok', client_type: 'android' }), 1, 'and on a phone');
  t.equal(sample(m0, 'teamtalk_msg_server_logins_total', { result: 'db_validate_failed', client_type: 'windows' }), 1, 'a wrong password, by result');
  t.equal(sample(m0, 'teamtalk_msg_server_online_users'), 1);
  t.equal(sample(m0, 'teamtalk_msg_server_online_connections', { client_type: 'windows' }), 1);
  t.equal(sample(m0, 'teamtalk_msg_server_online_connections', { client_type: 'android' }), 1);
  t.equal(sample(m0, 'teamtalk_msg_server_client_connections', { state: 'logged_in' }), 2);
  t.equal(sample(m0, 'teamtalk_msg_server_db_request_seconds_count', { command: 'CID_MSG_DATA' }), 8, 'store latency observed per stored message');
  t.ok((sample(m0, 'teamtalk_msg_server_pdus_received_total', { link: 'client', command: 'CID_MSG_DATA' }) ?? 0) >= 11, 'PDUs in by command');
  t.ok((sample(m0, 'teamtalk_msg_server_pdus_sent_total', { link: 'route-server', command: 'CID_MSG_DATA' }) ?? 0) >= 8, 'relays out to the route server');
  t.ok((sample(m0, 'teamtalk_msg_server_pdus_sent_total', { link: 'db-proxy', command: 'CID_MSG_DATA' }) ?? 0) >= 8, 'stores out to the db-proxy');
  t.equal(sample(m0, 'teamtalk_msg_server_link_up', { link: 'route-server' }), 1, 'route link up');
  t.equal(sample(m0, 'teamtalk_msg_server_link_up', { link: 'login-server' }), 1, 'login link up');
  t.equal(sample(m0, 'teamtalk_msg_server_draining'), 0);
  t.ok((sample(m0, 'nodejs_eventloop_lag_seconds') ?? -1) >= 0, 'event-loop lag');

  const m1 = await metricsText(msg1.adminUrl, 'msg-server');
  t.ok((sample(m1, 'teamtalk_msg_server_deliveries_total') ?? 0) >= 8, 'bob\'s server delivered them');
  t.ok((sample(m1, 'teamtalk_msg_server_delivery_acks_total') ?? 0) >= 8, 'and bob acked them');

  const db = texts['db-proxy'];
  t.equal(sample(db, 'teamtalk_db_proxy_requests_total', { command: 'CID_MSG_DATA', result: 'ok' }), 8);
  t.equal(sample(db, 'teamtalk_db_proxy_request_seconds_count', { command: 'CID_MSG_DATA' }), 8, 'message-store latency histogram');
  t.ok((sample(db, 'teamtalk_db_proxy_store_batch_messages_sum') ?? 0) === 8, 'every stored message was in a batch');
  t.ok((sample(db, 'teamtalk_db_proxy_store_batch_seconds_count', { result: 'stored' }) ?? 0) >= 1);
  t.ok((sample(db, 'teamtalk_db_proxy_requests_total', { command: 'CID_OTHER_VALIDATE_REQ', result: 'ok' }) ?? 0) >= 4, 'logins validated');
  t.equal(sample(db, 'teamtalk_db_proxy_storage_up', { store: 'mysql' }), 1);
  t.equal(sample(db, 'teamtalk_db_proxy_storage_up', { store: 'redis' }), 1);
  t.equal(sample(db, 'teamtalk_db_proxy_msg_server_connections'), 4, 'two links from each msg server');

  const route = texts['route-server'];
  t.equal(sample(route, 'teamtalk_route_server_online_users'), 2);
  t.equal(sample(route, 'teamtalk_route_server_msg_server_links'), 2);
  t.ok((sample(route, 'teamtalk_route_server_relays_total', { command: 'CID_MSG_DATA' }) ?? 0) >= 8, 'relays by command');

  const login = texts['login-server'];
  t.equal(sample(login, 'teamtalk_login_server_msg_servers', { state: 'active' }), 2);
  t.equal(sample(login, 'teamtalk_login_server_users'), 3, 'alice twice, bob once');
  t.equal(sample(login, 'teamtalk_login_server_answers_total', { result: 'ok' }), 2);

  const status = await adminGet<{ service: string; onlineUsers: number; state: string; logLevel: string }>(msg0.adminUrl, 'msg-server', '/status');
  t.match(status, { service: 'msg-server', onlineUsers: 1, state: 'active' }, 'status as JSON');
});

t.test('admin endpoints admit admin certificates only, and change the log level at runtime', async (t) => {
  const cluster = await startCluster(t, { msgServers: 1, captureLogs: true });
  const url = cluster.msgServers[0].adminUrl;
  const asMsgServer = new AdminClient(testIdentity('msg-server'));
  const rogue = new AdminClient(testIdentity('admin', 'rogue'));
  t.teardown(() => {
    asMsgServer.close();
    rogue.close();
  });
  t.equal(await statusOf(asMsgServer.get({ url, role: 'msg-server' }, '/metrics')), 0, 'a cluster certificate of another role gets no answer');
  t.equal(await statusOf(rogue.get({ url, role: 'msg-server' }, '/metrics')), 0, 'an admin certificate from another CA gets no answer');
  const plain = await new Promise<string>((resolve) => {
    const req = request(url.replace('https:', 'http:') + '/metrics', (res) => resolve(`HTTP ${res.statusCode}`));
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.end();
  });
  t.notMatch(plain, /^HTTP 200/, 'plain HTTP gets no metrics');
  await cluster.logLine((l) => l.msg === 'admin client did not authenticate; disconnected without an answer' && /role msg-server/.test(String(l.reason)), 'the refusal logged');
  const warnings = await adminGet<{ warnings: Array<{ msg: string }> }>(url, 'msg-server', '/warnings');
  t.ok(warnings.warnings.some((w) => w.msg === 'admin client did not authenticate; disconnected without an answer'), 'recent warnings are served');

  const changed = await adminClient().send<{ level: string; before: string }>({ url, role: 'msg-server' }, 'PUT', '/log-level', { level: 'debug' }, 'alice-operator');
  t.same(changed, { level: 'debug', before: 'info' });
  t.equal((await adminGet<{ level: string }>(url, 'msg-server', '/log-level')).level, 'debug');
  await cluster.logLine((l) => l.msg === 'log level changed' && l.by === 'alice-operator' && l.to === 'debug', 'the change logged with who made it');
  t.equal(await statusOf(adminClient().send({ url, role: 'msg-server' }, 'PUT', '/log-level', { level: 'loud' })), 400, 'an unknown level is refused');
  t.equal(await statusOf(adminClient().send({ url, role: 'msg-server' }, 'PUT', '/log-level', 'x'.repeat(20_000))), 413, 'a big body is refused');
  t.equal(await statusOf(adminClient().get({ url, role: 'db-proxy' }, '/status')), 0, 'the client checks the server\'s role too');
});

t.test('deploy/: the Grafana dashboard uses metrics the services serve; Prometheus scrapes the default admin ports', async (t) => {
  const cluster = await startCluster(t, { msgServers: 1 });
  const served = [
    await metricsText(cluster.msgServers[0].adminUrl, 'msg-server'),
    await metricsText(cluster.dbProxy.adminUrl, 'db-proxy'),
    await metricsText(cluster.route.adminUrl, 'route-server'),
    await metricsText(cluster.login.adminUrl, 'login-server'),
  ].join('\n');
  const dashboard = JSON.parse(readFileSync(join(projectRoot, 'deploy', 'grafana-dashboard.json'), 'utf8')) as { panels: Array<{ title: string; targets?: Array<{ expr: string }> }> };
  const used = new Set<string>();
  for (const panel of dashboard.panels) {
    for (const target of panel.targets ?? []) {
      for (const m of target.expr.matchAll(/\b((?:teamtalk|nodejs|process)_[a-z0-9_]+)\b/g)) used.add(m[1].replace(/_(bucket|count|sum)$/, ''));
    }
  }
  t.ok(used.size >= 20, `the dashboard queries ${used.size} metrics`);
  for (const name of used) t.match(served, new RegExp(`^# HELP ${name} `, 'm'), `${name} is served`);

  const scrape = readFileSync(join(projectRoot, 'deploy', 'prometheus.yml'), 'utf8');
  const targets = (job: string) => new RegExp(`job_name: ${job}[\\s\\S]*?targets: \\[([^\\]]*)\\]`).exec(scrape)?.[1].split(',').map((s) => s.trim().replace(/'/g, '')) ?? [];
  const cluster0 = clusterConfig.load({ env: {}, file: join(projectRoot, 'config', 'cluster.json') });
  t.same(targets('teamtalk-login-server'), [`127.0.0.1:${cluster0.loginAdminPort}`]);
  t.same(targets('teamtalk-route-server'), [`127.0.0.1:${cluster0.routeAdminPort}`]);
  t.same(targets('teamtalk-db-proxy'), [`127.0.0.1:${cluster0.dbProxyAdminPort}`]);
  t.same(targets('teamtalk-msg-server'), cluster0.msgServerAdminPorts.map((p) => `127.0.0.1:${p}`));
  t.match(scrape, /cert_file: \S+\/prometheus\.crt\n\s+key_file: \S+\/prometheus\.key/, 'the certificate `npm run certs -- issue --role admin --name prometheus` writes');
});
