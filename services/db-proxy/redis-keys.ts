/**
 * Redis key names. On one Redis (standalone or behind Sentinel) they are
 * TeamTalk's (behaviour.md section 13), unchanged, so the original db_proxy and
 * this one can share a Redis. In a Redis Cluster, keys that one script or one
 * MULTI uses together must sit in one hash slot: the group's keys carry the
 * group id as a hash tag (`{<gid>}`), so a group's counter, message count,
 * members' read copies, membership and settings are always on one node. Every
 * other key is used alone (or in per-slot batches, see RedisGateway) and keeps
 * its TeamTalk name. ioredis adds the configured prefix in front of each.
 */
export interface RedisKeyNames {
  /** string counter: last msg id of a single conversation (relation). */
  msgId(relationId: number): string;
  /** string counter: last msg id of a group. */
  groupMsgId(groupId: number): string;
  /** hash peerUserId -> unread count, for the user reading. */
  unread(userId: number): string;
  /** hash field `count`: messages ever sent to the group. */
  groupMsgCount(groupId: number): string;
  /** hash field `count`: the group count as of the user's last read. */
  userGroupCount(userId: number, groupId: number): string;
  /** hash userId -> join unix time: THE group membership. */
  groupMembers(groupId: number): string;
  /** hash `<userId>_1` -> "0"/"1": push shield per member. */
  groupSettings(groupId: number): string;
  /** A field of groupSettings (not a key). */
  groupShieldField(userId: number): string;
  /** string: `ios:<token>`, `android:<token>` or a bare token. */
  deviceOfUser(userId: number): string;
  /** string: the user id a device token belongs to. */
  userOfDevice(token: string): string;
  /** string unix time: when the group-session sync last ran. */
  lastGroupSync(): string;
  /**
   * string with a TTL (ours, not TeamTalk's): the order of the user's latest
   * login, max(previous + 1, now in ms), so concurrent logins are ordered.
   */
  loginOrder(userId: number): string;
  /**
   * string with a TTL (ours): "<unix ms>|<table>|<column>|<conversation id>|<msg id>"
   * of a message stored under a msg server's store token, so a retry is recognised.
   */
  storeToken(token: string): string;
  /** string counter with a TTL: wrong passwords for a login name in the current window. */
  loginFailures(userName: string): string;
  /** string with a TTL (ours): a copy of the single conversation's newest message (latest-messages.ts). */
  latestMsg(relationId: number): string;
  /** string with a TTL (ours): the same for a group. */
  groupLatestMsg(groupId: number): string;
}

/** TeamTalk's names: one Redis, or a Sentinel-watched master. */
export const RedisKeys: RedisKeyNames = {
  msgId: (relationId) => `msg_id_${relationId}`,
  groupMsgId: (groupId) => `group_msg_id_${groupId}`,
  unread: (userId) => `unread_${userId}`,
  groupMsgCount: (groupId) => `${groupId}_im_group_msg`,
  userGroupCount: (userId, groupId) => `${userId}_${groupId}_im_user_group`,
  groupMembers: (groupId) => `group_member_${groupId}`,
  groupSettings: (groupId) => `group_set_${groupId}`,
  groupShieldField: (userId) => `${userId}_1`,
  deviceOfUser: (userId) => `device_${userId}`,
  userOfDevice: (token) => `device_${token}`,
  lastGroupSync: () => 'last_update_group',
  loginOrder: (userId) => `tt_login_order_${userId}`,
  storeToken: (token) => `tt_store_${token}`,
  loginFailures: (userName) => `login_fail_${userName}`,
  latestMsg: (relationId) => `tt_latest_msg_${relationId}`,
  groupLatestMsg: (groupId) => `tt_group_latest_msg_${groupId}`,
};

/** Redis Cluster: TeamTalk's names with the group id as hash tag in every group key. */
export const ClusterRedisKeys: RedisKeyNames = {
  ...RedisKeys,
  groupMsgId: (groupId) => `group_msg_id_{${groupId}}`,
  groupMsgCount: (groupId) => `{${groupId}}_im_group_msg`,
  userGroupCount: (userId, groupId) => `${userId}_{${groupId}}_im_user_group`,
  groupMembers: (groupId) => `group_member_{${groupId}}`,
  groupSettings: (groupId) => `group_set_{${groupId}}`,
  groupLatestMsg: (groupId) => `tt_group_latest_msg_{${groupId}}`,
};
