/**
 * A real cluster across hosts: MariaDB, Redis, the route server, the login
 * server, the db-proxy and two msg servers each in a network namespace of its
 * own (its own address, nothing on loopback to share), clients in another, all
 * joined by a bridge. The services run as the processes a real host runs, with
 * the environment `npm run topology -- env` writes for systemd (one topology,
 * scripts/topology/services.ts), and the clients chat across the msg servers.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ensureCa } from '../../lib/pki';
import { projectRoot } from '../../lib/paths';
import { tlsEnv } from '../../scripts/cluster/pki';
import { localCredentials } from '../../scripts/infra/credentials';
import { serviceInstances, storageAccess } from '../../scripts/topology/services';
import { parseTopology } from '../../scripts/topology/topology';
import { Hosts } from '../helpers/netns';

const NET = '10.213.7';
const ADDRESSES = {
  db: `${NET}.10`,
  redis: `${NET}.11`,
  route: `${NET}.12`,
  login: `${NET}.13`,
  dbproxy: `${NET}.14`,
  msg1: `${NET}.15`,
  msg2: `${NET}.16`,
  clients: `${NET}.20`,
};

// Skipped only where this machine cannot make network namespaces (the reason is printed).
const unavailable = Hosts.unavailable();

t.test('the chat flow across seven hosts (network namespaces)', { skip: unavailable ?? false }, async (t) => {
  const started = Date.now();
  const hosts = await Hosts.create(t, ADDRESSES);
  const runDir = await mkdtemp(join(tmpdir(), 'tt-multihost-'));
  t.teardown(async () => {
    await hosts.destroy(); // its servers first: their data is in runDir
    await rm(runDir, { recursive: true, force: true });
  });
  // The secrets first: both storage agents read them from runDir.
  const creds = localCredentials(runDir);
  t.teardown(() => {
    if (t.passing()) return;
    for (const [name, lines] of hosts.logs) t.comment(`--- ${name}\n${lines.slice(-15).join('\n')}`);
  });
  const agent = join(projectRoot, 'dist', 'test', 'multihost', 'host-agent.js');
  const hostsOf = Object.fromEntries(Object.entries(ADDRESSES).map(([name, address]) => [name, { internal: address }]));
  const topology = parseTopology(
    {
      name: 'multihost',
      logLevel: 'info',
      hosts: hostsOf,
      storage: {
        database: 'teamtalk',
        mysql: { main: { host: 'db', port: 3306 } },
        redis: { server: { host: 'redis', port: 6379 } },
      },
      services: {
        'route-server': [{ host: 'route', port: 8200, adminPort: 8281 }],
        'login-server': [{ host: 'login', port: 8100, httpPort: 8080, adminPort: 8181 }],
        'db-proxy': [{ host: 'dbproxy', port: 10600, adminPort: 10681 }],
        'msg-server': [
          { host: 'msg1', port: 8000, adminPort: 9000 },
          { host: 'msg2', port: 8000, adminPort: 9000 },
        ],
      },
    },
    null,
  );

  // Storage hosts first: their agents provision the servers where they run.
  const [db, redis] = await Promise.all([
    hosts.agent('db', 'mariadb', agent, ['mariadb', runDir, ADDRESSES.db, '3306', [ADDRESSES.db, ADDRESSES.dbproxy].join(',')]),
    hosts.agent('redis', 'redis', agent, ['redis', runDir, ADDRESSES.redis, '6379']),
  ]);
  t.ok(db.ready && redis.ready, `MariaDB on ${ADDRESSES.db}, Redis on ${ADDRESSES.redis}`);
  t.comment(`hosts made and storage provisioned in ${Date.now() - started} ms`);
  const servicesAt = Date.now();

  // Every service as its own process on its host, with its certificate from the cluster's CA.
  const pki = ensureCa(join(runDir, 'pki'));
  const instances = serviceInstances(topology, storageAccess(topology, { mysqlUser: creds.mysqlUser, mysqlPassword: creds.mysqlPassword, redisPassword: creds.redisPassword }), (prefix, role, name, names) =>
    tlsEnv(pki, prefix, role, name, names),
  );
  t.same(instances.map((i) => `${i.name}@${i.host}`).sort(), ['db-proxy@dbproxy', 'login-server@login', 'msg-server-1@msg1', 'msg-server-2@msg2', 'route-server@route'], 'one process per service, each on its host');
  for (const i of instances) {
    t.notMatch(JSON.stringify(i.env), /127\.0\.0\.1|localhost"/, `${i.name}: no loopback address in its configuration`);
    hosts.spawn(i.host, i.name, process.execPath, [join(projectRoot, i.script)], i.env);
  }

  const result = await hosts.agent('clients', 'clients', agent, ['client', `http://${ADDRESSES.login}:8080/msg_server`, `${ADDRESSES.msg1}:8000`, `${ADDRESSES.msg2}:8000`], 150_000);
  t.comment(`services up and the chat flow done in ${Date.now() - servicesAt} ms`);
  const msgServers = [`${ADDRESSES.msg1}:8000`, `${ADDRESSES.msg2}:8000`];
  t.ok(msgServers.includes(String(result.aliceOn)), `the login server hands out a msg server's own address (${String(result.aliceOn)})`);
  t.ok(msgServers.includes(String(result.bobOn)) && result.bobOn !== result.aliceOn, `bob on the other msg server (${String(result.bobOn)})`);
  t.same(result.acks, [1, 2, 3], 'alice got acks for three messages');
  t.same(result.delivered, ['over the wire 1', 'over the wire 2', 'over the wire 3'], "bob received them on the other host, through the route server's host");
  t.equal(result.replyId, 4, "bob's reply has the next id of the conversation");
  t.equal(result.back, 'reply across hosts', 'alice received the reply');
  t.same(result.history, [4, 3, 2, 1], "bob's history, from MariaDB on its host");
  t.same(result.unread, [{ from: (db.users as number[])[1], count: 1 }], "alice's unread count, from Redis on its host");
});
