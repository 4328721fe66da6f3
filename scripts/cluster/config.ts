/**
 * The topology `npm start` brings up: which ports, how many msg servers, which
 * database. From config/cluster.json (or TT_CLUSTER_CONFIG), env TT_CLUSTER_*.
 */
import { join } from 'node:path';
import { defineConfig, field, type ConfigOf } from '../../lib/config';
import { projectRoot } from '../../lib/paths';

const spec = {
  logLevel: field.logLevel(),
  host: field.string('127.0.0.1', 'address every service listens on (0.0.0.0 to accept remote clients)', { nonEmpty: true }),
  publicIp: field.string('127.0.0.1', 'address msg servers tell clients to connect to', { nonEmpty: true }),
  loginHttpPort: field.port(8080, 'login server HTTP port (clients GET /msg_server here)'),
  loginMsgServerPort: field.port(8100, 'login server port msg servers register on'),
  loginAdminPort: field.port(8181, 'login server admin HTTP port (127.0.0.1 only)'),
  routePort: field.port(8200, 'route server port'),
  dbProxyPort: field.port(10600, 'db-proxy port'),
  msgServerPorts: field.portList([8000, 8001], 'one msg server per port', { min: 1 }),
  msgServerWsPorts: field.portList(
    [8400, 8401],
    'WebSocket port (for the web chat) of each msg server, in the order of msgServerPorts; [] = none',
  ),
  database: field.string('teamtalk', 'MariaDB database name', { nonEmpty: true }),
  redisKeyPrefix: field.string('', 'prefix for every Redis key (to share a Redis between clusters)'),
  seedDemoUsers: field.bool(true, 'create the demo users when the database has no users'),
};

export const clusterConfig = defineConfig('cluster', 'TT_CLUSTER', spec);
export type ClusterConfig = ConfigOf<typeof spec>;

export const DEFAULT_CLUSTER_CONFIG_FILE = join(projectRoot, 'config', 'cluster.json');
