/**
 * The topology `npm start` brings up: which ports, how many msg servers, which
 * database. From config/cluster.json (or TT_CLUSTER_CONFIG), env TT_CLUSTER_*.
 */
import { join } from 'node:path';
import { defineConfig, field, type ConfigOf } from '../../lib/config';
import { ConfigError } from '../../lib/errors';
import { projectRoot } from '../../lib/paths';

const spec = {
  logLevel: field.logLevel(),
  clientHost: field.host('127.0.0.1', 'address the client-facing ports listen on: login HTTP and msg-server client ports (0.0.0.0 to accept remote clients)'),
  internalHost: field.host('127.0.0.1', 'address the internal ports listen on and are reached at: route server, db-proxy, login registration, admin (keep it private)'),
  publicIp: field.host('127.0.0.1', 'address msg servers tell clients to connect to'),
  loginHttpPort: field.port(8080, 'login server HTTP port (clients GET /msg_server here)'),
  loginMsgServerPort: field.port(8100, 'login server port msg servers register on'),
  loginAdminPort: field.port(8181, 'login server admin endpoint (HTTPS, admin certificates: metrics, msg server list, log level)'),
  routePort: field.port(8200, 'route server port'),
  routeAdminPort: field.port(8281, 'route server admin endpoint'),
  standbyRoutePorts: field.portList([], 'more route servers (one per port): msg servers connect to all, the oldest link is their master; if it dies they move to the next'),
  dbProxyPort: field.port(10600, 'db-proxy port'),
  dbProxyAdminPort: field.port(10681, 'db-proxy admin endpoint'),
  extraDbProxyPorts: field.portList([], 'more db-proxies on the same database (one per port): msg servers spread requests over all and fail over when one dies'),
  msgServerPorts: field.portList([8000, 8001], 'one msg server per port', { min: 1 }),
  msgServerAdminPorts: field.portList([9000, 9001], 'admin endpoint of each msg server, in the order of msgServerPorts', { min: 1 }),
  consolePort: field.port(8190, 'web console (HTTP on internalHost; operators sign in with a password)'),
  msfsPort: field.port(8700, 'msfs client port (pictures; clientHost): the login server hands out http://publicIp:msfsPort/'),
  msfsInternalPort: field.port(8701, 'msfs internal port (voice messages from the db-proxy, mutual TLS)'),
  fileServerPort: field.port(8600, 'file server client port (clientHost; clients are told publicIp)'),
  fileServerInternalPort: field.port(8601, 'file server port msg servers connect to (mutual TLS)'),
  pushServerPort: field.port(8500, 'push server port msg servers connect to (mutual TLS)'),
  pushWebhookUrl: field.string('', 'where the push server POSTs notifications (JSON); empty: they go to .run/push-server/dead-letter.jsonl'),
  msgServerWsPorts: field.portList(
    [8400, 8401],
    'WebSocket port (for the web chat) of each msg server, in the order of msgServerPorts; [] = none',
  ),
  database: field.string('teamtalk', 'MariaDB database name', { nonEmpty: true }),
  redisKeyPrefix: field.string('', 'prefix for every Redis key (to share a Redis between clusters)'),
  seedDemoUsers: field.bool(true, 'create the demo users (published password) when the database has no users; only while clientHost is a loopback address'),
};

export const clusterConfig = defineConfig('cluster', 'TT_CLUSTER', spec);
export type ClusterConfig = ConfigOf<typeof spec>;

/** Rules a single key cannot express; a ConfigError names the keys. */
export function checkClusterConfig(config: ClusterConfig): void {
  if (config.msgServerAdminPorts.length !== config.msgServerPorts.length) {
    throw new ConfigError(
      `cluster config: key "msgServerAdminPorts" must list one port per msg server (${config.msgServerPorts.length} in "msgServerPorts"), got ${config.msgServerAdminPorts.length}`,
    );
  }
}

export const DEFAULT_CLUSTER_CONFIG_FILE = join(projectRoot, 'config', 'cluster.json');
