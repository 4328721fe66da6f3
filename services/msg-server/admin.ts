/**
 * The msg server's part of its admin endpoint (lib/admin-server.ts: HTTPS,
 * admin certificates only):
 *
 *   GET  /status            load, state (active, draining, drained), links
 *   GET  /users?q=TEXT      logged-in users whose name contains TEXT (or whose id is TEXT), with their devices
 *   POST /kick {"user": NAME or ID}   every connection of that user here gets the kick notice and is closed
 *   POST /drain {}          starts draining (see drain.ts)
 */
import type express from 'express';
import { AdminRequestError, requesterOf } from '../../lib/admin-server';
import { IM } from '../../pdu/commands';
import type { PduServer } from '../../pdu/server';
import type { MsgServerContext } from './context';
import type { Drain } from './drain';
import { kickConnection } from './handlers/login';
import { clientTypeName } from './metrics';
import type { OnlineUser } from './online-users';

const { KickReasonType } = IM.BaseDefine;

/** Users listed by one search at most. */
export const USER_SEARCH_LIMIT = 50;

export interface MsgServerAdminDeps {
  ctx: MsgServerContext;
  server: PduServer<unknown>;
  drain: Drain;
  /** Client port (bound). */
  port(): number;
}

export interface OnlineUserView {
  userId: number;
  name: string;
  devices: Array<{ conn: number; clientType: string; status: number; peer: string }>;
}

function view(user: OnlineUser): OnlineUserView {
  return {
    userId: user.userId,
    name: user.loginName,
    devices: user.connections.map((c) => ({ conn: c.id, clientType: clientTypeName(c.clientType), status: c.onlineStatus, peer: c.remoteAddress })),
  };
}

export function msgServerStatus({ ctx, server, drain, port }: MsgServerAdminDeps): object {
  return {
    hostName: ctx.config.hostName,
    port: port(),
    publicIp: ctx.config.publicIp1,
    state: drain.state,
    drain: drain.status(),
    maxConnections: ctx.config.maxConnections,
    connections: server.connections.size,
    onlineConnections: ctx.users.onlineConnections,
    onlineUsers: ctx.users.userCount,
    messagesStored: ctx.stats.messagesStored,
    messagesFailed: ctx.stats.messagesFailed,
    floodDropped: ctx.stats.floodDropped,
    deliveries: { ...ctx.deliveries.stats },
    links: { loginServers: ctx.logins.states(), routeServers: ctx.routes.states(), dbProxies: ctx.db.states() },
  };
}

export function msgServerAdminRoutes(deps: MsgServerAdminDeps): (router: express.Router) => void {
  const { ctx, drain } = deps;
  return (router) => {
    router.get('/users', (req, res) => {
      const q = typeof req.query.q === 'string' ? req.query.q.trim().toLowerCase() : '';
      if (q.length > 64) throw new AdminRequestError('q must be at most 64 characters');
      const found: OnlineUserView[] = [];
      for (const user of ctx.users.users()) {
        if (found.length >= USER_SEARCH_LIMIT) break;
        if (q === '' || user.loginName.toLowerCase().includes(q) || String(user.userId) === q) found.push(view(user));
      }
      res.json({ onlineUsers: ctx.users.userCount, users: found, limit: USER_SEARCH_LIMIT });
    });

    router.post('/kick', (req, res) => {
      const target = (req.body as { user?: unknown } | undefined)?.user;
      const user =
        typeof target === 'number' && Number.isInteger(target)
          ? ctx.users.get(target)
          : typeof target === 'string' && target !== ''
            ? ctx.users.getByName(target)
            : null;
      if (user === null) throw new AdminRequestError('body must be {"user": NAME or ID}');
      const who = requesterOf(req);
      const connections = [...(user?.connections ?? [])];
      for (const conn of connections) {
        // Duplicate login is the one kick reason every TeamTalk client understands: it shows
        // the notice and does not reconnect on its own.
        kickConnection(ctx, conn, KickReasonType.KICK_REASON_DUPLICATE_USER, `kicked by operator ${who.by}`);
      }
      ctx.logger.warn({ userId: user?.userId, user: target, kicked: connections.length, by: who.by, certificate: who.certificate }, 'operator kicked a user');
      res.json({ kicked: connections.length, userId: user?.userId ?? null });
    });

    router.post('/drain', (req, res) => {
      const who = requesterOf(req);
      const started = drain.start(who);
      res.status(started ? 202 : 200).json({ started, ...drain.status() });
    });
  };
}
