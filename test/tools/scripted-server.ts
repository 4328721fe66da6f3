/**
 * A small scripted msg server for the capture/replay tests (the real one is
 * tested on its own): real TCP through PduServer, answering the way a msg
 * server does for a short session:
 *
 *   login       IMLoginRes (server_time = now) + an offline-message push
 *               (IMMsgData with a fresh msg_id and create_time)
 *   time        IMClientTimeRsp (server_time with a per-instance skew)
 *   heartbeat   echoed byte for byte
 *   unread      IMUnreadMsgCntRsp for the logged-in user; a request naming
 *               another user id gets total_cnt 0 (so a replay that did not
 *               rewrite user ids shows up as a mismatch)
 *   logout      IMLogoutRsp, then close
 *
 * Variants change one thing each, for the mismatch tests.
 */
import type { Test } from 'tap';
import { randomInt } from 'node:crypto';
import { IM, type MessageOf } from '../../pdu/commands';
import { Dispatcher } from '../../pdu/dispatch';
import type { PduConnection } from '../../pdu/connection';
import { PduServer } from '../../pdu/server';
import { clientPasswordDigest } from '../../lib/password';

const { ResultType, SessionType, MsgType } = IM.BaseDefine;

export interface ScriptedUser {
  id: number;
  name: string;
  password: string;
  nick: string;
}

export const PEER_ID = 99;

export interface ScriptedServerOptions {
  users: ScriptedUser[];
  /** Appended to every nick name in login replies (one field differs from a recording). */
  nickSuffix?: string;
  /** Do not answer time requests (a recorded reply goes missing). */
  ignoreTimeRequests?: boolean;
  /** After the unread reply, also push a status notify nobody recorded. */
  extraPush?: boolean;
}

interface Session {
  user: ScriptedUser | null;
}

export interface ScriptedServer {
  port: number;
  /** Every login attempt: user name and password digest as received. */
  logins: Array<{ user_name: string; password: string }>;
  /** user_id of every unread request. */
  unreadRequests: number[];
  /** msg_ids this instance handed out (pushes and unread info). */
  msgIds: number[];
  serverTimes: number[];
  server: PduServer<Session>;
}

export async function startScriptedServer(t: Test, options: ScriptedServerOptions): Promise<ScriptedServer> {
  // Each instance has its own clock skew and msg id range, so volatile fields really differ between runs.
  const skew = randomInt(1000, 100000);
  let nextMsgId = randomInt(1000, 1_000_000);
  const state = {
    logins: [] as Array<{ user_name: string; password: string }>,
    unreadRequests: [] as number[],
    msgIds: [] as number[],
    serverTimes: [] as number[],
  };
  const now = () => {
    const time = Math.floor(Date.now() / 1000) + skew;
    state.serverTimes.push(time);
    return time;
  };
  const msgId = () => {
    const id = nextMsgId++;
    state.msgIds.push(id);
    return id;
  };

  type Conn = PduConnection<Session>;
  const dispatcher = new Dispatcher<Conn>({
    unknown: () => {},
    malformed: (_pdu, conn) => conn.destroy('malformed PDU'),
    failed: (_pdu, conn, err) => conn.destroy(err.message),
  });

  dispatcher.on(IM.Login.IMLoginReq, (req, pdu, conn) => {
    state.logins.push({ user_name: req.user_name, password: req.password });
    const user = options.users.find((u) => u.name === req.user_name && clientPasswordDigest(u.password) === req.password);
    if (!user) {
      conn.reply(pdu, IM.Login.IMLoginRes, {
        server_time: now(),
        result_code: ResultType.REFUSE_REASON_DB_VALIDATE_FAILED,
        result_string: '用户名/密码错误',
      });
      conn.close('login refused');
      return;
    }
    conn.context = { user };
    conn.reply(pdu, IM.Login.IMLoginRes, {
      server_time: now(),
      result_code: ResultType.REFUSE_REASON_NONE,
      result_string: '成功',
      online_status: req.online_status,
      user_info: {
        user_id: user.id,
        user_gender: 1,
        user_nick_name: user.nick + (options.nickSuffix ?? ''),
        avatar_url: '',
        department_id: 1,
        email: `${user.name}@example.invalid`,
        user_real_name: user.name,
        user_tel: '',
        user_domain: user.name,
        status: 0,
      },
    });
    conn.send(IM.Message.IMMsgData, {
      from_user_id: PEER_ID,
      to_session_id: user.id,
      msg_id: msgId(),
      create_time: now(),
      msg_type: MsgType.MSG_TYPE_SINGLE_TEXT,
      msg_data: Buffer.from('welcome back'),
    });
  });

  dispatcher.on(IM.Message.IMClientTimeReq, (_req, pdu, conn) => {
    if (options.ignoreTimeRequests) return;
    conn.reply(pdu, IM.Message.IMClientTimeRsp, { server_time: now() });
  });

  dispatcher.on(IM.Message.IMUnreadMsgCntReq, (req: MessageOf<typeof IM.Message.IMUnreadMsgCntReq>, pdu, conn) => {
    state.unreadRequests.push(req.user_id);
    const self = conn.context?.user ?? null;
    if (!self || req.user_id !== self.id) {
      conn.reply(pdu, IM.Message.IMUnreadMsgCntRsp, { user_id: req.user_id, total_cnt: 0 });
      return;
    }
    conn.reply(pdu, IM.Message.IMUnreadMsgCntRsp, {
      user_id: self.id,
      total_cnt: 1,
      unreadinfo_list: [
        {
          session_id: PEER_ID,
          session_type: SessionType.SESSION_TYPE_SINGLE,
          unread_cnt: 1,
          latest_msg_id: msgId(),
          latest_msg_data: Buffer.from('welcome back'),
          latest_msg_type: MsgType.MSG_TYPE_SINGLE_TEXT,
          latest_msg_from_user_id: PEER_ID,
        },
      ],
    });
    if (options.extraPush) {
      conn.send(IM.Buddy.IMUserStatNotify, { user_stat: { user_id: PEER_ID, status: IM.BaseDefine.UserStatType.USER_STATUS_ONLINE } });
    }
  });

  dispatcher.on(IM.Login.IMLogoutReq, (_req, pdu, conn) => {
    conn.reply(pdu, IM.Login.IMLogoutRsp, { result_code: 0 });
    conn.close('logout');
  });

  const server = new PduServer<Session>(
    { onPdu: (conn, pdu) => dispatcher.dispatch(pdu, conn) },
    {
      name: 'scripted msg server',
      connection: { echoHeartbeats: true },
      onConnection: (conn) => {
        conn.context = { user: null };
      },
    },
  );
  const { port } = await server.listen('127.0.0.1', 0);
  t.teardown(() => server.close());
  return { port, server, ...state };
}
