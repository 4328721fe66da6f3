/**
 * TeamTalk's Redis key names (behaviour.md section 13), unchanged so the
 * original db_proxy and this one can share a Redis. ioredis adds the configured
 * prefix in front of each.
 */
export const RedisKeys = {
  /** string counter: last msg id of a single conversation (relation). */
  msgId: (relationId: number) => `msg_id_${relationId}`,
  /** string counter: last msg id of a group. */
  groupMsgId: (groupId: number) => `group_msg_id_${groupId}`,
  /** hash peerUserId -> unread count, for the user reading. */
  unread: (userId: number) => `unread_${userId}`,
  /** hash field `count`: messages ever sent to the group. */
  groupMsgCount: (groupId: number) => `${groupId}_im_group_msg`,
  /** hash field `count`: the group count as of the user's last read. */
  userGroupCount: (userId: number, groupId: number) => `${userId}_${groupId}_im_user_group`,
  /** hash userId -> join unix time: THE group membership. */
  groupMembers: (groupId: number) => `group_member_${groupId}`,
  /** hash `<userId>_1` -> "0"/"1": push shield per member. */
  groupSettings: (groupId: number) => `group_set_${groupId}`,
  groupShieldField: (userId: number) => `${userId}_1`,
  /** string: `ios:<token>`, `android:<token>` or a bare token. */
  deviceOfUser: (userId: number) => `device_${userId}`,
  /** string: the user id a device token belongs to. */
  userOfDevice: (token: string) => `device_${token}`,
  /** string unix time: when the group-session sync last ran. */
  lastGroupSync: () => 'last_update_group',
  /**
   * string with a TTL (ours, not TeamTalk's): the order of the user's latest
   * login, max(previous + 1, now in ms), so concurrent logins are ordered.
   */
  loginOrder: (userId: number) => `tt_login_order_${userId}`,
  /**
   * string with a TTL (ours): "<unix ms>|<table>|<column>|<conversation id>|<msg id>"
   * of a message stored under a msg server's store token, so a retry is recognised.
   */
  storeToken: (token: string) => `tt_store_${token}`,
  /** string counter with a TTL: wrong passwords for a login name in the current window. */
  loginFailures: (userName: string) => `login_fail_${userName}`,
} as const;
