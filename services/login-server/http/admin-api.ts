/**
 * The login server's part of its admin endpoint (lib/admin-server.ts: HTTPS,
 * admin certificates only): health, and the registered msg servers with their
 * loads, states and admin URLs (the web console finds the msg servers here).
 */
import type express from 'express';
import { MsgServerRegistry, type MsgServerEntry } from '../msg-server-registry';

export interface AdminApiDeps {
  registry: MsgServerRegistry;
  usable(entry: MsgServerEntry): boolean;
  startedAt: number;
}

/** One msg server in GET /msg_servers (what the console and the npm scripts read). */
export interface ListedMsgServer {
  conn: number;
  peer: string;
  hostName: string;
  ip1: string;
  ip2: string;
  port: number;
  wsUrl: string;
  cur: number;
  max: number;
  full: boolean;
  state: ReturnType<typeof msgServerState>;
  /** Its admin endpoint's URL (null for the original's msg servers). */
  admin: string | null;
  connectedSince: string;
  registeredAt: string;
}

/** What a msg server is doing, as the login server sees it. */
export function msgServerState(entry: MsgServerEntry, usable: (entry: MsgServerEntry) => boolean): 'active' | 'draining' | 'full' | 'closing' {
  if (!usable(entry)) return 'closing';
  if (MsgServerRegistry.isDraining(entry)) return 'draining';
  return entry.currentConnections >= entry.maxConnections ? 'full' : 'active';
}

export function adminRoutes({ registry, usable, startedAt }: AdminApiDeps): (router: express.Router) => void {
  return (router) => {
    router.get('/health', (_req, res) => {
      const servers = registry.list();
      res.json({
        status: 'ok',
        msgServers: servers.length,
        available: servers.filter((s) => msgServerState(s, usable) === 'active').length,
        users: registry.totalUsers,
        uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      });
    });
    router.get('/msg_servers', (_req, res) => {
      res.json(
        registry.list().map((s): ListedMsgServer => ({
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
          state: msgServerState(s, usable),
          admin: s.adminUrl ?? null,
          connectedSince: new Date(s.connectedSince).toISOString(),
          registeredAt: new Date(s.registeredAt).toISOString(),
        })),
      );
    });
  };
}
