/**
 * `npm run replay -- FILE --server HOST:PORT [options]`
 *
 * Replays the client side of a capture against a live msg server and prints a
 * per-connection report; with --provision, first gives the target the
 * accounts, groups and earlier state the capture shows. Exit codes: 0
 * everything matched, 1 any mismatch / missing / unexpected PDU, connection
 * problem or a stopped replay, 2 bad command line or an unusable capture file
 * (the message names the line and byte offset), 3 the target could not be
 * provisioned (it holds messages, or its storage is unreachable).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { errorMessage } from '../../lib/errors';
import { silentLogger } from '../../lib/log';
import { CaptureFormatError, parseCapture, type ParsedCapture } from '../capture/format';
import { UsageError, parseHostPortOption, parseIntOption, runMain } from '../../lib/cli';
import { readCaptureFacts, type CaptureFacts } from './capture-facts';
import { COMPARE_MODES, DEFAULT_IGNORED_FIELDS, DEFAULT_UNORDERED_LISTS, type CompareMode } from './compare';
import { formatJunit } from './junit';
import { ProvisionRefusedError, loginsThatWouldFail, provisionTarget, type ProvisionReport } from './provision';
import { DEFAULT_REPLAY_TIMEOUT_MS, replayCapture } from './replay';
import { formatProvision, formatReport } from './report';
import { parseCredentials, type ReplayCredentials } from './rewrite';
import { TargetStorage, locateTargetStorage } from './target-storage';

const USAGE = `usage: npm run replay -- FILE (--server HOST:PORT | --login-url URL) [options]
       npm run replay -- FILE --provision-only --password PW [--force] [--db-proxy-config FILE]

  --server HOST:PORT     the msg server to replay against
  --login-url URL        or ask a login server (GET URL/msg_server) for one, like a client
  --as USER:PASSWORD     log in as this user instead (password in plain text; sent as md5 like a client);
                         RECORDED=USER:PASSWORD only for logins recorded as RECORDED; repeatable.
                         Only logins that succeeded in the recording; failed ones fail again
  --compare MODE         exact (default): every value not ignored must be equal;
                         protocol: result codes, enums, field presence and types, list lengths and
                         order, not profile values (for captures from a deployment whose data differs)
  --provision            first create the capture's departments, users, groups, messages, recent
                         sessions and unread counters in the target's storage
  --provision-only       only that, no replay
  --password PW          password of every provisioned user (needed with --provision)
  --force                provision even when the target database already holds messages
  --db-proxy-config FILE the target db-proxy's config file (its storage is provisioned); default:
                         the storage npm start uses here (config/cluster.json, MYSQL_URL, REDIS_URL)
  --fast                 no pauses between client PDUs (still waits for each expected answer)
  --ignore F1,F2         more fields to ignore when comparing (names, or dotted paths like user_info.user_nick_name);
                         always ignored: ${DEFAULT_IGNORED_FIELDS.join(', ')}
  --unordered L1,L2      more lists to compare regardless of element order;
                         always: ${DEFAULT_UNORDERED_LISTS.join(', ')}
  --timeout MS           how long to wait for each expected server PDU (default ${DEFAULT_REPLAY_TIMEOUT_MS})
  --json                 print the report as JSON instead of text
  --report FORMAT FILE   also write the report to FILE: junit (one testcase per connection) or json; repeatable
  --verbose              log connects, learned ids and storage on stderr`;

/** A command line that cannot work, or a capture file the replayer cannot use (distinct from "the server did not match"). */
const EXIT_USAGE = 2;
const EXIT_BAD_CAPTURE = 2;
/** The target could not be provisioned. */
const EXIT_NOT_PROVISIONED = 3;

const REPORT_FORMATS = ['junit', 'json'] as const;
type ReportFormat = (typeof REPORT_FORMATS)[number];

const OPTIONS = {
  server: { type: 'string' },
  'login-url': { type: 'string' },
  as: { type: 'string', multiple: true },
  compare: { type: 'string' },
  provision: { type: 'boolean' },
  'provision-only': { type: 'boolean' },
  password: { type: 'string' },
  force: { type: 'boolean' },
  'db-proxy-config': { type: 'string' },
  fast: { type: 'boolean' },
  ignore: { type: 'string', multiple: true },
  unordered: { type: 'string', multiple: true },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
  report: { type: 'string', multiple: true },
  verbose: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/**
 * parseArgs, strict (unknown flags are errors); `--report FORMAT FILE` takes
 * the positional right after it as its FILE.
 */
function parseCommandLine(argv: string[]) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true, tokens: true });
  } catch (err) {
    throw new UsageError(errorMessage(err));
  }
  const reports: Array<{ format: ReportFormat; file: string }> = [];
  const taken = new Set<number>();
  const tokens = parsed.tokens;
  tokens.forEach((token, i) => {
    if (token.kind !== 'option' || token.name !== 'report') return;
    const format = token.value as ReportFormat;
    if (!REPORT_FORMATS.includes(format)) throw new UsageError(`--report takes a format (${REPORT_FORMATS.join(' or ')}) and a file, got "${token.value}"`);
    const next = tokens[i + 1];
    if (next?.kind !== 'positional') throw new UsageError(`--report ${format} needs a file: --report ${format} FILE`);
    taken.add(next.index);
    reports.push({ format, file: next.value });
  });
  const positionals = tokens.filter((t) => t.kind === 'positional' && !taken.has(t.index)).map((t) => (t as { value: string }).value);
  return { values: parsed.values, positionals, reports };
}

function readCaptureFile(file: string): ParsedCapture | string {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (err) {
    return `cannot read ${file}: ${(err as Error).message}`;
  }
  try {
    return parseCapture(data);
  } catch (err) {
    if (!(err instanceof CaptureFormatError)) throw err;
    return `${file}: ${err.message}`;
  }
}

async function provision(
  facts: CaptureFacts,
  options: { password: string; force: boolean; dbProxyConfig?: string; verbose: boolean },
): Promise<ProvisionReport> {
  const log = (line: string) => {
    if (options.verbose) process.stderr.write(`replay: ${line}\n`);
  };
  const located = await locateTargetStorage({ dbProxyConfigFile: options.dbProxyConfig, log });
  try {
    process.stderr.write(`replay: provisioning ${located.description}\n`);
    const logger = options.verbose ? pino({ level: 'info' }, pino.destination(2)) : silentLogger();
    const storage = await TargetStorage.open(located.config, logger);
    try {
      return await provisionTarget(facts, storage, { password: options.password, force: options.force, log });
    } finally {
      await storage.close();
    }
  } finally {
    await located.release();
  }
}

async function main(): Promise<number> {
  const { values, positionals, reports } = parseCommandLine(process.argv.slice(2));
  if (values.help) throw new UsageError('');
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'which capture file?' : 'one capture file at a time');
  const provisionOnly = values['provision-only'] === true;
  const provisioning = provisionOnly || values.provision === true;
  if (!provisionOnly && !values.server === !values['login-url']) throw new UsageError('give either --server or --login-url');
  if (provisionOnly && (values.server || values['login-url'])) throw new UsageError('--provision-only replays nothing: leave out --server / --login-url');
  if (provisioning && (values.password === undefined || values.password === '')) throw new UsageError('--provision needs --password PW (the password of every provisioned user)');
  if (!provisioning) {
    for (const key of ['password', 'force', 'db-proxy-config'] as const) {
      if (values[key] !== undefined) throw new UsageError(`--${key} only goes with --provision or --provision-only`);
    }
  }
  if (values.compare !== undefined && !COMPARE_MODES.includes(values.compare as CompareMode)) {
    throw new UsageError(`--compare must be ${COMPARE_MODES.join(' or ')}, got "${values.compare}"`);
  }
  const compare = (values.compare ?? 'exact') as CompareMode;
  const server = values.server ? parseHostPortOption('server', values.server) : undefined;
  const timeoutMs = parseIntOption('timeout', values.timeout, 1, 3_600_000);
  const as: ReplayCredentials[] = (values.as ?? []).map((text) => {
    try {
      return parseCredentials(text);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  });
  const names = (lists: string[] | undefined) => (lists ?? []).flatMap((list) => list.split(',')).map((s) => s.trim()).filter(Boolean);

  const file = positionals[0];
  const capture = readCaptureFile(file);
  if (typeof capture === 'string') {
    process.stderr.write(`replay: ${capture}\n`);
    return EXIT_BAD_CAPTURE;
  }

  let provisioned: ProvisionReport | undefined;
  if (provisioning) {
    const password = values.password as string;
    const facts = readCaptureFacts(capture.records, capture.lines);
    if (!provisionOnly) {
      const failing = loginsThatWouldFail(facts, password, as);
      if (failing.length > 0) {
        process.stderr.write(`replay: these recorded logins would fail against the provisioned accounts (and stop the replay):\n  ${failing.join('\n  ')}\n`);
        return EXIT_USAGE;
      }
    }
    try {
      provisioned = await provision(facts, { password, force: values.force === true, dbProxyConfig: values['db-proxy-config'], verbose: values.verbose === true });
    } catch (err) {
      process.stderr.write(`replay: ${err instanceof ProvisionRefusedError ? 'refused' : 'provisioning failed'}: ${errorMessage(err)}\n`);
      return EXIT_NOT_PROVISIONED;
    }
    if (provisionOnly) {
      process.stdout.write(values.json ? JSON.stringify(provisioned, null, 2) + '\n' : formatProvision(provisioned));
      return 0;
    }
  }

  const report = await replayCapture(capture, {
    server,
    loginUrl: values['login-url'],
    as,
    compare,
    provisioned,
    fast: values.fast === true,
    ignore: names(values.ignore),
    unordered: names(values.unordered),
    timeoutMs,
    log: values.verbose ? (line) => process.stderr.write(`replay: ${line}\n`) : undefined,
    warn: (line) => process.stderr.write(`replay: WARNING ${line}\n`),
  });
  if (provisioned) report.provision = provisioned;
  for (const { format, file: out } of reports) {
    writeFileSync(out, format === 'junit' ? formatJunit(report, file) : JSON.stringify(report, null, 2) + '\n');
  }
  process.stdout.write(values.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report));
  return report.ok ? 0 : 1;
}

runMain('replay', USAGE, main);
