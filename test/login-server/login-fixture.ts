/**
 * A login server in the test process on free ports, and fake msg servers that
 * register with it over real TCP the way msg servers do.
 */
import type { Test } from 'tap';
import { IM } from '../../pdu/commands';
import { silentLogger, type Logger } from '../../lib/log';
import { loginServerConfig, type LoginServerConfig } from '../../services/login-server/config';
import type { ListedMsgServer } from '../../services/login-server/http/admin-api';
import { startLoginServer, type RunningLoginServer } from '../../services/login-server/login-server';
import { FakeMsgServer } from '../route-server/fake-msg-server';
import { tlsSettings } from '../helpers/tls';
import { waitFor } from '../helpers/wait';
import { adminGet } from '../helpers/admin';

export async function startLogin(
  t: Test,
  overrides: Partial<LoginServerConfig> = {},
  logger: Logger = silentLogger(),
): Promise<RunningLoginServer> {
  const login = await startLoginServer(
    loginServerConfig.load({ env: {}, overrides: { httpPort: 0, msgServerPort: 0, adminPort: 0, ...tlsSettings('login-server'), ...overrides } }),
    logger,
  );
  t.teardown(() => login.stop('test over'));
  return login;
}

export interface Registration {
  ip1: string;
  ip2?: string;
  port: number;
  max?: number;
  cur?: number;
  hostName?: string;
  /** Sent as IMMsgServInfo.ws_url (this implementation's extension field). */
  wsUrl?: string;
  /** The teamtalk-ts extension field (an original msg server sends none). */
  adminUrl?: string;
}

/** A msg server that registers (0x0709) on every connect; send count updates through it. */
export async function registerMsgServer(
  t: Test,
  login: RunningLoginServer,
  reg: Registration,
  connection: { heartbeatIntervalMs?: number } = {},
): Promise<FakeMsgServer> {
  const before = await adminList(login);
  const fake = await FakeMsgServer.start(t, login.msgServerPort, {
    name: reg.hostName ?? `msg-${reg.port}`,
    serverRole: 'login-server',
    connection,
    onUp: (conn) =>
      conn.send(IM.Server.IMMsgServInfo, {
        ip1: reg.ip1,
        ip2: reg.ip2 ?? reg.ip1,
        port: reg.port,
        max_conn_cnt: reg.max ?? 100,
        cur_conn_cnt: reg.cur ?? 0,
        host_name: reg.hostName ?? `msg-${reg.port}`,
        ...(reg.wsUrl !== undefined ? { ws_url: reg.wsUrl } : {}),
        ...(reg.adminUrl === undefined ? {} : { admin_url: reg.adminUrl }),
      }),
  });
  await waitFor(async () => (await adminList(login)).length === before.length + 1, 3000, `${reg.hostName} registered`);
  return fake;
}

export function userCount(fake: FakeMsgServer, loggedIn: boolean, userId = 1): void {
  fake.send(IM.Server.IMUserCntUpdate, { user_action: loggedIn ? 1 : 2, user_id: userId });
}

export async function adminList(login: RunningLoginServer): Promise<ListedMsgServer[]> {
  return adminGet<ListedMsgServer[]>(login.adminUrl, 'login-server', '/msg_servers');
}

/** Waits until the admin list shows msg server `port` with `cur` users (count updates have no reply). */
export async function waitForCount(login: RunningLoginServer, port: number, cur: number): Promise<void> {
  await waitFor(async () => (await adminList(login)).some((s) => s.port === port && s.cur === cur), 3000, `msg server ${port} at ${cur} users`);
}

export async function askMsgServer(
  login: RunningLoginServer,
  init: RequestInit & { path?: string; host?: string } = {},
): Promise<{ status: number; text: string; headers: Headers; json: Record<string, unknown> }> {
  const host = init.host ?? '127.0.0.1';
  const res = await fetch(`http://${host}:${login.httpPort}${init.path ?? '/msg_server'}`, init);
  const text = await res.text();
  return { status: res.status, text, headers: res.headers, json: JSON.parse(text) as Record<string, unknown> };
}
