/**
 * The storage of the deployment a replay targets, opened with the db-proxy's
 * own code: its MySQL and Redis gateways, its state classes and its request
 * handlers, run in this process. Provisioning asks it what a msg server asks a
 * db-proxy (create a group, store a message, mark a session read), so the rows
 * and Redis keys it leaves are exactly those the target's db-proxy writes.
 *
 * Where the storage is (locateTargetStorage): the target db-proxy's own
 * configuration (`--db-proxy-config FILE`, with its TT_DB_PROXY_* environment),
 * or else the storage `npm start` uses on this machine (config/cluster.json's
 * database and Redis prefix; MYSQL_URL / REDIS_URL or the local MariaDB and Redis).
 */
import { commandOf, type BodyOf, type MessageClass, type MessageOf } from '../../pdu/commands';
import { Dispatcher, describePdu } from '../../pdu/dispatch';
import { encodePdu } from '../../pdu/encode';
import { readFrame, type Pdu } from '../../pdu/frame';
import type { Logger } from '../../lib/log';
import { parseMysqlUrl } from '../../lib/mysql-url';
import { clusterConfig, DEFAULT_CLUSTER_CONFIG_FILE } from '../../scripts/cluster/config';
import { migrate } from '../../scripts/db/migrate';
import { provisionStorage } from '../../scripts/infra/provision';
import { checkDbProxyConfig, dbProxyConfig, type DbProxyConfig } from '../../services/db-proxy/config';
import type { DbProxyContext } from '../../services/db-proxy/context';
import { DbRequest } from '../../services/db-proxy/db-request';
import { registerHandlers } from '../../services/db-proxy/handlers';
import { openStorage } from '../../services/db-proxy/storage-context';
import type { MsgServerConn } from '../../services/db-proxy/request-gate';

export interface StorageReply<R> {
  body: R;
  /** PduFlag of the reply: 0, or why the db-proxy refused the request. */
  flag: number;
}

interface Pending {
  /** The handler answered (commands with a reply). */
  answered(reply: Pdu): void;
  /** The handler is done (every command). */
  done(): void;
  failed(err: Error): void;
}

export class TargetStorage {
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly dispatcher: Dispatcher<DbRequest>;
  /** Stands in for a msg server's link: replies come back here instead of over TCP. */
  private readonly link: MsgServerConn;

  private constructor(readonly ctx: DbProxyContext) {
    const fail = (pdu: Pdu, err: Error) => {
      const p = this.pending.get(pdu.seqNum);
      this.pending.delete(pdu.seqNum);
      p?.failed(new Error(`${describePdu(pdu)} failed in the target's storage: ${err.message}`));
    };
    this.dispatcher = new Dispatcher<DbRequest>({
      unknown: (pdu) => fail(pdu, new Error('the db-proxy has no handler for it')),
      malformed: (pdu, _req, err) => fail(pdu, err),
      failed: (pdu, _req, err) => fail(pdu, err),
    });
    registerHandlers(this.dispatcher, ctx);
    const reply = (request: Pdu, type: MessageClass, body: unknown, flag = 0): boolean => {
      const frame = encodePdu(type, body as never, request.seqNum, flag);
      this.pending.get(request.seqNum)?.answered(readFrame(frame, 0, frame.length));
      return true;
    };
    this.link = { id: 0, context: { inFlight: 0 }, reply } as unknown as MsgServerConn;
  }

  /** The same wiring as the db-proxy's start function (db-proxy.ts), without its TCP server and background sync. */
  static async open(config: DbProxyConfig, logger: Logger): Promise<TargetStorage> {
    checkDbProxyConfig(config);
    const ctx = await openStorage(config, logger);
    try {
      // Unlike the service, provisioning has no use for storage that is down: say so now.
      ctx.mysql.assertUp();
      ctx.redis.assertUp();
    } catch (err) {
      await Promise.all([ctx.mysql.close(), ctx.redis.close()]);
      throw err;
    }
    return new TargetStorage(ctx);
  }

  /** One request through the db-proxy's handler for it, as a msg server would send it. */
  request<Q extends MessageClass, R extends MessageClass>(type: Q, body: BodyOf<Q>, replyType: R): Promise<StorageReply<MessageOf<R>>> {
    const replyCommand = commandOf(replyType).commandId;
    return new Promise((resolve, reject) => {
      this.dispatch(type, body, {
        answered: (reply) => {
          if (reply.commandId === replyCommand) resolve({ body: replyType.decode(reply.body) as MessageOf<R>, flag: reply.flag });
          else reject(new Error(`${commandOf(type).name} was answered with command ${reply.commandId}`));
        },
        done: () => {},
        failed: reject,
      });
    });
  }

  /** A request the db-proxy does not answer (read acks): resolves once its handler finished. */
  send<Q extends MessageClass>(type: Q, body: BodyOf<Q>): Promise<void> {
    return new Promise((resolve, reject) => this.dispatch(type, body, { answered: () => {}, done: resolve, failed: reject }));
  }

  private dispatch<Q extends MessageClass>(type: Q, body: BodyOf<Q>, pending: Pending): void {
    this.seq = this.seq >= 0xffff ? 1 : this.seq + 1;
    const frame = encodePdu(type, body, this.seq);
    const pdu = readFrame(frame, 0, frame.length);
    this.pending.set(pdu.seqNum, pending);
    this.dispatcher.dispatch(
      pdu,
      new DbRequest(this.link, pdu, () => {
        this.pending.delete(pdu.seqNum);
        pending.done();
      }),
    );
  }

  async close(): Promise<void> {
    await Promise.all([this.ctx.mysql.close(), this.ctx.redis.close()]);
  }
}

export interface LocatedStorage {
  config: DbProxyConfig;
  /** For the report: the database (password left out) and Redis prefix. */
  description: string;
  /** Stops the local MariaDB / Redis if this process had to start them. */
  release(): Promise<void>;
}

/**
 * The target's storage settings. With a db-proxy config file, exactly what that
 * db-proxy uses; otherwise what `npm start` on this machine uses. The schema is
 * brought up to date (idempotent), as `npm run users` does.
 */
export async function locateTargetStorage(options: {
  dbProxyConfigFile?: string;
  env?: NodeJS.ProcessEnv;
  log: (line: string) => void;
}): Promise<LocatedStorage> {
  const env = options.env ?? process.env;
  let config: DbProxyConfig;
  let release = async () => {};
  if (options.dbProxyConfigFile !== undefined) {
    config = dbProxyConfig.load({ file: options.dbProxyConfigFile, env });
  } else {
    const cluster = clusterConfig.load({ file: env.TT_CLUSTER_CONFIG ?? DEFAULT_CLUSTER_CONFIG_FILE, env });
    const local = await provisionStorage({ database: cluster.database, log: options.log, env });
    release = () => local.stop();
    // A MYSQL_URL that names a database is used as it is (as npm run users does).
    const named = env.MYSQL_URL !== undefined && env.MYSQL_URL !== '' && parseMysqlUrl(env.MYSQL_URL).database !== '';
    config = dbProxyConfig.load({
      env: {},
      overrides: { mysqlUrl: named ? (env.MYSQL_URL as string) : local.mysqlUrl, redisUrl: local.redisUrl, redisKeyPrefix: cluster.redisKeyPrefix },
    });
  }
  try {
    await migrate(config.mysqlUrl);
  } catch (err) {
    await release();
    throw err;
  }
  const database = parseMysqlUrl(config.mysqlUrl);
  return {
    config,
    description: `database ${database.database} on ${database.host}:${database.port}, Redis key prefix "${config.redisKeyPrefix}"`,
    release,
  };
}
