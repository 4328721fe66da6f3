/**
 * Command-line options of the terminal chat client.
 */
import { IM } from '../../../pdu/commands';

const { ClientType } = IM.BaseDefine;

export interface ChatOptions {
  user: string;
  password: string | null;
  loginUrl: string;
  /** host:port of a msg server, skipping the login server. */
  server: { host: string; port: number } | null;
  clientType: number;
  /** Where /get-file saves files. */
  downloadDir: string;
}

export const USAGE = `usage: npm run client -- --user NAME [--password P] [--login-url URL] [--server HOST:PORT] [--client-type windows|mac|ios|android]
  --user NAME          the login name
  --password P         else $TT_PASSWORD, else asked on the terminal
  --login-url URL      login server (default http://127.0.0.1:8080/msg_server, the one npm start runs)
  --server HOST:PORT   talk to this msg server directly instead of asking the login server
  --client-type TYPE   windows (default), mac, ios or android
  --download-dir DIR   where /get-file saves files (default: the current folder)`;

const CLIENT_TYPES: Record<string, number> = {
  windows: ClientType.CLIENT_TYPE_WINDOWS,
  mac: ClientType.CLIENT_TYPE_MAC,
  ios: ClientType.CLIENT_TYPE_IOS,
  android: ClientType.CLIENT_TYPE_ANDROID,
};

export class UsageError extends Error {}

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv): ChatOptions {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') throw new UsageError('');
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!m) throw new UsageError(`unexpected argument "${arg}"`);
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new UsageError(`--${m[1]} needs a value`);
    values.set(m[1], value);
  }
  for (const key of values.keys()) {
    if (!['user', 'password', 'login-url', 'server', 'client-type', 'download-dir'].includes(key)) throw new UsageError(`unknown option --${key}`);
  }
  const user = values.get('user');
  if (!user) throw new UsageError('--user is required');
  let server: ChatOptions['server'] = null;
  const rawServer = values.get('server');
  if (rawServer !== undefined) {
    const m = /^(.+):(\d+)$/.exec(rawServer);
    if (!m) throw new UsageError(`--server must be HOST:PORT, got "${rawServer}"`);
    server = { host: m[1], port: Number(m[2]) };
  }
  const typeName = (values.get('client-type') ?? 'windows').toLowerCase();
  const clientType = CLIENT_TYPES[typeName];
  if (clientType === undefined) throw new UsageError(`--client-type must be one of ${Object.keys(CLIENT_TYPES).join(', ')}`);
  return {
    user,
    // An empty TT_PASSWORD counts as unset (e.g. `TT_PASSWORD= npm run client`).
    password: values.get('password') ?? (env.TT_PASSWORD || null),
    loginUrl: values.get('login-url') ?? 'http://127.0.0.1:8080/msg_server',
    server,
    clientType,
    downloadDir: values.get('download-dir') ?? process.cwd(),
  };
}
