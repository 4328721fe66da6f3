/**
 * Lua scripts: each runs atomically in Redis, so a counter is checked and
 * raised, or a batch of counters is bumped, without another client slipping in
 * between, and in one round trip however many keys a batch touches.
 * Keys are passed as KEYS so ioredis applies the configured key prefix.
 *
 * In a Redis Cluster every call's KEYS must be in one hash slot: callers split
 * their batches with RedisGateway.slotGroups (one call per slot), and keys a
 * script must change together (a group's count and its members' copies) share
 * the group's hash tag (redis-keys.ts).
 */
import type { Cluster, Redis } from 'ioredis';

export const SCRIPTS = {
  /**
   * The order of a new login of one user: max(last + 1, ARGV[1] = now in ms),
   * kept for ARGV[2] seconds (it only has to outlive the sessions it orders; after
   * that the clock alone keeps new logins later). Returns the new order.
   */
  ttLoginOrder: `
    local last = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
    local now = tonumber(ARGV[1])
    local order = math.max(last + 1, now)
    redis.call('SET', KEYS[1], string.format('%.0f', order), 'EX', tonumber(ARGV[2]))
    return string.format('%.0f', order)`,

  /**
   * Msg-id allocation for a batch. KEYS = counters; ARGV = (count, floor) per key.
   * floor >= 0: the highest msgId MySQL holds for that conversation — the counter
   * is first raised to it if it is behind (lost or reset). floor = -1: trusted.
   * Returns the counter value after adding count (the highest id allocated).
   */
  ttAllocMsgIds: `
    local out = {}
    for i = 1, #KEYS do
      local floor = tonumber(ARGV[2 * i])
      if floor >= 0 then
        local cur = tonumber(redis.call('GET', KEYS[i]) or '0') or 0
        if cur < floor then redis.call('SET', KEYS[i], floor) end
      end
      out[i] = redis.call('INCRBY', KEYS[i], tonumber(ARGV[2 * i - 1]))
    end
    return out`,

  /**
   * Gives back ids of a batch that was rolled back, so ids stay dense: only when
   * nobody allocated after us. KEYS = counters; ARGV = (expected current, restore to) per key.
   */
  ttReleaseMsgIds: `
    local released = 0
    for i = 1, #KEYS do
      if redis.call('GET', KEYS[i]) == ARGV[2 * i - 1] then
        redis.call('SET', KEYS[i], ARGV[2 * i])
        released = released + 1
      end
    end
    return released`,

  /**
   * Counters after a committed batch. ARGV[1] = number of unread increments, then
   * (key index, field, amount) each: HINCRBY unread_<to> <from>. Then the number of
   * group messages, then (group counter key index, sender copy key index) each, in
   * message order: the group's count goes up by one and the sender's copy takes the
   * new value (the sender has read everything up to their own message).
   */
  ttAfterStore: `
    local n = tonumber(ARGV[1])
    local i = 2
    for _ = 1, n do
      redis.call('HINCRBY', KEYS[tonumber(ARGV[i])], ARGV[i + 1], tonumber(ARGV[i + 2]))
      i = i + 3
    end
    local g = tonumber(ARGV[i])
    i = i + 1
    for _ = 1, g do
      local c = redis.call('HINCRBY', KEYS[tonumber(ARGV[i])], 'count', 1)
      redis.call('HSET', KEYS[tonumber(ARGV[i + 1])], 'count', c)
      i = i + 2
    end
    return 1`,

  /** KEYS[1] = <gid>_im_group_msg, KEYS[2..] = <uid>_<gid>_im_user_group: mark everything read. */
  ttCopyGroupCount: `
    local c = redis.call('HGET', KEYS[1], 'count') or '0'
    for i = 2, #KEYS do redis.call('HSET', KEYS[i], 'count', c) end
    return tonumber(c)`,

  /**
   * Claims a store token for a fresh store: KEYS[1] = tt_store_<token>; sets it
   * to ARGV[2] (for ARGV[3] seconds) only if it still holds ARGV[1] ('' = absent).
   * Returns 1 when claimed, 0 when another attempt changed it first.
   */
  ttClaimStoreToken: `
    local cur = redis.call('GET', KEYS[1])
    if (cur == false and ARGV[1] == '') or cur == ARGV[1] then
      redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3]))
      return 1
    end
    return 0`,

  /**
   * KEYS = keys; ARGV = (value, seconds) per key: SET key value EX seconds, for
   * each. One command for a batch's store tokens or newest-message copies, where
   * a pipeline of SETs is one command per key for the client to build and parse.
   */
  ttSetManyEx: `
    for i = 1, #KEYS do
      redis.call('SET', KEYS[i], ARGV[2 * i - 1], 'EX', tonumber(ARGV[2 * i]))
    end
    return #KEYS`,

  /** KEYS[1] = login_fail_<name>; ARGV[1] = window (s). Counts a failure; the window starts at the first. */
  ttCountLoginFailure: `
    local n = redis.call('INCR', KEYS[1])
    if n == 1 then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1])) end
    return n`,
} as const;

type Arg = string | number;

interface ScriptMethods {
  ttAllocMsgIds(numKeys: number, ...keysAndArgs: Arg[]): Promise<number[]>;
  ttReleaseMsgIds(numKeys: number, ...keysAndArgs: Arg[]): Promise<number>;
  ttAfterStore(numKeys: number, ...keysAndArgs: Arg[]): Promise<number>;
  ttCopyGroupCount(numKeys: number, ...keysAndArgs: Arg[]): Promise<number>;
  ttCountLoginFailure(numKeys: number, ...keysAndArgs: Arg[]): Promise<number>;
  ttClaimStoreToken(numKeys: number, ...keysAndArgs: Arg[]): Promise<number>;
  ttLoginOrder(numKeys: number, ...keysAndArgs: Arg[]): Promise<string>;
  ttSetManyEx(numKeys: number, ...keysAndArgs: Arg[]): Promise<number>;
}

/** The client with our scripts defined: one Redis (standalone, Sentinel) or a Cluster. */
export type ScriptedRedis = (Redis | Cluster) & ScriptMethods;
