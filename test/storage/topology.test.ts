/**
 * The topology file format: the built-in topologies parse, mistakes are named
 * with their path, every environment variable a service instance gets is one
 * of its config keys (and the configs load and pass their checks), env files
 * for a real host (npm run topology -- env) and the systemd units that read them.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { envName, type ServiceConfig, type Spec } from '../../lib/config';
import { projectRoot } from '../../lib/paths';
import { findExecutable } from '../../scripts/infra/system';
import { serviceInstances, storageAccess } from '../../scripts/topology/services';
import { loadTopology, parseTopology, renumberPorts, storageEndpoints, SERVICE_NAMES, TOPOLOGY_DIR, type ServiceName } from '../../scripts/topology/topology';
import { consoleConfig } from '../../services/console/config';
import { checkDbProxyConfig, dbProxyConfig } from '../../services/db-proxy/config';
import { fileServerConfig } from '../../services/file-server/config';
import { loginServerConfig } from '../../services/login-server/config';
import { msfsConfig } from '../../services/msfs/config';
import { msgServerConfig } from '../../services/msg-server/config';
import { pushServerConfig } from '../../services/push-server/config';
import { routeServerConfig } from '../../services/route-server/config';

const CONFIGS: Record<ServiceName, ServiceConfig<Spec>> = {
  'db-proxy': dbProxyConfig as unknown as ServiceConfig<Spec>,
  'route-server': routeServerConfig as unknown as ServiceConfig<Spec>,
  'login-server': loginServerConfig as unknown as ServiceConfig<Spec>,
  'msg-server': msgServerConfig as unknown as ServiceConfig<Spec>,
  msfs: msfsConfig as unknown as ServiceConfig<Spec>,
  'file-server': fileServerConfig as unknown as ServiceConfig<Spec>,
  'push-server': pushServerConfig as unknown as ServiceConfig<Spec>,
  console: consoleConfig as unknown as ServiceConfig<Spec>,
};

const secrets = { mysqlUser: 'teamtalk', mysqlPassword: 'p@ss:word', redisPassword: 'r3dis' };
const tls = (prefix: string, _role: string, name: string) => ({ [envName(prefix, 'tlsCaFile')]: '/pki/ca.crt', [envName(prefix, 'tlsCertFile')]: `/pki/${name}.crt`, [envName(prefix, 'tlsKeyFile')]: `/pki/${name}.key` });

t.test('built-in topologies: every variable is a config key of its service, and the configs load', async (t) => {
  const files = readdirSync(TOPOLOGY_DIR).filter((f) => f.endsWith('.json'));
  t.ok(files.includes('sharded.json') && files.includes('example-hosts.json'), 'sharded and example-hosts');
  for (const file of files) {
    const topology = loadTopology(join(TOPOLOGY_DIR, file));
    const instances = serviceInstances(topology, storageAccess(topology, secrets), tls);
    for (const service of SERVICE_NAMES) t.equal(instances.filter((i) => i.service === service).length, topology.services[service].length, `${file}: ${service} instances`);
    for (const i of instances) {
      const config = CONFIGS[i.service];
      const known = new Set(Object.entries(config.spec).flatMap(([key, f]) => [envName(config.envPrefix, key), ...f.aliases]));
      t.same(Object.keys(i.env).filter((k) => !known.has(k)), [], `${file} ${i.name}: no variable its config does not know`);
      const loaded = config.load({ env: i.env });
      if (i.service === 'db-proxy') t.doesNotThrow(() => checkDbProxyConfig(loaded as ReturnType<typeof dbProxyConfig.load>), `${file} ${i.name}: db-proxy config passes its checks`);
    }
  }
  const sharded = loadTopology('sharded');
  const proxy = dbProxyConfig.load({ env: serviceInstances(sharded, storageAccess(sharded, secrets), tls).find((i) => i.service === 'db-proxy')?.env });
  t.match(proxy, { messageTableCount: 16, shardMap: { '8-15': 'shard2' }, redisClusterNodes: [{ host: '127.0.0.1', port: 37001 }] }, 'the sharded db-proxy: 16 tables, shard2, Redis Cluster');
  t.equal(proxy.mysqlReplicaUrls.length, 1, 'a replica of main');
  t.match(proxy.mysqlServers.shard2.url, /^mysql:\/\/teamtalk:p%40ss%3Aword@127\.0\.0\.1:33408\/teamtalk$/, 'shard2 with the services account, password URL-encoded');
  t.same(storageEndpoints(sharded).map((e) => e.what), ['MariaDB main (primary)', 'MariaDB main replica', 'MariaDB shard2 (primary)', 'Redis Cluster (6 nodes)'], 'every storage endpoint');
  const example = loadTopology('example-hosts');
  const msg = serviceInstances(example, storageAccess(example, secrets), tls).find((i) => i.name === 'msg-server-2');
  t.match(msg?.env, { TT_MSG_LISTEN_HOST: '0.0.0.0', TT_MSG_PUBLIC_IP1: '203.0.113.12', TT_MSG_DB_PROXIES: '10.0.0.11:10600,10.0.0.12:10600', TT_MSG_ROUTE_SERVERS: '10.0.0.11:8200,10.0.0.12:8200' }, 'a msg server on app2 reaches peers on both hosts by their internal addresses');
});

t.test('renumbered ports: consecutive from the base, none twice', async (t) => {
  const moved = renumberPorts(loadTopology('sharded'), 19700);
  const instances = serviceInstances(moved, storageAccess(moved, secrets), tls);
  const ports = [
    ...Object.values(moved.storage.mysql).flatMap((m) => [m.port, ...m.replicas.map((r) => r.port)]),
    ...(moved.storage.redis.kind === 'cluster' ? moved.storage.redis.nodes.map((n) => n.port) : []),
    ...SERVICE_NAMES.flatMap((s) => moved.services[s].flatMap((e) => Object.entries(e).filter(([k, v]) => k !== 'host' && typeof v === 'number' && v > 0).map(([, v]) => v as number))),
  ];
  t.equal(new Set(ports).size, ports.length, 'distinct');
  t.equal(Math.min(...ports), 19700);
  t.equal(Math.max(...ports), 19700 + ports.length - 1, 'consecutive');
  t.equal(instances.find((i) => i.name === 'db-proxy-2')?.env.TT_DB_PROXY_LISTEN_PORT, String(moved.services['db-proxy'][1].port));
  t.throws(() => renumberPorts(loadTopology('sharded'), 65530), /beyond 65535/);
});

t.test('mistakes are named with their path', async (t) => {
  const base = () => JSON.parse(readFileSync(join(TOPOLOGY_DIR, 'sharded.json'), 'utf8'));
  const bad = (change: (o: Record<string, any>) => void, message: RegExp, what: string) => {
    const o = base();
    change(o);
    t.throws(() => parseTopology(o, 'x.json'), message, what);
  };
  bad((o) => (o.storage.mysql = { shard2: o.storage.mysql.shard2 }), /storage\.mysql must have a "main" server/, 'no main server');
  bad((o) => (o.services['db-proxy'][0].host = 'elsewhere'), /services\.db-proxy\[0\]\.host names host "elsewhere"/, 'unknown host');
  bad((o) => (o.services['route-server'][0].port = 10600), /uses 127\.0\.0\.1:10600, as does services\.db-proxy\[0\]/, 'a port used twice');
  bad((o) => (o.storage.shardMap = { '8-16': 'shard2' }), /storage\.shardMap.*outside the tables 0-15/, 'a table beyond the count');
  bad((o) => (o.storage.shardMap = { '8-15': 'shard9' }), /storage\.shardMap.*"shard9".*not in "mysqlServers"/, 'an unknown server');
  bad((o) => (o.storage.redis.cluster = o.storage.redis.cluster.slice(0, 4)), /needs at least 6 nodes/, 'too few cluster nodes');
  bad((o) => (o.storage.redisKeyPrefix = 'a{b}'), /redisKeyPrefix must not contain/, 'a hash tag in the prefix');
  bad((o) => (o.colour = 'blue'), /\(top level\)\.colour is not a known key/, 'an unknown key');
  bad((o) => (o.services['msg-server'][1].wsPort = 'x'), /services\.msg-server\[1\]\.wsPort must be an integer/, 'a bad port');
  t.throws(() => loadTopology('no-such-topology'), /no topology "no-such-topology"/);
});

t.test('npm run topology -- env: env files for one host; systemd units run them', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tt-topology-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const secretsFile = join(dir, 'secrets.json');
  writeFileSync(secretsFile, JSON.stringify(secrets), { mode: 0o600 });
  const cli = join(projectRoot, 'dist', 'scripts', 'topology-cli.js');
  const out = join(dir, 'etc');
  const printed = execFileSync(process.execPath, [cli, 'env', '--topology', join(TOPOLOGY_DIR, 'example-hosts.json'), '--host', 'app2', '--out', out, '--secrets', secretsFile], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const files = readdirSync(out).sort();
  t.same(files, ['db-proxy-2.env', 'file-server.env', 'msg-server-2.env', 'push-server.env', 'route-server-2.env'], 'one env file per instance on app2');
  for (const f of files) t.equal(statSync(join(out, f)).mode & 0o777, 0o600, `${f} is mode 600 (it holds passwords)`);
  const dbProxyEnv = Object.fromEntries(
    readFileSync(join(out, 'db-proxy-2.env'), 'utf8')
      .split('\n')
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => {
        const eq = l.indexOf('=');
        return [l.slice(0, eq), JSON.parse(l.slice(eq + 1)) as string];
      }),
  );
  const loaded = dbProxyConfig.load({ env: dbProxyEnv });
  t.match(loaded, { listenHost: '10.0.0.12', tlsCertFile: '/etc/teamtalk/pki/db-proxy-2.crt', shardMap: { '8-15': 'shard2' } }, 'the env file loads as the db-proxy config');
  t.equal(readFileSync(join(out, 'file-server.env'), 'utf8').includes('TT_FILE_OFFLINE_DIR="/var/lib/teamtalk/file-server/offline"'), true, 'data under /var/lib/teamtalk');
  t.match(printed, /npm run certs -- issue --role db-proxy --name db-proxy-2 --host 10\.0\.0\.12 --host 203\.0\.113\.12/, 'how to issue each certificate');
  t.match(printed, /systemctl enable --now teamtalk-msg-server@msg-server-2/, 'how to enable each unit');
  const usage = spawnSync(process.execPath, [cli, 'env', '--topology', 'sharded'], { encoding: 'utf8' });
  t.equal(usage.status, 2, 'missing options: exit 2');
  const check = spawnSync(process.execPath, [cli, 'check', '--topology', 'sharded'], { encoding: 'utf8' });
  t.equal(check.status, 0);
  t.match(check.stdout, /Redis Cluster \(6 nodes\)/);

  const units = join(projectRoot, 'deploy', 'systemd');
  for (const service of SERVICE_NAMES) {
    const file = join(units, `teamtalk-${service}@.service`);
    t.ok(existsSync(file), `a unit for ${service}`);
    const text = readFileSync(file, 'utf8');
    t.match(text, /EnvironmentFile=\/etc\/teamtalk\/%i\.env/, `${service}: reads its env file`);
    const script = /ExecStart=\/usr\/bin\/node \/opt\/teamtalk\/(\S+)/.exec(text)?.[1] ?? '';
    t.ok(existsSync(join(projectRoot, script)), `${service}: ExecStart runs ${script}, which the build makes`);
  }
  const analyze = findExecutable(['systemd-analyze']);
  if (analyze !== null && findExecutable(['node']) === '/usr/bin/node') {
    // systemd's own check of an instance of each unit (it also looks for /usr/bin/node).
    for (const service of SERVICE_NAMES) {
      const copy = join(dir, `teamtalk-${service}@check.service`);
      writeFileSync(copy, readFileSync(join(units, `teamtalk-${service}@.service`), 'utf8'));
      const res = spawnSync(analyze, ['verify', copy], { encoding: 'utf8' });
      t.equal(res.status, 0, `systemd-analyze verify ${service}: ${res.stderr.trim() || 'clean'}`);
    }
  } else {
    t.comment('systemd-analyze or /usr/bin/node not on this machine: units checked as text only');
  }
});
