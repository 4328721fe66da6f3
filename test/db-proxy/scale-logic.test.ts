/**
 * The pure parts of scaling out, without servers: GTID positions, the shard
 * map, and how a batch of Redis keys is split per hash slot in a cluster (kept
 * whole on one Redis), with a group's keys always together.
 */
import t from 'tap';
import calculateSlot from 'cluster-key-slot';
import pino from 'pino';
import { checkDbProxyConfig, dbProxyConfig } from '../../services/db-proxy/config';
import { MessageTables } from '../../services/db-proxy/message-tables';
import { RedisGateway } from '../../services/db-proxy/redis-gateway';
import { ClusterRedisKeys, RedisKeys } from '../../services/db-proxy/redis-keys';
import { gtidMax, gtidReached, parseGtidPosition } from '../../services/db-proxy/replica-reads';

t.test('GTID positions', async (t) => {
  t.same([...parseGtidPosition('0-1-100,1-2-7')], [[0, 100n], [1, 7n]]);
  t.ok(gtidReached('0-1-100', '0-1-99'), 'later in the domain');
  t.ok(gtidReached('0-2-100', '0-1-100'), 'the server id does not matter within a domain');
  t.notOk(gtidReached('0-1-100', '0-1-101'), 'not yet');
  t.notOk(gtidReached('0-1-100', '0-1-50,1-1-1'), 'a domain it has not seen');
  t.ok(gtidReached('0-1-1', ''), 'an empty position is reached at once');
  t.ok(gtidReached(gtidMax('0-1-5,1-1-9', '0-1-7'), '0-1-7,1-1-9'), 'the merge keeps the highest per domain');
  t.ok(gtidReached('0-1-18446744073709551615', '0-1-18446744073709551614'), 'sequence numbers beyond 2^53');
});

t.test('the shard map', async (t) => {
  const tables = new MessageTables(16, { '8-11': 'shard2', 12: 'shard3', '13-15': 'shard3' }, ['shard2', 'shard3']);
  t.equal(tables.mappedServer('IMMessage_3'), 'main', 'unlisted: main');
  t.equal(tables.mappedServer('IMGroupMessage_9'), 'shard2', 'IMMessage_N and IMGroupMessage_N together');
  t.equal(tables.mappedServer(tables.single(28)), 'shard3', 'relation 28 -> table 12');
  t.same(tables.servers(), ['main', 'shard2', 'shard3']);
  t.equal(tables.all().length, 32);
  t.throws(() => new MessageTables(16, { '8-16': 'shard2' }, ['shard2']), /outside the tables 0-15/);
  t.throws(() => new MessageTables(16, { '8-9': 'shard2', 9: 'shard3' }, ['shard2', 'shard3']), /table 9 is given twice/);
  t.throws(() => new MessageTables(16, { '9-8': 'shard2' }, ['shard2']), /outside/);
  t.throws(() => new MessageTables(16, { x: 'shard2' }, ['shard2']), /not a table index/);
  t.throws(() => new MessageTables(16, { 8: 'nowhere' }, ['shard2']), /"nowhere", which is not in "mysqlServers"/);
  t.notOk(tables.isMessageTable('IMMessage_16'), 'beyond the count is no message table');

  const base = dbProxyConfig.load({ env: {} });
  const withShards = dbProxyConfig.load({
    env: {
      TT_DB_PROXY_MESSAGE_TABLE_COUNT: '16',
      TT_DB_PROXY_SHARD_MAP: '{"8-15":"shard2"}',
      TT_DB_PROXY_MYSQL_SERVERS: '{"shard2":{"url":"mysql://u:secret@10.0.0.2:3306/tt","replicaUrls":["mysql://u:secret@10.0.0.3:3306/tt"]}}',
      TT_DB_PROXY_MYSQL_REPLICA_URLS: 'mysql://u@10.0.0.4/tt,mysql://u@10.0.0.5/tt',
    },
  });
  t.doesNotThrow(() => checkDbProxyConfig(withShards));
  t.equal(withShards.mysqlReplicaUrls.length, 2);
  t.throws(() => checkDbProxyConfig({ ...base, shardMap: { 3: 'shard2' } }), /"shardMap".*"shard2", which is not in "mysqlServers"/, 'a server the config does not name');
  t.throws(() => dbProxyConfig.load({ env: { TT_DB_PROXY_MYSQL_SERVERS: '{"shard2":{"url":"http://x"}}' } }), /"mysqlServers".*entry "shard2": "url" must be a mysql:\/\/ URL/);
  t.throws(() => dbProxyConfig.load({ env: { TT_DB_PROXY_MYSQL_SERVERS: '{"main":{"url":"mysql://x/y"}}' } }), /not "main"/);
  let message = '';
  try {
    dbProxyConfig.load({ env: { TT_DB_PROXY_MYSQL_SERVERS: '{"shard2":{"url":"mysql://u:topsecret@h/db","port":1}}' } });
  } catch (err) {
    message = (err as Error).message;
  }
  t.match(message, /unknown field "port"/, 'a bad entry is named');
  t.notMatch(message, /topsecret/, 'and the password is not in the error');
  t.throws(() => checkDbProxyConfig({ ...base, redisClusterNodes: [{ host: 'a', port: 1 }], redisSentinels: [{ host: 'b', port: 2 }] }), /exclude each other/);
  t.throws(() => checkDbProxyConfig({ ...base, redisClusterNodes: [{ host: 'a', port: 1 }], redisKeyPrefix: 'x{y}' }), /"redisKeyPrefix"/);
  t.throws(() => checkDbProxyConfig({ ...base, replicaWaitMs: base.storageTimeoutMs }), /"replicaWaitMs"/);
});

t.test('key layout and per-slot batches', async (t) => {
  t.equal(RedisKeys.groupMembers(7), 'group_member_7', "one Redis: TeamTalk's names");
  t.equal(RedisKeys.userGroupCount(3, 7), '3_7_im_user_group');
  t.equal(ClusterRedisKeys.groupMembers(7), 'group_member_{7}', 'cluster: the group id as hash tag');
  t.equal(ClusterRedisKeys.unread(3), 'unread_3', 'keys used alone keep their names');
  const prefix = 'tt:';
  const groupSlots = new Set([ClusterRedisKeys.groupMsgId(42), ClusterRedisKeys.groupMsgCount(42), ClusterRedisKeys.userGroupCount(5, 42), ClusterRedisKeys.userGroupCount(6, 42), ClusterRedisKeys.groupMembers(42), ClusterRedisKeys.groupSettings(42)].map((k) => calculateSlot(prefix + k)));
  t.equal(groupSlots.size, 1, "every key of a group in one slot (ttCopyGroupCount, ttAfterStore, the group's MULTI)");

  const logger = pino({ level: 'silent' });
  const options = { url: 'redis://127.0.0.1:1/0', keyPrefix: prefix, timeoutMs: 100, connectTimeoutMs: 100 };
  const single = new RedisGateway(options, logger);
  const cluster = new RedisGateway({ ...options, clusterNodes: [{ host: '127.0.0.1', port: 1 }] }, logger);
  t.teardown(() => Promise.all([single.close(), cluster.close()]));
  t.equal(single.mode, 'standalone');
  t.equal(cluster.mode, 'cluster');
  const keys = Array.from({ length: 50 }, (_, i) => `msg_id_${i}`);
  t.same(single.slotGroups(keys), [keys.map((_, i) => i)], 'one Redis: the whole batch in one call');
  const groups = cluster.slotGroups([...keys, ClusterRedisKeys.groupMsgCount(42), ClusterRedisKeys.userGroupCount(5, 42)]);
  t.ok(groups.length > 40, 'cluster: one call per slot');
  for (const g of groups) t.equal(new Set(g.map((i) => calculateSlot(prefix + [...keys, ClusterRedisKeys.groupMsgCount(42), ClusterRedisKeys.userGroupCount(5, 42)][i]))).size, 1, 'each group inside one slot');
  t.ok(groups.some((g) => g.includes(50) && g.includes(51)), "a group's count and copy go together");
  t.same(groups.flat().sort((a, b) => a - b), Array.from({ length: 52 }, (_, i) => i), 'every key once');
  t.throws(() => new RedisGateway({ ...options, keyPrefix: 'a{b}', clusterNodes: [{ host: '127.0.0.1', port: 1 }] }, logger), /must not contain/);
});
