/**
 * The operators' HTTP port (bound to 127.0.0.1 by default): health, and the
 * registered msg servers with their loads.
 */
import express from 'express';
import type { MsgServerEntry, MsgServerRegistry } from '../msg-server-registry';

export interface AdminApiDeps {
  registry: MsgServerRegistry;
  usable(entry: MsgServerEntry): boolean;
  startedAt: number;
}

export function createAdminApi({ registry, usable, startedAt }: AdminApiDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.use((_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    next();
  });
  app.get('/health', (_req, res) => {
    const servers = registry.list();
    res.json({
      status: 'ok',
      msgServers: servers.length,
      available: servers.filter((s) => usable(s) && s.currentConnections < s.maxConnections).length,
      users: registry.totalUsers,
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
    });
  });
  app.get('/msg_servers', (_req, res) => {
    res.json(
      registry.list().map((s) => ({
        conn: s.linkId,
        peer: s.peer,
        hostName: s.hostName,
        ip1: s.ip1,
        ip2: s.ip2,
        port: s.port,
        wsUrl: s.wsUrl,
        cur: s.currentConnections,
        max: s.maxConnections,
        full: s.currentConnections >= s.maxConnections,
        connectedSince: new Date(s.connectedSince).toISOString(),
        registeredAt: new Date(s.registeredAt).toISOString(),
      })),
    );
  });
  return app;
}
