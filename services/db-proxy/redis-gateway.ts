/**
 * The only door to Redis. Three deployments, one interface:
 *
 *   standalone  one ioredis client on `redisUrl` (it pipelines everything sent
 *               in the same tick);
 *   sentinel    the same client, told by Sentinels (`redisSentinels`) which
 *               server is the master now; after a failover it follows the new one;
 *   cluster     an ioredis Cluster (`redisClusterNodes`): commands go to the
 *               master of their key's hash slot and are auto-pipelined per node.
 *
 * Key names come from `keys` (TeamTalk's on one Redis, hash-tagged in a
 * cluster: redis-keys.ts). A multi-key command must stay inside one slot in a
 * cluster, so callers hand their batches to slotGroups / commands / mget /
 * writeTogether, which split them per slot there and keep them whole elsewhere.
 *
 * The client fails fast while disconnected instead of queueing, and reconnects
 * by itself. Every (re)connection, and in a cluster every change of the set of
 * masters (a failover), starts a new `epoch`: Redis may have lost the writes it
 * had not yet made durable or replicated, so counters verified against MySQL in
 * an earlier epoch must be verified again.
 */
import calculateSlot from 'cluster-key-slot';
import Redis, { Cluster, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { HostPort } from '../../lib/host-port';
import type { Logger } from '../../lib/log';
import { LogThrottle } from '../../lib/log-throttle';
import { redactUrl } from '../../lib/mysql-url';
import type { StorageStats } from './mysql-gateway';
import { StorageUnavailableError } from './storage-errors';
import { SCRIPTS, type ScriptedRedis } from './redis-scripts';
import { ClusterRedisKeys, RedisKeys, type RedisKeyNames } from './redis-keys';

export type RedisMode = 'standalone' | 'sentinel' | 'cluster';

export interface RedisGatewayOptions {
  /** The server (standalone); with Sentinel or a cluster, its user, password, database and TLS (rediss:) apply to every node. */
  url: string;
  keyPrefix: string;
  timeoutMs: number;
  connectTimeoutMs: number;
  /** Redis Cluster: some of its nodes (the others are discovered). Non-empty = cluster mode. */
  clusterNodes?: readonly HostPort[];
  /** Sentinels watching the master named `sentinelName`. Non-empty = Sentinel mode. */
  sentinels?: readonly HostPort[];
  sentinelName?: string;
  sentinelPassword?: string;
}

/** One command: its name and arguments, as in a pipeline (`['hget', key, field]`). */
export type RedisCommand = [name: string, ...args: Array<string | number | Buffer>];

/** A Redis server as `npm run storage -- status` shows it. */
export interface RedisNodeStatus {
  address: string;
  role: string;
  /** Hash slots it serves (cluster masters), e.g. ["0-5460"]. */
  slots: string[];
  keys: number;
  /** Replicas: the master it follows. */
  master?: string;
}

/** The user, password and TLS of a redis:// or rediss:// URL, as ioredis options. */
export function redisAuthOf(redisUrl: string): RedisOptions {
  const url = new URL(redisUrl);
  return {
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    tls: url.protocol === 'rediss:' ? {} : undefined,
  };
}

/** Builds the ioredis client of a deployment (also used by tools that inspect or empty it). */
export function createRedisClient(
  options: Pick<RedisGatewayOptions, 'url' | 'clusterNodes' | 'sentinels' | 'sentinelName' | 'sentinelPassword'> & { keyPrefix?: string },
  extra: RedisOptions = {},
): Redis | Cluster {
  const url = new URL(options.url);
  const auth = redisAuthOf(options.url);
  if (options.clusterNodes && options.clusterNodes.length > 0) {
    const { keyPrefix, ...nodeOptions } = { ...extra, ...auth };
    const clusterOptions: ClusterOptions = {
      keyPrefix: options.keyPrefix ?? keyPrefix,
      redisOptions: { ...nodeOptions, maxRetriesPerRequest: 0 },
      lazyConnect: extra.lazyConnect,
      enableOfflineQueue: extra.enableOfflineQueue,
      enableAutoPipelining: true,
      // ioredis groups an auto-pipelined script call by its first argument (the key
      // count, not a key): scripts go on their own, routed by their keys.
      autoPipeliningIgnoredCommands: Object.keys(SCRIPTS),
      // A failover takes the cluster's node timeout plus an election: keep retrying
      // a command whose node went away for a few seconds, within its commandTimeout.
      retryDelayOnFailover: 250,
      retryDelayOnClusterDown: 250,
      maxRedirections: 32,
      slotsRefreshTimeout: Math.max(1000, extra.connectTimeout ?? 1000),
      slotsRefreshInterval: 2000,
    };
    return new Cluster(
      options.clusterNodes.map((n) => ({ host: n.host, port: n.port })),
      clusterOptions,
    );
  }
  const db = Number(url.pathname.replace(/^\//, '') || 0);
  if (options.sentinels && options.sentinels.length > 0) {
    return new Redis({
      ...extra,
      ...auth,
      db,
      keyPrefix: options.keyPrefix ?? extra.keyPrefix,
      sentinels: options.sentinels.map((s) => ({ host: s.host, port: s.port })),
      name: options.sentinelName ?? 'mymaster',
      sentinelPassword: options.sentinelPassword || undefined,
      enableTLSForSentinelMode: url.protocol === 'rediss:',
      // Subscribes to the Sentinels' +switch-master: a failover is followed at once,
      // even while the old master still answers.
      failoverDetector: true,
    });
  }
  return new Redis(options.url, { ...extra, keyPrefix: options.keyPrefix ?? extra.keyPrefix });
}

/** A string value and how long Redis keeps it. */
export interface ExpiringValue {
  key: string;
  value: string;
  ttlSec: number;
}

export class RedisGateway {
  readonly client: ScriptedRedis;
  readonly mode: RedisMode;
  readonly keys: RedisKeyNames;
  /** Bumped on every successful (re)connection and every change of the cluster's masters. */
  epoch = 0;
  /** For the metrics; Redis work is never retried (deadlockRetries stays 0). */
  readonly stats: StorageStats = { errors: 0, outages: 0, deadlockRetries: 0 };
  private up = false;
  private everUp = false;
  /** The current outage was logged (one line per outage, not per failed command). */
  private downLogged = false;
  private closed = false;
  /** Cluster: the masters as last seen ("host:port,..."). */
  private masters = '';
  private readonly throttle = new LogThrottle();

  constructor(
    private readonly options: RedisGatewayOptions,
    private readonly logger: Logger,
  ) {
    this.mode = options.clusterNodes && options.clusterNodes.length > 0 ? 'cluster' : options.sentinels && options.sentinels.length > 0 ? 'sentinel' : 'standalone';
    if (this.mode === 'cluster' && /[{}]/.test(options.keyPrefix)) {
      // A brace in the prefix would make it the hash tag of every key: one slot for everything.
      throw new Error('redisKeyPrefix must not contain "{" or "}" with a Redis Cluster');
    }
    this.keys = this.mode === 'cluster' ? ClusterRedisKeys : RedisKeys;
    const client = createRedisClient(options, {
      keyPrefix: options.keyPrefix,
      lazyConnect: true,
      // Fail fast while disconnected: the request gets a storage error now rather
      // than waiting in an unbounded offline queue.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.timeoutMs,
      connectTimeout: options.connectTimeoutMs,
      retryStrategy: (attempt) => Math.min(100 * attempt, 2000),
    });
    for (const [name, lua] of Object.entries(SCRIPTS)) client.defineCommand(name, { lua });
    this.client = client as ScriptedRedis;
    client.on('ready', () => this.onReady());
    client.on('close', () => this.onDown('connection closed'));
    client.on('end', () => this.onDown('connection ended'));
    if (client instanceof Cluster) {
      client.on('error', (err: Error) => {
        this.stats.errors++;
        this.onNodeTrouble(err.message);
      });
      client.on('node error', (err: Error, node: string) => {
        this.stats.errors++;
        this.onNodeTrouble(`${node}: ${err.message}`);
      });
      client.on('-node', () => this.onTopologyChange('a node left'));
      client.on('refresh', () => this.onTopologyChange('slots refreshed'));
    } else {
      client.on('error', (err: Error) => {
        this.stats.errors++;
        this.onDown(err.message);
      });
    }
  }

  get isUp(): boolean {
    return this.up;
  }

  /** Where this gateway points, for logs (no password). */
  get description(): string {
    if (this.mode === 'cluster') return `cluster ${(this.options.clusterNodes ?? []).map((n) => `${n.host}:${n.port}`).join(',')}`;
    if (this.mode === 'sentinel') return `sentinel ${this.options.sentinelName ?? 'mymaster'}@${(this.options.sentinels ?? []).map((n) => `${n.host}:${n.port}`).join(',')}`;
    return redactUrl(this.options.url);
  }

  /** Connects, waiting at most the connect timeout; a Redis that is down is retried in the background. */
  async start(): Promise<void> {
    const ready = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.options.connectTimeoutMs * (this.mode === 'standalone' ? 1 : 2));
      this.client.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.client.connect().catch(() => {
      // Reported through the 'error' event; ioredis keeps reconnecting.
    });
    await ready;
    if (!this.up) this.onDown('not reachable at start-up');
  }

  /** Throws at once while Redis is known to be down. */
  assertUp(): void {
    if (!this.up) throw new StorageUnavailableError('Redis', 'not connected');
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.client.status === 'ready') await this.client.quit().catch(() => {});
    this.client.disconnect();
  }

  /**
   * Indexes of `keys` grouped so each group may go into one multi-key command
   * or script: everything together on one Redis, one group per hash slot in a
   * cluster (keys of a slot keep their order).
   */
  slotGroups(keys: readonly string[]): number[][] {
    if (this.mode !== 'cluster' || keys.length <= 1) return keys.length === 0 ? [] : [keys.map((_, i) => i)];
    const bySlot = new Map<number, number[]>();
    keys.forEach((key, i) => {
      const slot = calculateSlot(this.options.keyPrefix + key);
      const group = bySlot.get(slot);
      if (group) group.push(i);
      else bySlot.set(slot, [i]);
    });
    return [...bySlot.values()];
  }

  /**
   * Independent single-key commands in as few round trips as the deployment
   * allows (a pipeline on one Redis; in a cluster, where a pipeline must stay on
   * one node, auto-pipelined per node). Results in order; throws the first error.
   */
  async commands(list: readonly RedisCommand[]): Promise<unknown[]> {
    if (list.length === 0) return [];
    this.assertUp();
    if (this.mode === 'cluster') {
      const client = this.client as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
      return Promise.all(list.map(([name, ...args]) => client[name](...args)));
    }
    const results = (await this.client.pipeline(list as unknown as string[][]).exec()) ?? [];
    return results.map(([err, value]) => {
      if (err) throw err;
      return value;
    });
  }

  /** SET key value EX ttlSec for every entry: one script call (one per slot in a cluster). */
  async setManyEx(entries: readonly ExpiringValue[]): Promise<void> {
    if (entries.length === 0) return;
    this.assertUp();
    await Promise.all(
      this.slotGroups(entries.map((e) => e.key)).map((group) =>
        this.client.ttSetManyEx(group.length, ...group.map((i) => entries[i].key), ...group.flatMap((i) => [entries[i].value, entries[i].ttlSec])),
      ),
    );
  }

  /** MGET, one per slot in a cluster. */
  async mget(keys: readonly string[]): Promise<Array<string | null>> {
    if (keys.length === 0) return [];
    this.assertUp();
    const out = new Array<string | null>(keys.length).fill(null);
    await Promise.all(
      this.slotGroups(keys).map(async (group) => {
        const values = await this.client.mget(...group.map((i) => keys[i]));
        group.forEach((i, j) => (out[i] = values[j]));
      }),
    );
    return out;
  }

  /**
   * Writes that belong together, in MULTI/EXEC: all or nothing on one Redis.
   * In a cluster, one MULTI per slot (keys that must change together share a
   * hash tag; see redis-keys.ts): each slot's part is atomic, not the whole.
   */
  async writeTogether(list: readonly RedisCommand[]): Promise<void> {
    if (list.length === 0) return;
    this.assertUp();
    const groups = this.slotGroups(list.map((c) => String(c[1])));
    await Promise.all(
      groups.map(async (group) => {
        const results = (await this.client.multi(group.map((i) => list[i]) as unknown as string[][]).exec()) ?? [];
        for (const [err] of results) if (err) throw err;
      }),
    );
  }

  /**
   * Calls `onPage` with every key matching `pattern` (the prefix is not added:
   * give the full pattern), a SCAN page at a time; in a cluster, on every master.
   */
  async scan(pattern: string, onPage: (keys: string[]) => Promise<boolean | void>): Promise<void> {
    this.assertUp();
    for (const node of this.serverClients('master')) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0 && (await onPage(keys)) === false) return;
      } while (cursor !== '0');
    }
  }

  /** Every server: role, slots, keys (for `npm run storage -- status`). */
  async nodes(): Promise<RedisNodeStatus[]> {
    this.assertUp();
    if (this.client instanceof Cluster) {
      const slotsOf = new Map<string, string[]>();
      const masterOf = new Map<string, string>();
      const ranges = await this.client.cluster('SLOTS');
      for (const [start, end, master, ...replicas] of ranges) {
        const m = `${master[0]}:${master[1]}`;
        slotsOf.set(m, [...(slotsOf.get(m) ?? []), start === end ? String(start) : `${start}-${end}`]);
        for (const r of replicas) masterOf.set(`${r[0]}:${r[1]}`, m);
      }
      return Promise.all(
        this.client.nodes('all').map(async (node) => {
          const address = `${node.options.host}:${node.options.port}`;
          const [info, keys] = await Promise.all([node.info('replication'), node.dbsize()]);
          const role = /role:(\w+)/.exec(info)?.[1] ?? 'unknown';
          return { address, role: role === 'slave' ? 'replica' : role, slots: slotsOf.get(address) ?? [], keys, ...(masterOf.has(address) ? { master: masterOf.get(address) } : {}) };
        }),
      );
    }
    const client = this.client as unknown as Redis;
    const [info, keys] = await Promise.all([client.info('replication'), client.dbsize()]);
    const role = /role:(\w+)/.exec(info)?.[1] ?? 'unknown';
    const stream = client.stream as { remoteAddress?: string; remotePort?: number } | undefined;
    const address = `${stream?.remoteAddress ?? client.options.host}:${stream?.remotePort ?? client.options.port}`;
    const out: RedisNodeStatus[] = [{ address, role: role === 'slave' ? 'replica' : role, slots: [], keys }];
    // A master's replicas (Sentinel deployments): listed with their own key counts.
    for (const m of info.matchAll(/^slave\d+:ip=([^,]+),port=(\d+)/gm)) {
      const replica = new Redis({ ...redisAuthOf(this.options.url), host: m[1], port: Number(m[2]), lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: this.options.connectTimeoutMs });
      replica.on('error', () => {});
      try {
        await replica.connect();
        out.push({ address: `${m[1]}:${m[2]}`, role: 'replica', slots: [], keys: await replica.dbsize(), master: address });
      } catch {
        out.push({ address: `${m[1]}:${m[2]}`, role: 'replica (not reachable)', slots: [], keys: 0, master: address });
      } finally {
        replica.disconnect();
      }
    }
    return out;
  }

  /** The plain clients of the servers (cluster: of its masters or of all nodes). */
  private serverClients(which: 'master' | 'all'): Redis[] {
    return this.client instanceof Cluster ? this.client.nodes(which) : [this.client as unknown as Redis];
  }

  private onReady(): void {
    this.epoch++;
    this.up = true;
    this.downLogged = false;
    if (this.client instanceof Cluster) this.masters = this.masterSet();
    if (this.everUp) this.logger.info({ redis: this.description }, 'Redis available again; msg-id counters will be re-verified');
    else this.logger.info({ redis: this.description, mode: this.mode }, 'Redis connected');
    this.everUp = true;
  }

  /** A cluster node left, or the slots were refreshed: a new epoch if the masters changed. */
  private onTopologyChange(why: string): void {
    if (!(this.client instanceof Cluster) || !this.everUp || this.closed) return;
    const masters = this.masterSet();
    if (masters === this.masters && why !== 'a node left') return;
    const before = this.masters;
    this.masters = masters;
    this.epoch++;
    this.throttle.run('topology', (suppressed) =>
      this.logger.warn({ redis: this.description, why, before, masters, similarNotLogged: suppressed }, 'Redis Cluster changed (failover?): msg-id counters will be re-verified'),
    );
  }

  private masterSet(): string {
    return (this.client as unknown as Cluster)
      .nodes('master')
      .map((n) => `${n.options.host}:${n.options.port}`)
      .sort()
      .join(',');
  }

  private onNodeTrouble(reason: string): void {
    if (this.closed) return;
    this.throttle.run('node', (suppressed) =>
      this.logger.warn({ redis: this.description, err: reason, similarNotLogged: suppressed }, 'Redis Cluster node error (commands to its slots fail until a replica takes over)'),
    );
  }

  private onDown(reason: string): void {
    if (this.up) this.stats.outages++;
    this.up = false;
    if (this.closed || this.downLogged) return;
    this.downLogged = true;
    this.logger.error(
      { redis: this.description, err: reason },
      'Redis unavailable: requests fail with a storage error until it is back',
    );
  }
}
