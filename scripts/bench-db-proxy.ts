/**
 * `npm run bench:db-proxy`: throughput of the message-store path. K senders,
 * each on its own TCP connection (like K msg-server links), store single-chat
 * messages in a closed loop (one outstanding store each) for a fixed time, on
 * the local MariaDB + Redis with their default durability (InnoDB commits
 * fsync'd, Redis AOF everysec). Prints one JSON line:
 *   {senders, seconds, stores_per_s, p50_ms, p99_ms, errors, acked, stored_rows, db_proxy}
 * and checks that every acknowledged store is a row in the message tables.
 *
 *   --senders K        concurrent senders (default 64)
 *   --seconds S        measured time (default 10; a 2 s warm-up comes first)
 *   --db-proxy MODE    process (default): a db-proxy child process, as in production;
 *                      in-process: in this process (sender and server share one core)
 *   --target host:port use a running db-proxy instead; it must use the database
 *                      tt_bench_db_proxy and Redis key prefix "tt_bench_db_proxy:"
 *   --keep             keep the bench database afterwards
 *   --plaintext        plain TCP to the db-proxy (it lists 127.0.0.1 in plaintextPeers), to measure what TLS costs
 *
 * Loopback only; it stops by itself. Its own database (tt_bench_db_proxy) and
 * Redis prefix are wiped at start and removed at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import Redis from 'ioredis';
import { IM } from '../pdu/commands';
import { PduConnection } from '../pdu/connection';
import { encodeHandleAttach } from '../pdu/attach';
import { encryptMessageText } from '../lib/message-crypto';
import { isLoopbackHost } from '../lib/host-port';
import { UsageError, parseCommandLine, parseHostPortOption } from '../lib/cli';
import { dialInternal, type InternalTls } from '../lib/internal-tls';
import { silentLogger } from '../lib/log';
import { parseMysqlUrl, withDatabase } from '../lib/mysql-url';
import { projectRoot } from '../lib/paths';
import { RemoteError } from '../lib/errors';
import { dbProxyConfig } from '../services/db-proxy/config';
import { startDbProxy } from '../services/db-proxy/db-proxy';
import { migrate } from './db/migrate';
import { provisionStorage } from './infra/provision';
import { deleteKeysWithPrefix } from './infra/redis';
import { freeLoopbackPort } from './infra/system';
import { localIdentity, localPki, tlsEnv } from './cluster/pki';

const DATABASE = 'tt_bench_db_proxy';
const REDIS_PREFIX = 'tt_bench_db_proxy:';
const WARMUP_SECONDS = 2;

interface Options {
  senders: number;
  seconds: number;
  mode: 'process' | 'in-process';
  target: { host: string; port: number } | null;
  keep: boolean;
  /** Plain TCP instead of mutual TLS to the db-proxy (to measure what TLS costs). */
  plaintext: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseCommandLine(
    argv,
    {
      senders: { type: 'string' },
      seconds: { type: 'string' },
      'db-proxy': { type: 'string' },
      target: { type: 'string' },
      keep: { type: 'boolean' },
      plaintext: { type: 'boolean' },
    },
    { positionals: false },
  );
  const senders = Number(values.senders ?? 64);
  const seconds = Number(values.seconds ?? 10);
  const mode = (values['db-proxy'] ?? 'process') as Options['mode'];
  if (!Number.isInteger(senders) || senders < 1 || senders > 2000) throw new Error('--senders must be an integer from 1 to 2000');
  if (!(seconds > 0 && seconds <= 600)) throw new Error('--seconds must be from 0 to 600');
  if (mode !== 'process' && mode !== 'in-process') throw new Error('--db-proxy must be "process" or "in-process"');
  const target = values.target === undefined ? null : parseHostPortOption('target', values.target);
  if (target !== null && !isLoopbackHost(target.host)) throw new UsageError('--target must be a loopback host:port (this bench never targets other machines)');
  return { senders, seconds, mode, target, keep: values.keep === true, plaintext: values.plaintext === true };
}

const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);


async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  const until = Date.now() + 20_000;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`db-proxy exited with code ${child.exitCode}`);
    const open = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('db-proxy did not start listening within 20 s');
}

async function wipeRedisPrefix(redisUrl: string): Promise<void> {
  const redis = new Redis(redisUrl, { lazyConnect: true });
  await redis.connect();
  await deleteKeysWithPrefix(redis, REDIS_PREFIX);
  redis.disconnect();
}

async function prepareDatabase(url: string, senders: number): Promise<Array<[number, number]>> {
  const admin = await mysql.createConnection({ ...parseMysqlUrl(url), database: undefined });
  await admin.query(`DROP DATABASE IF EXISTS \`${DATABASE}\``);
  await admin.end();
  await migrate(url);
  const db = await mysql.createConnection(parseMysqlUrl(url));
  const now = Math.floor(Date.now() / 1000);
  const users: unknown[][] = [];
  for (let i = 0; i < senders * 2; i++) {
    users.push([`bench${i}`, `bench${i}`, `bench${i}`, '', '', 1, 0, now, now]);
  }
  await db.query(
    'INSERT INTO IMUser (name, domain, nick, password, salt, departId, status, created, updated) VALUES ?',
    [users],
  );
  const [rows] = await db.query<mysql.RowDataPacket[]>('SELECT id FROM IMUser ORDER BY id');
  await db.end();
  const ids = rows.map((r) => Number(r.id));
  return Array.from({ length: senders }, (_, i) => [ids[2 * i], ids[2 * i + 1]] as [number, number]);
}

async function countStoredRows(url: string): Promise<number> {
  const db = await mysql.createConnection(parseMysqlUrl(url));
  let total = 0;
  for (let i = 0; i < 8; i++) {
    const [rows] = await db.query<mysql.RowDataPacket[]>(`SELECT COUNT(*) AS n FROM IMMessage_${i}`);
    total += Number(rows[0].n);
  }
  await db.end();
  return total;
}

async function connect(identity: InternalTls | null, host: string, port: number): Promise<PduConnection> {
  const socket = await dialInternal(identity, host, port, 'db-proxy');
  return new PduConnection(socket, { onPdu: () => {} }, { requestTimeoutMs: 30_000 });
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const storage = await provisionStorage({ database: DATABASE, log });
  const mysqlUrl = withDatabase(storage.mysqlUrl, DATABASE);
  const adminUrl = withDatabase(storage.mysqlAdminUrl, DATABASE);
  let child: ChildProcess | null = null;
  let stopInProcess: (() => Promise<void>) | null = null;
  try {
    await wipeRedisPrefix(storage.redisUrl);
    const pairs = await prepareDatabase(adminUrl, options.senders);

    let host = '127.0.0.1';
    let port: number;
    const serverTls: Record<string, string> = {
      ...tlsEnv(localPki(), 'TT_DB_PROXY', 'db-proxy', 'bench-db-proxy', ['127.0.0.1']),
      TT_DB_PROXY_PLAINTEXT_PEERS: options.plaintext ? '127.0.0.1' : '',
    };
    if (options.target) {
      ({ host, port } = options.target);
    } else if (options.mode === 'in-process') {
      const proxy = await startDbProxy(
        dbProxyConfig.load({ env: serverTls, overrides: { listenPort: 0, adminPort: 0, mysqlUrl, redisUrl: storage.redisUrl, redisKeyPrefix: REDIS_PREFIX } }),
        silentLogger(),
      );
      port = proxy.port;
      stopInProcess = () => proxy.stop('bench over');
    } else {
      port = await freeLoopbackPort();
      child = spawn(process.execPath, [...process.execArgv, join(projectRoot, 'dist', 'services', 'db-proxy', 'main.js')], {
        stdio: ['ignore', 'ignore', 'inherit'],
        env: {
          ...process.env,
          TT_DB_PROXY_LISTEN_HOST: '127.0.0.1',
          TT_DB_PROXY_LISTEN_PORT: String(port),
          TT_DB_PROXY_MYSQL_URL: mysqlUrl,
          TT_DB_PROXY_REDIS_URL: storage.redisUrl,
          TT_DB_PROXY_REDIS_KEY_PREFIX: REDIS_PREFIX,
          TT_DB_PROXY_LOG_LEVEL: 'warn',
          ...serverTls,
          // The child stops by itself if this process dies without stopping it.
          TT_SUPERVISED: '1',
        },
      });
      await waitForPort(port, child);
    }

    const text = encryptMessageText('bench message: how is the weather over there today?');
    const identity = options.plaintext ? null : localIdentity('msg-server', 'bench-msg-server');
    const connections = await Promise.all(pairs.map(() => connect(identity, host, port)));
    log(`${options.senders} senders, ${WARMUP_SECONDS} s warm-up + ${options.seconds} s measured, db-proxy: ${options.target ? 'target' : options.mode}`);

    const start = Date.now();
    const measureFrom = start + WARMUP_SECONDS * 1000;
    const measureUntil = measureFrom + options.seconds * 1000;
    const latencies: number[] = [];
    let measured = 0;
    let acked = 0;
    let errors = 0;

    await Promise.all(
      pairs.map(async ([from, to], i) => {
        const conn = connections[i];
        const attach = encodeHandleAttach(i + 1);
        for (;;) {
          const sentAt = performance.now();
          const wall = Date.now();
          if (wall >= measureUntil) return;
          try {
            const reply = await conn.request(
              IM.Message.IMMsgData,
              {
                from_user_id: from,
                to_session_id: to,
                msg_id: 0,
                create_time: Math.floor(wall / 1000),
                msg_type: IM.BaseDefine.MsgType.MSG_TYPE_SINGLE_TEXT,
                msg_data: text,
                attach_data: attach,
              },
              IM.Message.IMMsgData,
            );
            if (reply.msg_id === 0) {
              errors++;
              continue;
            }
            acked++;
            if (wall >= measureFrom) {
              measured++;
              latencies.push(performance.now() - sentAt);
            }
          } catch (err) {
            errors++;
            if (!(err instanceof RemoteError)) await new Promise((r) => setTimeout(r, 10));
          }
        }
      }),
    );
    const elapsed = (Date.now() - measureFrom) / 1000;
    for (const conn of connections) conn.close('bench over');

    const sorted = Float64Array.from(latencies).sort();
    const storedRows = await countStoredRows(mysqlUrl);
    const result = {
      senders: options.senders,
      seconds: options.seconds,
      stores_per_s: Math.round(measured / elapsed),
      links: options.plaintext ? 'plain TCP' : 'mutual TLS',
      p50_ms: Number(percentile(sorted, 50).toFixed(2)),
      p99_ms: Number(percentile(sorted, 99).toFixed(2)),
      errors,
      acked,
      stored_rows: storedRows,
      db_proxy: options.target ? 'target' : options.mode,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
    if (storedRows !== acked) {
      log(`MISMATCH: ${acked} stores acknowledged but ${storedRows} rows stored`);
      process.exitCode = 1;
    }
  } finally {
    if (stopInProcess) await stopInProcess();
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child?.once('exit', r));
    }
    if (!options.keep) {
      const admin = await mysql.createConnection({ ...parseMysqlUrl(adminUrl), database: undefined });
      await admin.query(`DROP DATABASE IF EXISTS \`${DATABASE}\``);
      await admin.end();
      await wipeRedisPrefix(storage.redisUrl);
    }
    await storage.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`[bench] ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
