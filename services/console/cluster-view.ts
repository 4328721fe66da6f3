/**
 * The cluster as the console sees it, assembled from the services' admin
 * endpoints: login servers (configured) list the msg servers with their admin
 * URLs; route servers and db-proxies are configured. Actions go to the admin
 * endpoint concerned. Only services found this way can be targeted: a browser
 * cannot make the console call an arbitrary URL.
 */
import type { AdminClient, AdminTarget } from '../../lib/admin-client';
import type { HostPort } from '../../lib/host-port';
import { errorMessage } from '../../lib/errors';
import type { LoggedWarning } from '../../lib/log';
import type { ListedMsgServer } from '../login-server/http/admin-api';

export type ServiceKind = 'login-server' | 'msg-server' | 'route-server' | 'db-proxy';

export interface ServiceRef extends AdminTarget {
  kind: ServiceKind;
  /** For people: the host name of a msg server, else host:port of its admin endpoint. */
  name: string;
}

export interface ServiceView extends ServiceRef {
  /** The admin endpoint answered. */
  up: boolean;
  error: string | null;
  /** Its GET /status, when up. */
  status: Record<string, unknown> | null;
}

export interface MsgServerView extends ServiceView {
  /** Client address as the login server hands it out. */
  address: string;
  /** From the login server's list: active, full, draining, closing; "unlisted" once it left the list. */
  listed: string;
  cur: number;
  max: number;
}

export interface Overview {
  at: string;
  loginServers: ServiceView[];
  msgServers: MsgServerView[];
  routeServers: ServiceView[];
  dbProxies: ServiceView[];
  onlineUsers: number;
}

export interface FoundUser {
  userId: number;
  name: string;
  devices: Array<{ conn: number; clientType: string; status: number; peer: string }>;
  msgServer: { name: string; url: string; address: string };
}

const urlOf = (hp: HostPort) => `https://${hp.host.includes(':') ? `[${hp.host}]` : hp.host}:${hp.port}`;

export class ClusterView {
  private readonly loginServers: ServiceRef[];
  private readonly routeServers: ServiceRef[];
  private readonly dbProxies: ServiceRef[];
  /** Msg servers seen in the last overview (or user search), by admin URL. */
  private known = new Map<string, MsgServerView>();

  constructor(
    private readonly client: AdminClient,
    endpoints: { loginServers: HostPort[]; routeServers: HostPort[]; dbProxies: HostPort[] },
  ) {
    const ref = (kind: ServiceKind) => (hp: HostPort): ServiceRef => ({ kind, url: urlOf(hp), role: kind, name: `${hp.host}:${hp.port}` });
    this.loginServers = endpoints.loginServers.map(ref('login-server'));
    this.routeServers = endpoints.routeServers.map(ref('route-server'));
    this.dbProxies = endpoints.dbProxies.map(ref('db-proxy'));
  }

  async overview(): Promise<Overview> {
    const [loginServers, routeServers, dbProxies, msgServers] = await Promise.all([
      Promise.all(this.loginServers.map((s) => this.view(s))),
      Promise.all(this.routeServers.map((s) => this.view(s))),
      Promise.all(this.dbProxies.map((s) => this.view(s))),
      this.msgServers(),
    ]);
    const onlineUsers = msgServers.reduce((n, m) => n + Number(m.status?.onlineUsers ?? 0), 0);
    return { at: new Date().toISOString(), loginServers, msgServers, routeServers, dbProxies, onlineUsers };
  }

  /** Every msg server some login server lists (one entry per admin URL), with its own status. */
  async msgServers(): Promise<MsgServerView[]> {
    const lists = await Promise.all(
      this.loginServers.map((login) => this.client.get<ListedMsgServer[]>(login, '/msg_servers').catch(() => [] as ListedMsgServer[])),
    );
    const byUrl = new Map<string, ListedMsgServer>();
    for (const list of lists) for (const entry of list) if (entry.admin !== null && !byUrl.has(entry.admin)) byUrl.set(entry.admin, entry);
    const views = await Promise.all(
      [...byUrl].map(async ([url, entry]) => {
        const ref: ServiceRef = { kind: 'msg-server', url, role: 'msg-server', name: entry.hostName };
        const view = await this.view(ref);
        return { ...view, address: `${entry.ip1}:${entry.port}`, listed: entry.state, cur: entry.cur, max: entry.max };
      }),
    );
    views.sort((a, b) => a.address.localeCompare(b.address));
    // A msg server that just left the lists (drained) stays targetable until the next look.
    this.known = new Map(views.map((v) => [v.url, v]));
    return views;
  }

  /** The services whose log level and warnings the console shows. */
  async services(): Promise<ServiceRef[]> {
    const msg = await this.msgServers();
    return [...this.loginServers, ...this.routeServers, ...this.dbProxies, ...msg.map(({ kind, url, role, name }) => ({ kind, url, role, name }))];
  }

  /** Logged-in users whose name contains `q` (or whose id is `q`), on every msg server. */
  async findUsers(q: string): Promise<{ users: FoundUser[]; errors: string[] }> {
    const servers = (await this.msgServers()).filter((m) => m.up);
    const errors: string[] = [];
    const users: FoundUser[] = [];
    await Promise.all(
      servers.map(async (m) => {
        try {
          const answer = await this.client.get<{ users: Array<Omit<FoundUser, 'msgServer'>> }>(m, `/users?q=${encodeURIComponent(q)}`);
          for (const u of answer.users) users.push({ ...u, msgServer: { name: m.name, url: m.url, address: m.address } });
        } catch (err) {
          errors.push(`${m.name}: ${errorMessage(err)}`);
        }
      }),
    );
    users.sort((a, b) => a.name.localeCompare(b.name) || a.msgServer.address.localeCompare(b.msgServer.address));
    return { users, errors };
  }

  /** Kicks `user` (name or id) off every msg server that has it. */
  async kick(user: string | number, operator: string): Promise<{ kicked: number; servers: string[] }> {
    const servers = (await this.msgServers()).filter((m) => m.up);
    let kicked = 0;
    const where: string[] = [];
    await Promise.all(
      servers.map(async (m) => {
        const answer = await this.client.send<{ kicked: number }>(m, 'POST', '/kick', { user }, operator);
        if (answer.kicked > 0) {
          kicked += answer.kicked;
          where.push(m.name);
        }
      }),
    );
    return { kicked, servers: where };
  }

  async drain(url: string, operator: string): Promise<{ started: boolean; name: string }> {
    const target = this.known.get(url) ?? (await this.msgServers()).find((m) => m.url === url);
    if (target === undefined) throw new UnknownServiceError(`no msg server with admin URL ${url}`);
    const answer = await this.client.send<{ started: boolean }>(target, 'POST', '/drain', {}, operator);
    return { started: answer.started, name: target.name };
  }

  async setLogLevel(url: string, level: string, operator: string): Promise<{ name: string; kind: ServiceKind; level: string; before: string }> {
    const target = (await this.services()).find((s) => s.url === url);
    if (target === undefined) throw new UnknownServiceError(`no service with admin URL ${url}`);
    const answer = await this.client.send<{ level: string; before: string }>(target, 'PUT', '/log-level', { level }, operator);
    return { name: target.name, kind: target.kind, ...answer };
  }

  /** The latest warnings of every service, newest first. */
  async warnings(limit = 50): Promise<Array<LoggedWarning & { service: string; kind: ServiceKind }>> {
    const services = await this.services();
    const all: Array<LoggedWarning & { service: string; kind: ServiceKind }> = [];
    await Promise.all(
      services.map(async (s) => {
        try {
          const answer = await this.client.get<{ warnings: LoggedWarning[] }>(s, '/warnings');
          for (const w of answer.warnings) all.push({ ...w, service: s.name, kind: s.kind });
        } catch {
          // Shown as down in the overview.
        }
      }),
    );
    all.sort((a, b) => b.time.localeCompare(a.time));
    return all.slice(0, limit);
  }

  /** Status of the msg servers and db-proxies (the chart sampler). */
  async statuses(kind: 'msg-server' | 'db-proxy'): Promise<Array<{ url: string; status: Record<string, unknown> }>> {
    const refs = kind === 'db-proxy' ? this.dbProxies : await this.msgServers();
    const out: Array<{ url: string; status: Record<string, unknown> }> = [];
    await Promise.all(
      refs.map(async (r) => {
        try {
          out.push({ url: r.url, status: await this.client.get<Record<string, unknown>>(r, '/status') });
        } catch {
          // A gap in the chart.
        }
      }),
    );
    return out;
  }

  private async view(ref: ServiceRef): Promise<ServiceView> {
    try {
      const status = await this.client.get<Record<string, unknown>>(ref, '/status');
      return { ...ref, up: true, error: null, status };
    } catch (err) {
      return { ...ref, up: false, error: errorMessage(err), status: null };
    }
  }
}

/** An action named a service the console does not know. */
export class UnknownServiceError extends Error {}
