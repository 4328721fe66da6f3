/**
 * `npm run client -- --user NAME`: an interactive terminal chat client speaking
 * the real TeamTalk protocol. It asks the login server for a msg server (like
 * every TeamTalk client), logs in, and reads commands and messages from stdin.
 * Works interactively and with piped input; one event per output line.
 *
 * Exit codes: 0 after /quit or end of input, 1 connection or login failure,
 * 2 usage error, 3 logged out by a login elsewhere.
 */
import readline from 'node:readline';
import { errorMessage } from '../../lib/errors';
import { IM } from '../../pdu/commands';
import { ImClient, LoginRefusedError, fetchMsgServer } from './im-client';
import { ChatSession } from './chat/chat-session';
import { runCommand } from './chat/commands';
import { USAGE, UsageError, parseOptions, type ChatOptions } from './chat/options';
import { makeStyle } from './chat/render';

const { ResultType } = IM.BaseDefine;

const say = (line: string) => process.stdout.write(line + '\n');

/** Reads a password from the terminal without echoing it. */
function askPassword(): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) return Promise.reject(new Error('no password given: use --password P or set TT_PASSWORD'));
  process.stdout.write('password: ');
  stdin.setRawMode(true);
  stdin.resume();
  stdin.setEncoding('utf8');
  return new Promise((resolve, reject) => {
    let typed = '';
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') {
          stdin.off('data', onData);
          stdin.setRawMode(false);
          stdin.pause();
          process.stdout.write('\n');
          resolve(typed);
          return;
        }
        if (ch === '\u0003') {
          stdin.setRawMode(false);
          reject(new Error('cancelled'));
          return;
        }
        typed = ch === '\u007f' ? typed.slice(0, -1) : typed + ch;
      }
    };
    stdin.on('data', onData);
  });
}

function loginFailure(err: LoginRefusedError): string {
  switch (err.resultCode) {
    case ResultType.REFUSE_REASON_DB_VALIDATE_FAILED:
      return `login failed: ${err.resultString || 'wrong user name or password'}`;
    case ResultType.REFUSE_REASON_NO_DB_SERVER:
    case ResultType.REFUSE_REASON_NO_LOGIN_SERVER:
    case ResultType.REFUSE_REASON_NO_ROUTE_SERVER:
      return `login failed: the server is not ready (${err.resultString || `code ${err.resultCode}`}); try again shortly`;
    case ResultType.REFUSE_REASON_VERSION_TOO_OLD:
      return `login failed: this client is too old for the server (${err.resultString})`;
    default:
      return `login failed: ${err.message}`;
  }
}

async function connect(options: ChatOptions): Promise<{ client: ImClient; where: string }> {
  let target = options.server;
  if (target === null) {
    try {
      target = await fetchMsgServer(options.loginUrl);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'TT_ERR_LOGIN_SERVER_UNREACHABLE') {
        throw new Error(`cannot reach the login server at ${options.loginUrl} — is the cluster running? (npm start)`);
      }
      throw err;
    }
  }
  const client = await ImClient.connect({ host: target.host, port: target.port, keepInbox: false });
  return { client, where: `${target.host}:${target.port}` };
}

async function main(): Promise<number> {
  let options: ChatOptions;
  try {
    options = parseOptions(process.argv.slice(2), process.env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    if (err.message) process.stderr.write(`${err.message}\n`);
    process.stderr.write(`${USAGE}\n`);
    return err.message ? 2 : 0;
  }
  const style = makeStyle(process.stdout.isTTY === true && !process.env.NO_COLOR);
  let client: ImClient;
  try {
    const password = options.password ?? (await askPassword());
    const connected = await connect(options);
    client = connected.client;
    try {
      await client.login(options.user, password, { clientType: options.clientType });
    } catch (err) {
      client.close();
      if (err instanceof LoginRefusedError) throw new Error(loginFailure(err));
      throw err;
    }
    const me = client.userInfo;
    say(`logged in as ${options.user}${me?.user_nick_name ? ` (${me.user_nick_name})` : ''}, user id ${client.userId}, on ${connected.where}`);
  } catch (err) {
    process.stderr.write(style.error(errorMessage(err)) + '\n');
    return 1;
  }

  const session = new ChatSession(client, { line: say }, style);
  let quitting = false;
  let kicked = false;
  const ended = new Promise<number>((resolve) => {
    client.on('push', (p: { commandId: number }) => {
      if (p.commandId === 0x0107) kicked = true;
    });
    client.on('close', (reason: string) => {
      if (quitting) return resolve(0);
      if (!kicked) say(style.error(`connection to the msg server lost: ${reason}`));
      resolve(kicked ? 3 : 1);
    });
  });
  await session.start();
  say('type /help for commands');

  const rl = readline.createInterface({ input: process.stdin, terminal: process.stdin.isTTY === true });
  let queue = Promise.resolve();
  const quit = () => {
    if (quitting) return;
    quitting = true;
    say('logging out');
    client.logout().catch(() => client.close());
  };
  rl.on('line', (line) => {
    // One command at a time, in the order typed.
    queue = queue.then(async () => {
      if (quitting) return;
      try {
        if ((await runCommand(session, line, say)) === 'quit') quit();
      } catch (err) {
        say(style.error(`error: ${errorMessage(err)}`));
      }
    });
  });
  rl.on('close', () => void queue.then(quit));
  const code = await ended;
  rl.close();
  return code;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`chat client failed: ${errorMessage(err)}\n`);
    process.exit(1);
  },
);
