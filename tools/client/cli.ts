/**
 * `npm run client -- --user NAME`: an interactive terminal chat client speaking
 * the real TeamTalk protocol. It asks the login server for a msg server (like
 * every TeamTalk client), logs in, and reads commands and messages from stdin.
 * Works interactively and with piped input; one event per output line.
 *
 * A lost connection (a msg server drained, restarted or gone) is not the end:
 * it asks the login server again with backoff, logs in wherever it is sent, and
 * shows what arrived meanwhile (reconnecting-client.ts).
 *
 * Exit codes: 0 after /quit or end of input, 1 connection or login failure (or
 * logging in again refused later), 2 usage error, 3 logged out by a login
 * elsewhere (or an operator's kick).
 */
import { errorMessage } from '../../lib/errors';
import { ChatSession } from './chat/chat-session';
import { runCommand } from './chat/commands';
import { UsageError } from '../../lib/cli';
import { USAGE, parseOptions, type ChatOptions } from './chat/options';
import { askPassword } from './chat/password-prompt';
import { makeStyle } from './chat/render';
import { signIn } from './chat/sign-in';
import { Terminal } from './chat/terminal';
import { ReconnectingClient } from './reconnecting-client';

const EXIT = { OK: 0, FAILED: 1, USAGE: 2, KICKED: 3 } as const;

/** A logout the server never finishes must not keep the client hanging. */
const LOGOUT_GRACE_MS = 5_000;

async function main(): Promise<number> {
  let options: ChatOptions;
  try {
    options = parseOptions(process.argv.slice(2), process.env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    if (err.message) process.stderr.write(`${err.message}\n`);
    process.stderr.write(`${USAGE}\n`);
    return err.message ? EXIT.USAGE : EXIT.OK;
  }
  const style = makeStyle(process.stdout.isTTY === true && !process.env.NO_COLOR);
  const fail = (message: string) => process.stderr.write(style.error(message) + '\n');

  let client: ReconnectingClient;
  try {
    const password = options.password ?? (await askPassword(process.stdin, process.stdout));
    client = new ReconnectingClient({ dial: () => signIn(options, password) });
    await client.start();
  } catch (err) {
    fail(errorMessage(err));
    return EXIT.FAILED;
  }
  const me = client.userInfo;
  const terminal = new Terminal(process.stdin, process.stdout);
  terminal.line(`logged in as ${options.user}${me?.user_nick_name ? ` (${me.user_nick_name})` : ''}, user id ${client.userId}, on ${client.where}`);

  const session = new ChatSession(client, terminal, style, options.downloadDir);
  let quitting = false;
  const ended = new Promise<number>((resolve) => {
    client.on('closed', ({ reason, kicked }: { reason: string; kicked: boolean }) => {
      if (quitting) return resolve(EXIT.OK);
      // Let the kick notice (which arrived just before the close) be printed first.
      void session.settled().then(() => {
        if (kicked) return resolve(EXIT.KICKED);
        terminal.line(style.error(reason));
        resolve(EXIT.FAILED);
      });
    });
  });
  const quit = () => {
    if (quitting) return;
    quitting = true;
    terminal.line('logging out');
    setTimeout(() => client.stop(), LOGOUT_GRACE_MS).unref();
    if (!client.isOpen) return client.stop();
    client.logout().catch(() => client.stop());
  };

  try {
    await session.start();
  } catch (err) {
    if (client.isOpen) {
      fail(`could not load your conversations: ${errorMessage(err)}`);
      client.stop();
      return EXIT.FAILED;
    }
    // The connection went while loading: the reconnect brings what was missed; see /sessions.
  }
  terminal.line('type /help for commands');
  terminal.start(async (line) => {
    // While reconnecting, a message waits for the connection; other commands say it is down.
    if (quitting) return;
    try {
      if ((await runCommand(session, line, terminal)) === 'quit') quit();
    } catch (err) {
      terminal.line(style.error(`error: ${errorMessage(err)}`));
    }
  }, quit);
  const code = await ended;
  terminal.close();
  return code;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`chat client failed: ${errorMessage(err)}\n`);
    process.exit(EXIT.FAILED);
  },
);
