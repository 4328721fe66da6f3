/**
 * Newest-message copies, the pure parts (services/db-proxy/latest-messages.ts):
 * the SET commands a batch makes (newest per conversation, within the size
 * limit, expiring after the TTL) and the copy's encoding.
 */
import t from 'tap';
import { GROUP_CONVERSATION, SINGLE_CONVERSATION, copyCommands, decodeCopy, encodeCopy, type LatestRow } from '../../services/db-proxy/latest-messages';
import { ClusterRedisKeys, RedisKeys } from '../../services/db-proxy/redis-keys';

const NOW = 1_700_000_100;
const row = (kind: LatestRow['kind'], conversationId: number, msgId: number, content = `m${msgId}`): LatestRow => ({
  kind,
  conversationId,
  msgId,
  type: kind === GROUP_CONVERSATION ? 17 : 1,
  fromId: 100 + msgId,
  content,
  created: 1_700_000_000 + msgId,
});
const limits = { maxBytes: 16, ttlSec: 1000 };

t.test('one SET per conversation, its newest message, expiring ttlSec after the message', async (t) => {
  const commands = copyCommands(
    RedisKeys,
    [row(GROUP_CONVERSATION, 5, 7), row(SINGLE_CONVERSATION, 9, 3), row(SINGLE_CONVERSATION, 9, 4), row(GROUP_CONVERSATION, 5, 6), row(SINGLE_CONVERSATION, 2, 11)],
    limits,
    NOW,
  );
  t.same(commands, [
    ['set', 'tt_group_latest_msg_5', '7|17|107|1700000007|m7', 'EX', '907'],
    ['set', 'tt_latest_msg_9', '4|1|104|1700000004|m4', 'EX', '904'],
    ['set', 'tt_latest_msg_2', '11|1|111|1700000011|m11', 'EX', '911'],
  ]);
  t.same(copyCommands(ClusterRedisKeys, [row(GROUP_CONVERSATION, 5, 7)], limits, NOW)[0][1], 'tt_group_latest_msg_{5}', 'a group copy shares its group\'s hash slot in a cluster');
});

t.test('no copy of a message over maxBytes, of one older than the TTL, or at all with maxBytes 0', async (t) => {
  t.same(copyCommands(RedisKeys, [row(SINGLE_CONVERSATION, 1, 1, 'x'.repeat(17))], limits, NOW), [], 'too long');
  t.equal(copyCommands(RedisKeys, [row(SINGLE_CONVERSATION, 1, 1, '语'.repeat(5))], limits, NOW).length, 1, '15 bytes fit');
  t.same(copyCommands(RedisKeys, [row(SINGLE_CONVERSATION, 1, 1, '语'.repeat(6))], limits, NOW), [], '18 bytes do not: the limit counts bytes');
  t.same(copyCommands(RedisKeys, [row(SINGLE_CONVERSATION, 1, 1)], { maxBytes: 16, ttlSec: 50 }, NOW), [], 'would have expired already');
  t.same(copyCommands(RedisKeys, [row(SINGLE_CONVERSATION, 1, 1)], { maxBytes: 0, ttlSec: 1000 }, NOW), [], 'copies off');
});

t.test('the encoding keeps any content, "|" included; anything else is no copy', async (t) => {
  const r = row(SINGLE_CONVERSATION, 3, 8, 'a|b||c|');
  t.same(decodeCopy(SINGLE_CONVERSATION, 3, encodeCopy(r)), r);
  t.same(decodeCopy(GROUP_CONVERSATION, 4, encodeCopy({ ...row(GROUP_CONVERSATION, 4, 2), content: '' })), { ...row(GROUP_CONVERSATION, 4, 2), content: '' });
  t.equal(decodeCopy(SINGLE_CONVERSATION, 3, null), null);
  t.equal(decodeCopy(SINGLE_CONVERSATION, 3, 'garbage'), null);
  t.equal(decodeCopy(SINGLE_CONVERSATION, 3, 'x|1|2|3|text'), null);
});
