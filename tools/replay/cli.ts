/**
 * `npm run replay -- FILE --server HOST:PORT [options]`
 *
 * Replays the client side of a capture against a live msg server and prints a
 * per-connection report. Exit codes: 0 everything matched, 1 any mismatch /
 * missing / unexpected PDU or connection problem, 2 bad command line or an
 * unusable capture file (the message names the line and byte offset).
 */
import { readFileSync } from 'node:fs';
import { CaptureFormatError, parseCapture } from '../capture/format';
import { UsageError, parseCommandLine, parseHostPort, parseIntOption, runMain } from '../capture/cli-support';
import { DEFAULT_IGNORED_FIELDS, DEFAULT_UNORDERED_LISTS } from './compare';
import { DEFAULT_REPLAY_TIMEOUT_MS, replayCapture } from './replay';
import { formatReport } from './report';
import { parseCredentials } from './rewrite';

const USAGE = `usage: npm run replay -- FILE (--server HOST:PORT | --login-url URL) [options]

  --server HOST:PORT     the msg server to replay against
  --login-url URL        or ask a login server (GET URL/msg_server) for one, like a client
  --as USER:PASSWORD     log in as this user instead (password in plain text; sent as md5 like a client);
                         RECORDED=USER:PASSWORD only for logins recorded as RECORDED; repeatable
  --fast                 no pauses between client PDUs (still waits for each expected answer)
  --ignore F1,F2         more fields to ignore when comparing (names, or dotted paths like user_info.user_nick_name);
                         always ignored: ${DEFAULT_IGNORED_FIELDS.join(', ')}
  --unordered L1,L2      more lists to compare regardless of element order;
                         always: ${DEFAULT_UNORDERED_LISTS.join(', ')}
  --timeout MS           how long to wait for each expected server PDU (default ${DEFAULT_REPLAY_TIMEOUT_MS})
  --json                 print the report as JSON instead of text
  --verbose              log connects and learned ids on stderr`;

/** Exit code of a capture file the replayer cannot use (distinct from "the server did not match"). */
const EXIT_BAD_CAPTURE = 2;

async function main(): Promise<number> {
  const { values, positionals } = parseCommandLine(process.argv.slice(2), {
    server: { type: 'string' },
    'login-url': { type: 'string' },
    as: { type: 'string', multiple: true },
    fast: { type: 'boolean' },
    ignore: { type: 'string', multiple: true },
    unordered: { type: 'string', multiple: true },
    timeout: { type: 'string' },
    json: { type: 'boolean' },
    verbose: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) throw new UsageError('');
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'which capture file?' : 'one capture file at a time');
  if (!values.server === !values['login-url']) throw new UsageError('give either --server or --login-url');
  const server = values.server ? parseHostPort('server', values.server) : undefined;
  const timeoutMs = parseIntOption('timeout', values.timeout, 1, 3_600_000);
  const as = (values.as ?? []).map((text) => {
    try {
      return parseCredentials(text);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  });
  const names = (lists: string[] | undefined) => (lists ?? []).flatMap((list) => list.split(',')).map((s) => s.trim()).filter(Boolean);
  const ignore = names(values.ignore);
  const unordered = names(values.unordered);

  const file = positionals[0];
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (err) {
    process.stderr.write(`replay: cannot read ${file}: ${(err as Error).message}\n`);
    return EXIT_BAD_CAPTURE;
  }
  let capture;
  try {
    capture = parseCapture(data);
  } catch (err) {
    if (!(err instanceof CaptureFormatError)) throw err;
    process.stderr.write(`replay: ${file}: ${err.message}\n`);
    return EXIT_BAD_CAPTURE;
  }

  const report = await replayCapture(capture, {
    server,
    loginUrl: values['login-url'],
    as,
    fast: values.fast === true,
    ignore,
    unordered,
    timeoutMs,
    log: values.verbose ? (line) => process.stderr.write(`replay: ${line}\n`) : undefined,
  });
  process.stdout.write(values.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report));
  return report.ok ? 0 : 1;
}

runMain('replay', USAGE, main);
