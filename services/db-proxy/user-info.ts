/** IMUser rows as the protocol's UserInfo. */
import type { RowDataPacket } from 'mysql2/promise';
import type { IM } from '../../pdu/commands';

export const USER_COLUMNS = 'id, sex, name, domain, nick, phone, email, avatar, departId, status, sign_info, updated';

export function userInfoOf(row: RowDataPacket): IM.BaseDefine.IUserInfo {
  return {
    user_id: Number(row.id),
    user_gender: Number(row.sex),
    user_nick_name: String(row.nick ?? ''),
    avatar_url: String(row.avatar ?? ''),
    department_id: Number(row.departId),
    email: String(row.email ?? ''),
    user_real_name: String(row.name ?? ''),
    user_tel: String(row.phone ?? ''),
    user_domain: String(row.domain ?? ''),
    status: Number(row.status ?? 0),
    sign_info: String(row.sign_info ?? ''),
  };
}
