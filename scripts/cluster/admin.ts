/**
 * The npm scripts' way to the admin endpoints of a local cluster: an "admin"
 * certificate from the local CA, and the login server's list of msg servers.
 */
import { AdminClient, type AdminTarget } from '../../lib/admin-client';
import type { ListedMsgServer } from '../../services/login-server/http/admin-api';
import { sleep } from '../infra/system';
import { localIdentity } from './pki';

export type { ListedMsgServer };

/** An admin client with this tool's own certificate (issued by the local CA on first use). */
export function localAdminClient(name: string, timeoutMs = 5_000): AdminClient {
  return new AdminClient(localIdentity('admin', name), timeoutMs);
}

export function loginAdmin(host: string, port: number): AdminTarget {
  return { url: `https://${host}:${port}`, role: 'login-server' };
}

export function listMsgServers(client: AdminClient, login: AdminTarget): Promise<ListedMsgServer[]> {
  return client.get<ListedMsgServer[]>(login, '/msg_servers');
}

/** Until the login server lists `count` msg servers; false after timeoutMs. */
export async function waitForMsgServers(client: AdminClient, login: AdminTarget, count: number, timeoutMs = 60_000): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    try {
      if ((await listMsgServers(client, login)).length >= count) return true;
    } catch {
      // not up yet
    }
    await sleep(250);
  }
  return false;
}
