/**
 * Command-line options of the terminal chat client.
 */
import { IM } from '../../../pdu/commands';
import type { HostPort } from '../../../lib/host-port';
import { UsageError, parseCommandLine, parseHostPortOption } from '../../../lib/cli';


const { ClientType } = IM.BaseDefine;

export interface ChatOptions {
  user: string;
  password: string | null;
  loginUrl: string;
  /** host:port of a msg server, skipping the login server. */
  server: HostPort | null;
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

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv): ChatOptions {
  const { values } = parseCommandLine(
    argv,
    {
      user: { type: 'string' },
      password: { type: 'string' },
      'login-url': { type: 'string' },
      server: { type: 'string' },
      'client-type': { type: 'string' },
      'download-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    { positionals: false },
  );
  if (values.help) throw new UsageError('');
  const user = values.user;
  if (!user) throw new UsageError('--user is required');
  const server = values.server === undefined ? null : parseHostPortOption('server', values.server);
  const typeName = (values['client-type'] ?? 'windows').toLowerCase();
  const clientType = CLIENT_TYPES[typeName];
  if (clientType === undefined) throw new UsageError(`--client-type must be one of ${Object.keys(CLIENT_TYPES).join(', ')}`);
  return {
    user,
    // An empty TT_PASSWORD counts as unset (e.g. `TT_PASSWORD= npm run client`).
    password: values.password ?? (env.TT_PASSWORD || null),
    loginUrl: values['login-url'] ?? 'http://127.0.0.1:8080/msg_server',
    server,
    clientType,
    downloadDir: values['download-dir'] ?? process.cwd(),
  };
}
