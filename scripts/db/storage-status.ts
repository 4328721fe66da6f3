/**
 * What `npm run storage -- status` prints: every MariaDB server (role, the
 * message tables it holds and their rows, for replicas the measured lag and
 * the replication threads) and every Redis node (role, slots, keys).
 *
 * Lag is measured as the db-proxy measures it: the primary's GTID position is
 * taken and timed until the replica has applied it (MASTER_GTID_WAIT); the
 * replica's own Seconds_Behind_Master is shown next to it.
 */
import mysql from 'mysql2/promise';
import pino from 'pino';
import { parseMysqlUrl } from '../../lib/mysql-url';
import type { HostPort } from '../../lib/host-port';
import { RedisGateway, type RedisNodeStatus } from '../../services/db-proxy/redis-gateway';

export interface MysqlServerStatus {
  server: string;
  role: 'primary' | 'replica';
  address: string;
  up: boolean;
  error?: string;
  /** Message tables it holds (a replica: those its primary holds, as replicated). */
  messageTables: string[];
  /** Rows per message table (exact, or InnoDB's estimate with --estimate). */
  rows: Record<string, number>;
  gtidPosition?: string;
  /** Replicas: the primary's address, measured lag, replication threads. */
  replicaOf?: string;
  lagMs?: number | null;
  secondsBehindMaster?: number | null;
  ioRunning?: boolean;
  sqlRunning?: boolean;
  lastError?: string;
}

export interface StorageStatus {
  mysql: MysqlServerStatus[];
  redis: RedisNodeStatus[] | { error: string };
}

export interface StatusTarget {
  /** Admin URL of each primary, by server name. */
  primaries: Record<string, string>;
  /** Admin URLs of each server's replicas. */
  replicas: Record<string, string[]>;
  redis: { url: string; clusterNodes: HostPort[]; sentinels: HostPort[]; sentinelName: string; sentinelPassword: string; keyPrefix: string };
}

/** How long the lag measurement waits for a replica (a stopped one reports "over this"). */
const LAG_WAIT_S = 5;

export async function storageStatus(target: StatusTarget, opts: { estimate?: boolean } = {}): Promise<StorageStatus> {
  const mysqlStatus: MysqlServerStatus[] = [];
  for (const [server, url] of Object.entries(target.primaries)) {
    const primary = await serverStatus(server, 'primary', url, opts.estimate === true);
    mysqlStatus.push(primary);
    for (const replicaUrl of target.replicas[server] ?? []) {
      const replica = await serverStatus(server, 'replica', replicaUrl, opts.estimate === true);
      replica.replicaOf = primary.address;
      if (replica.up) Object.assign(replica, await replicationOf(replicaUrl, url));
      mysqlStatus.push(replica);
    }
  }
  return { mysql: mysqlStatus, redis: await redisStatus(target.redis) };
}

async function connect(url: string): Promise<mysql.Connection> {
  const conn = await mysql.createConnection({ ...parseMysqlUrl(url), connectTimeout: 3000 });
  conn.on('error', () => {});
  return conn;
}

async function serverStatus(server: string, role: 'primary' | 'replica', url: string, estimate: boolean): Promise<MysqlServerStatus> {
  const t = parseMysqlUrl(url);
  const status: MysqlServerStatus = { server, role, address: `${t.host}:${t.port}`, up: false, messageTables: [], rows: {} };
  let conn: mysql.Connection | null = null;
  try {
    conn = await connect(url);
    status.up = true;
    const [tables] = await conn.query<mysql.RowDataPacket[]>(
      "SELECT table_name AS name, table_rows AS estimate FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name REGEXP '^IM(Group)?Message_[0-9]+$'",
    );
    const names = tables.map((r) => String(r.name)).sort((a, b) => order(a) - order(b));
    status.messageTables = names;
    for (const name of names) {
      if (estimate) {
        status.rows[name] = Number(tables.find((r) => String(r.name) === name)?.estimate ?? 0);
      } else {
        const [count] = await conn.query<mysql.RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${name}\``);
        status.rows[name] = Number(count[0].n);
      }
    }
    const [pos] = await conn.query<mysql.RowDataPacket[]>(role === 'primary' ? 'SELECT @@GLOBAL.gtid_binlog_pos AS p' : 'SELECT @@GLOBAL.gtid_slave_pos AS p');
    status.gtidPosition = String(pos[0].p ?? '');
  } catch (err) {
    status.error = (err as Error).message;
  } finally {
    await conn?.end().catch(() => undefined);
  }
  return status;
}

/** IMMessage_2 before IMMessage_10, single before group. */
function order(name: string): number {
  const m = /^IM(Group)?Message_(\d+)$/.exec(name);
  return m === null ? 0 : Number(m[2]) * 2 + (m[1] ? 1 : 0);
}

async function replicationOf(replicaUrl: string, primaryUrl: string): Promise<Partial<MysqlServerStatus>> {
  const out: Partial<MysqlServerStatus> = {};
  let replica: mysql.Connection | null = null;
  let primary: mysql.Connection | null = null;
  try {
    replica = await connect(replicaUrl);
    const [slave] = await replica.query<mysql.RowDataPacket[]>('SHOW SLAVE STATUS');
    if (slave.length > 0) {
      const s = slave[0];
      out.secondsBehindMaster = s.Seconds_Behind_Master === null ? null : Number(s.Seconds_Behind_Master);
      out.ioRunning = s.Slave_IO_Running === 'Yes';
      out.sqlRunning = s.Slave_SQL_Running === 'Yes';
      const lastError = String(s.Last_SQL_Error || s.Last_IO_Error || '');
      if (lastError !== '') out.lastError = lastError;
    }
    primary = await connect(primaryUrl);
    const started = Date.now();
    const [pos] = await primary.query<mysql.RowDataPacket[]>('SELECT @@GLOBAL.gtid_binlog_pos AS p');
    const [wait] = await replica.query<mysql.RowDataPacket[]>('SELECT MASTER_GTID_WAIT(?, ?) AS r', [String(pos[0].p ?? ''), LAG_WAIT_S]);
    out.lagMs = Number(wait[0].r) === 0 ? Date.now() - started : null;
    if (out.lagMs === null) out.lastError = out.lastError ?? `has not applied the primary's position within ${LAG_WAIT_S} s`;
  } catch (err) {
    out.lastError = (err as Error).message;
  } finally {
    await replica?.end().catch(() => undefined);
    await primary?.end().catch(() => undefined);
  }
  return out;
}

async function redisStatus(r: StatusTarget['redis']): Promise<RedisNodeStatus[] | { error: string }> {
  const gateway = new RedisGateway(
    { url: r.url, keyPrefix: r.keyPrefix, timeoutMs: 5000, connectTimeoutMs: 3000, clusterNodes: r.clusterNodes, sentinels: r.sentinels, sentinelName: r.sentinelName, sentinelPassword: r.sentinelPassword },
    pino({ level: 'silent' }),
  );
  try {
    await gateway.start();
    if (!gateway.isUp) return { error: `Redis (${gateway.description}) is not reachable` };
    return await gateway.nodes();
  } catch (err) {
    return { error: (err as Error).message };
  } finally {
    await gateway.close();
  }
}
