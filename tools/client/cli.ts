/**
 * `npm run client -- --user NAME`: an interactive terminal chat client speaking
 * the real TeamTalk protocol. It asks the login server for a msg server (like
 * every TeamTalk client), logs in, and reads commands and messages from stdin.
 * Works interactively and with piped input; one event per output line.
 *
 * Exit codes: 0 after /quit or end of input, 1 connection or login failure (or
 * the connection lost later), 2 usage error, 3 logged out by a login elsewhere.
 */
import { errorMessage } from '../../lib/errors';
import { ChatSession } from './chat/chat-session';
import { runCommand } from './chat/commands';
import { USAGE, UsageError, parseOptions, type ChatOptions } from './chat/options';
import { askPassword } from './chat/password-prompt';
import { makeStyle } from './chat/render';
import { signIn, type SignedIn } from './chat/sign-in';
import { Terminal } from './chat/terminal';

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

  let signedIn: SignedIn;
  try {
    const password = options.password ?? (await askPassword(process.stdin, process.stdout));
    signedIn = await signIn(options, password);
  } catch (err) {
    fail(errorMessage(err));
    return EXIT.FAILED;
  }
  const { client, where } = signedIn;
  const me = client.userInfo;
  const terminal = new Terminal(process.stdin, process.stdout);
  terminal.line(`logged in as ${options.user}${me?.user_nick_name ? ` (${me.user_nick_name})` : ''}, user id ${client.userId}, on ${where}`);

  const session = new ChatSession(client, terminal, style, options.downloadDir);
  let quitting = false;
  const ended = new Promise<number>((resolve) => {
    client.on('close', (reason: string) => {
      if (quitting) return resolve(EXIT.OK);
      // Let the kick notice (which arrived just before the close) be printed first.
      void session.settled().then(() => {
        if (session.kickReason !== null) return resolve(EXIT.KICKED);
        terminal.line(style.error(`connection to the msg server lost: ${reason}`));
        resolve(EXIT.FAILED);
      });
    });
  });
  const quit = () => {
    if (quitting) return;
    quitting = true;
    terminal.line('logging out');
    setTimeout(() => client.close(), LOGOUT_GRACE_MS).unref();
    client.logout().catch(() => client.close());
  };

  try {
    await session.start();
  } catch (err) {
    if (!client.isOpen) return ended;
    fail(`could not load your conversations: ${errorMessage(err)}`);
    client.close();
    return EXIT.FAILED;
  }
  terminal.line('type /help for commands');
  terminal.start(async (line) => {
    if (quitting || !client.isOpen) return;
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
