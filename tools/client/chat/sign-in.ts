/**
 * Getting from the command line to a logged-in ImClient, the way every
 * TeamTalk client does: ask the login server over HTTP which msg server to use
 * (unless --server names one), connect, log in. Every failure becomes a
 * SignInError whose message tells a person what went wrong and what to try.
 */
import { TTError, errorMessage } from '../../../lib/errors';
import { IM } from '../../../pdu/commands';
import { ImClient, LoginRefusedError, fetchMsgServer } from '../im-client';
import { isFatalLoginError } from '../reconnecting-client';
import type { ChatOptions } from './options';

const { ResultType } = IM.BaseDefine;

/** How long each step may take before we say so (the OS TCP timeout is minutes). */
const STEP_TIMEOUT_MS = 10_000;

export class SignInError extends TTError {
  constructor(
    message: string,
    /** Trying again cannot help (wrong password, disabled account, client too old). */
    readonly fatal = false,
  ) {
    super('TT_ERR_SIGN_IN', message);
  }
}

export interface SignedIn {
  client: ImClient;
  /** host:port of the msg server we are on. */
  where: string;
}

export async function signIn(options: ChatOptions, password: string): Promise<SignedIn> {
  const { client, where } = await connectToMsgServer(options);
  try {
    await client.login(options.user, password, { clientType: options.clientType });
  } catch (err) {
    client.close();
    throw new SignInError(loginFailure(err, where), isFatalLoginError(err));
  }
  return { client, where };
}

async function connectToMsgServer(options: ChatOptions): Promise<SignedIn> {
  const candidates = options.server ? [options.server] : await askLoginServer(options.loginUrl);
  let lastError: unknown = null;
  // The login server gives two addresses (e.g. two carriers); the second is worth a try.
  for (const target of candidates) {
    try {
      const client = await ImClient.connect({ ...target, keepInbox: false, connectTimeoutMs: STEP_TIMEOUT_MS });
      return { client, where: `${target.host}:${target.port}` };
    } catch (err) {
      lastError = err;
    }
  }
  const whence = options.server ? '' : ` (the one the login server at ${options.loginUrl} gave us)`;
  throw new SignInError(`${errorMessage(lastError)}${whence} — is it running?`);
}

async function askLoginServer(loginUrl: string): Promise<Array<{ host: string; port: number }>> {
  try {
    const answer = await fetchMsgServer(loginUrl, { timeoutMs: STEP_TIMEOUT_MS });
    const prior = { host: answer.host, port: answer.port };
    return answer.backupHost === answer.host ? [prior] : [prior, { host: answer.backupHost, port: answer.port }];
  } catch (err) {
    switch ((err as { code?: string }).code) {
      case 'TT_ERR_LOGIN_SERVER_UNREACHABLE':
        throw new SignInError(`cannot reach the login server at ${loginUrl} — is the cluster running? (npm start)`);
      case 'TT_ERR_NO_MSG_SERVER':
        throw new SignInError(`no msg server available: ${errorMessage(err)} — start one (npm start, or npm run msg-server) and try again`);
      default:
        throw new SignInError(errorMessage(err));
    }
  }
}

/** The server's result strings are the original's Chinese; a person gets English. */
function loginFailure(err: unknown, where: string): string {
  if (err instanceof LoginRefusedError) {
    switch (err.resultCode) {
      case ResultType.REFUSE_REASON_DB_VALIDATE_FAILED:
        // The msg server reports every validation failure as code 6; only the
        // db-proxy's text tells a locked account (次数太多 = "too many times") apart.
        return err.resultString.includes('次数太多')
          ? 'login failed: too many wrong passwords for this user; it is locked for a while (30 minutes by default), try again later'
          : 'login failed: wrong user name or password';
      case ResultType.REFUSE_REASON_NO_DB_SERVER:
      case ResultType.REFUSE_REASON_NO_LOGIN_SERVER:
      case ResultType.REFUSE_REASON_NO_ROUTE_SERVER:
        return `login failed: the msg server at ${where} is not ready (${serverPart(err.resultCode)} unavailable); try again shortly`;
      case ResultType.REFUSE_REASON_VERSION_TOO_OLD:
        return 'login failed: the server says this client is too old';
      default:
        return `login failed: refused by the server (code ${err.resultCode}${err.resultString ? `: ${err.resultString}` : ''})`;
    }
  }
  const code = (err as { code?: string }).code;
  if (code === 'TT_ERR_REQUEST_TIMEOUT') return `login failed: the msg server at ${where} did not answer`;
  if (code === 'TT_ERR_CONNECTION_CLOSED') return `login failed: the msg server at ${where} closed the connection`;
  return `login failed: ${errorMessage(err)}`;
}

function serverPart(resultCode: number): string {
  if (resultCode === ResultType.REFUSE_REASON_NO_DB_SERVER) return 'its db-proxy is';
  if (resultCode === ResultType.REFUSE_REASON_NO_LOGIN_SERVER) return 'its login server is';
  return 'its route server is';
}
