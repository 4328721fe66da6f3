/**
 * The one question the fuzzer asks the login server's admin endpoint (HTTPS,
 * admin certificates only): which msg servers are registered (the cluster is
 * up once both are; the sentinel checks they stay listed). The access is kept
 * as file paths so that it crosses to the sentinel's process as plain JSON.
 */
import { AdminClient, type AdminTarget } from '../../lib/admin-client';
import { InternalTls } from '../../lib/internal-tls';
import { listMsgServers } from '../../scripts/cluster/admin';

export interface FuzzAdminAccess {
  login: AdminTarget;
  caFile: string;
  certFile: string;
  keyFile: string;
}

export function fuzzAdminClient(access: FuzzAdminAccess, timeoutMs: number): AdminClient {
  const identity = InternalTls.load('fuzz-admin', 'admin', {
    tlsCaFile: access.caFile,
    tlsCertFile: access.certFile,
    tlsKeyFile: access.keyFile,
    tlsHandshakeTimeoutMs: timeoutMs,
    plaintextPeers: [],
  });
  return new AdminClient(identity, timeoutMs);
}

export async function registeredMsgServers(client: AdminClient, access: FuzzAdminAccess): Promise<string[]> {
  const list = await listMsgServers(client, access.login);
  if (!Array.isArray(list)) throw new Error(`${access.login.url}/msg_servers did not answer a list of msg servers`);
  return list.map((s) => String(s.hostName));
}
