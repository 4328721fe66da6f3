/**
 * Login family: log in (validated by the db-proxy), log out, kicks (a newer
 * login of the same user and client class, here or on another msg server),
 * device tokens and push shield.
 */
import { IM } from '../../../pdu/commands';
import type { Dispatcher } from '../../../pdu/dispatch';
import type { Pdu } from '../../../pdu/frame';
import { RemoteError, errorMessage } from '../../../lib/errors';
import { clip } from '../../../lib/log';
import { Phase, isMobileClient, isPcClient, sameClientClass, type ClientConn } from '../client-session';
import { MAX_BANNED_NAME } from '../client-budget';
import { countLogin, unixNow, type MsgServerContext } from '../context';
import { carriesHandle, forwardAsUser, handleAttach } from './common';

const { ResultType, UserStatType, KickReasonType, ClientType } = IM.BaseDefine;

/** IMUser.name is varchar(32): a longer login name is cut in logs. */
const MAX_LOGGED_NAME = 48;

export function registerLoginHandlers(d: Dispatcher<ClientConn>, ctx: MsgServerContext): void {
  d.on(IM.Login.IMLoginReq, (req, pdu, conn) => login(ctx, conn, req, pdu));
  d.on(IM.Login.IMLogoutReq, (_req, pdu, conn) => logout(ctx, conn, pdu));
  d.on(IM.Login.IMKickPCClientReq, (_req, pdu, conn) => kickPcClients(ctx, conn, pdu));
  d.on(IM.Login.IMDeviceTokenReq, (req, pdu, conn) => setDeviceToken(ctx, conn, req, pdu));
  forwardAsUser(d, ctx, IM.Login.IMPushShieldReq, IM.Login.IMPushShieldRsp);
  forwardAsUser(d, ctx, IM.Login.IMQueryPushShieldReq, IM.Login.IMQueryPushShieldRsp);
}

/** A new client connection: not logged in yet, so it gets the login deadline and PC idle timeout. */
export function acceptClient(ctx: MsgServerContext, conn: ClientConn): void {
  ctx.budget.open(conn, Date.now());
  conn.idleTimeoutMs = ctx.config.pcIdleTimeoutMs;
  conn.deadline = Date.now() + ctx.config.loginTimeoutMs;
  conn.deadlineReason = ctx.loginDeadlineReason;
}

async function login(ctx: MsgServerContext, conn: ClientConn, req: IM.Login.IMLoginReq, pdu: Pdu): Promise<void> {
  if (conn.phase !== Phase.New) {
    ctx.logger.debug({ conn: conn.id, userId: conn.userId }, 'second login request on one connection ignored');
    return;
  }
  // Kept for logs only (the name that counts comes back from the db-proxy): bounded.
  conn.loginName = clip(req.user_name, MAX_LOGGED_NAME);
  conn.clientType = req.client_type;
  conn.loginAs = req.user_name.length <= MAX_BANNED_NAME ? req.user_name : '';
  const refuse = (code: number, text: string) => refuseLogin(ctx, conn, pdu, code, text);
  // A user cut off for its budget moments ago: refused before its validation costs the db-proxy anything.
  const nameBannedMs = ctx.budget.loginNameBannedFor(conn.loginAs, Date.now());
  if (nameBannedMs > 0) return refuse(ResultType.REFUSE_REASON_MSG_SERVER_FULL, bannedText(nameBannedMs));
  if (!ctx.db.available) return refuse(ResultType.REFUSE_REASON_NO_DB_SERVER, 'no db-proxy is available');
  if (!ctx.logins.available) return refuse(ResultType.REFUSE_REASON_NO_LOGIN_SERVER, 'no login server is connected');
  if (!ctx.routes.available) return refuse(ResultType.REFUSE_REASON_NO_ROUTE_SERVER, 'no route server is connected');
  if (ctx.config.minClientVersion !== '' && isOlderVersion(req.client_version ?? '', ctx.config.minClientVersion)) {
    return refuse(ResultType.REFUSE_REASON_VERSION_TOO_OLD, `client version ${clip(req.client_version || '(none)', 32)} is older than ${ctx.config.minClientVersion}`);
  }
  conn.onlineStatus = req.online_status >= 1 && req.online_status <= 3 ? req.online_status : UserStatType.USER_STATUS_ONLINE;
  conn.phase = Phase.Validating;
  conn.validatingSince = Date.now();

  let rsp: IM.Server.IMValidateRsp;
  try {
    rsp = await ctx.db.request(
      IM.Server.IMValidateReq,
      { user_name: req.user_name, password: req.password, attach_data: handleAttach(conn) },
      IM.Server.IMValidateRsp,
    );
  } catch (err) {
    if (!conn.isOpen) return;
    ctx.logger.warn({ conn: conn.id, user: conn.loginName, err: errorMessage(err) }, 'login validation failed at the db-proxy');
    const why = err instanceof RemoteError ? 'storage is unavailable' : 'the db-proxy did not answer';
    return refuse(ResultType.REFUSE_REASON_NO_DB_SERVER, why);
  }
  if (!conn.isOpen || conn.phase !== Phase.Validating) return; // the client left meanwhile
  if (!carriesHandle(ctx, conn, rsp, 'IMValidateRsp')) return refuse(ResultType.REFUSE_REASON_NO_DB_SERVER, 'the db-proxy answer was not for this connection');
  if (rsp.result_code !== 0 || !rsp.user_info) {
    ctx.stats.loginFailures++;
    return refuse(ResultType.REFUSE_REASON_DB_VALIDATE_FAILED, rsp.result_string || 'wrong user name or password');
  }
  const bannedMs = ctx.budget.loginBannedFor(rsp.user_info.user_id, Date.now());
  if (bannedMs > 0) {
    // Refused before anyone is told of the login: no status notices for a flooder's reconnects.
    return refuse(ResultType.REFUSE_REASON_MSG_SERVER_FULL, bannedText(bannedMs));
  }
  completeLogin(ctx, conn, pdu, rsp.user_info, rsp.result_string ?? '', rsp.login_order ?? 0);
}

function bannedText(ms: number): string {
  return `disconnected moments ago for sending over its budget: log in again in ${Math.ceil(ms / 1000)} s`;
}

/**
 * One session per user and client class (PC, mobile), the latest login winning.
 * "Latest" is the login order the db-proxy assigned at validation, so two
 * logins racing on two msg servers end with exactly one session whatever order
 * their kicks cross in: each kicks only logins older than itself, and a login
 * that finds a kick from a newer one (recorded while it was validating, or a
 * newer session here) ends at once instead.
 */
function completeLogin(
  ctx: MsgServerContext,
  conn: ClientConn,
  pdu: Pdu,
  userInfo: IM.BaseDefine.IUserInfo,
  resultString: string,
  loginOrder: number,
): void {
  conn.userId = userInfo.user_id;
  conn.loginName = userInfo.user_real_name || conn.loginName;
  conn.nickName = userInfo.user_nick_name || conn.loginName;
  conn.loginOrder = loginOrder;
  const here = ctx.users.get(conn.userId)?.sameClassConnection(conn.clientType);
  const newerHere = here !== undefined && loginOrder !== 0 && here.loginOrder > loginOrder;
  if (newerHere || ctx.kicks.supersedes(conn.userId, conn.clientType, loginOrder, conn.validatingSince)) {
    // A newer login of this user and class exists already: this one lost the race.
    ctx.stats.logins++;
    countLogin(ctx, ResultType.REFUSE_REASON_NONE, conn.clientType);
    conn.reply(pdu, IM.Login.IMLoginRes, loginAnswer(conn, userInfo, resultString));
    kickConnection(ctx, conn, KickReasonType.KICK_REASON_DUPLICATE_USER, 'a newer login of this user took over');
    return;
  }
  if (here !== undefined) kickConnection(ctx, here, KickReasonType.KICK_REASON_DUPLICATE_USER, 'logged in again elsewhere');
  // Other msg servers kick their sessions of this class that are older than this login.
  ctx.routes.relay(IM.Server.IMServerKickUser, {
    user_id: conn.userId,
    client_type: conn.clientType,
    reason: KickReasonType.KICK_REASON_DUPLICATE_USER,
    ...(loginOrder !== 0 ? { login_order: loginOrder } : {}),
  });

  conn.phase = Phase.Online;
  conn.deadline = 0;
  conn.idleTimeoutMs = isMobileClient(conn.clientType) ? ctx.config.mobileIdleTimeoutMs : ctx.config.pcIdleTimeoutMs;
  ctx.users.add(conn);
  ctx.logins.userCountChanged(conn.userId, true);
  // The original always reports ONLINE here, whatever status the client asked for.
  reportStatus(ctx, conn, UserStatType.USER_STATUS_ONLINE);
  conn.reply(pdu, IM.Login.IMLoginRes, loginAnswer(conn, userInfo, resultString));
  ctx.stats.logins++;
  countLogin(ctx, ResultType.REFUSE_REASON_NONE, conn.clientType);
  ctx.logger.info({ conn: conn.id, userId: conn.userId, user: conn.loginName, clientType: conn.clientType, peer: conn.remoteAddress }, 'user logged in');
}

function loginAnswer(conn: ClientConn, userInfo: IM.BaseDefine.IUserInfo, resultString: string): IM.Login.IIMLoginRes {
  return {
    server_time: unixNow(),
    result_code: ResultType.REFUSE_REASON_NONE,
    result_string: resultString,
    online_status: conn.onlineStatus,
    user_info: userInfo,
  };
}

/**
 * A kick from another msg server: a newer login of the user and class exists
 * there (or a phone asked to end the PC session). Local sessions older than that
 * login end; the kick is also remembered for logins still being validated here.
 */
export function kickFromElsewhere(ctx: MsgServerContext, kick: IM.Server.IMServerKickUser): void {
  const now = Date.now();
  // Without an order (original servers, phone kicks) the kick counts as issued now.
  const order = kick.login_order ? kick.login_order : now;
  ctx.kicks.record(kick.user_id, kick.client_type, order, now);
  const user = ctx.users.get(kick.user_id);
  for (const c of user?.connections.filter((c) => sameClientClass(c.clientType, kick.client_type)) ?? []) {
    if (c.loginOrder !== 0 && c.loginOrder >= order) continue; // this session is the newer login
    const why = kick.reason === KickReasonType.KICK_REASON_MOBILE_KICK ? "kicked by the user's phone" : 'logged in again elsewhere';
    kickConnection(ctx, c, kick.reason, why);
  }
}

function refuseLogin(ctx: MsgServerContext, conn: ClientConn, pdu: Pdu, code: number, text: string): void {
  countLogin(ctx, code, conn.clientType);
  conn.phase = Phase.Closing;
  conn.reply(pdu, IM.Login.IMLoginRes, { server_time: unixNow(), result_code: code, result_string: text });
  conn.close(`login refused: ${text}`);
  ctx.logger.info({ conn: conn.id, user: conn.loginName, resultCode: code, why: text }, 'login refused');
}

/** Sends the kick notice, then closes the connection (the original let kicked connections keep working). */
export function kickConnection(ctx: MsgServerContext, conn: ClientConn, reason: number, why: string): void {
  if (conn.phase === Phase.Closing) return;
  conn.phase = Phase.Closing;
  conn.send(IM.Login.IMKickUser, { user_id: conn.userId, kick_reason: reason });
  conn.close(`kicked: ${why}`);
  ctx.logger.info({ conn: conn.id, userId: conn.userId, clientType: conn.clientType, reason, why }, 'connection kicked');
}

/** Every route server keeps its own online map: all of them hear each login and logout. */
function reportStatus(ctx: MsgServerContext, conn: ClientConn, status: number): void {
  ctx.routes.broadcast(IM.Server.IMUserStatusUpdate, { user_status: status, user_id: conn.userId, client_type: conn.clientType });
}

/** Called for every closed client connection: undo what its login registered. */
export function clientClosed(ctx: MsgServerContext, conn: ClientConn, reason: string): void {
  conn.phase = Phase.Closing;
  if (!ctx.users.remove(conn)) {
    ctx.logger.debug({ conn: conn.id, reason }, 'connection closed before login');
    return;
  }
  conn.user = null;
  ctx.deliveries.forget(conn);
  ctx.logins.userCountChanged(conn.userId, false);
  reportStatus(ctx, conn, UserStatType.USER_STATUS_OFFLINE);
  ctx.logger.info({ conn: conn.id, userId: conn.userId, clientType: conn.clientType, reason }, 'user connection closed');
}

function logout(ctx: MsgServerContext, conn: ClientConn, pdu: Pdu): void {
  // Logging out stops pushes to this device. Only mobile clients register push
  // tokens, so a PC logout leaves the phone's token alone (the original cleared it).
  if (isMobileClient(conn.clientType)) {
    ctx.db.send(IM.Login.IMDeviceTokenReq, { user_id: conn.userId, device_token: '', client_type: conn.clientType });
  }
  conn.reply(pdu, IM.Login.IMLogoutRsp, { result_code: 0 });
  conn.phase = Phase.Closing;
  conn.close('logged out');
}

function kickPcClients(ctx: MsgServerContext, conn: ClientConn, pdu: Pdu): void {
  if (!isMobileClient(conn.clientType)) return; // only a phone may kick the PC, as in the original
  const pc = conn.user?.connections.find((c) => isPcClient(c.clientType));
  if (pc !== undefined) kickConnection(ctx, pc, KickReasonType.KICK_REASON_MOBILE_KICK, 'kicked by the user\'s phone');
  ctx.routes.relay(IM.Server.IMServerKickUser, {
    user_id: conn.userId,
    client_type: ClientType.CLIENT_TYPE_MAC,
    reason: KickReasonType.KICK_REASON_MOBILE_KICK,
  });
  conn.reply(pdu, IM.Login.IMKickPCClientRsp, { user_id: conn.userId, result_code: 0 });
}

function setDeviceToken(ctx: MsgServerContext, conn: ClientConn, req: IM.Login.IMDeviceTokenReq, pdu: Pdu): void {
  if (!isMobileClient(conn.clientType)) return; // push tokens exist only on phones; PC requests are ignored as in the original
  // Answered at once, as the original does, but with the required user_id it left out.
  conn.reply(pdu, IM.Login.IMDeviceTokenRsp, { user_id: conn.userId });
  ctx.db.send(IM.Login.IMDeviceTokenReq, { user_id: conn.userId, device_token: req.device_token, client_type: conn.clientType });
}

/** "1.2.10" vs "1.3": compares the first dotted number found in each. No number = older than anything. */
export function isOlderVersion(version: string, minimum: string): boolean {
  const parse = (v: string) => (/\d+(?:\.\d+)*/.exec(v)?.[0] ?? '').split('.').filter(Boolean).map(Number);
  const have = parse(version);
  const need = parse(minimum);
  if (have.length === 0) return true;
  for (let i = 0; i < Math.max(have.length, need.length); i++) {
    const a = have[i] ?? 0;
    const b = need[i] ?? 0;
    if (a !== b) return a < b;
  }
  return false;
}
