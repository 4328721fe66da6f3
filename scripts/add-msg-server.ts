/**
 * `npm run msg-server -- --port 8002 [--ws-port 8402]`: one more msg server for
 * the cluster that `npm start` runs. It registers with the login server (new
 * logins start landing on it once it is the least loaded) and the route server.
 * It gets a WebSocket port for the web chat when the cluster's msg servers have
 * them (--ws-port, default the highest one + 1; --ws-port 0 for none). Ctrl-C
 * stops it; its users leave the route map at once.
 */
import { errorMessage } from '../lib/errors';
import { reachable, readRunningCluster } from './cluster/running';
import { Supervisor } from './cluster/supervisor';
import { webSocketEnv } from './cluster/web';
import { msgServerEnv } from './start';
import { portAcceptsConnections } from './infra/system';

const log = (line: string) => process.stderr.write(`[msg-server] ${line}\n`);

function portFromArgs(argv: string[], name: string, min = 1): number | null {
  const i = argv.indexOf(`--${name}`);
  const raw = i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  if (raw === undefined) return null;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < min || port > 65535) throw new Error(`--${name} must be a port number, got "${raw}"`);
  return port;
}

async function main(): Promise<void> {
  const cluster = readRunningCluster();
  if (cluster === null) throw new Error('no running cluster: start one with "npm start" first');
  const argv = process.argv.slice(2);
  const port = portFromArgs(argv, 'port') ?? Math.max(...cluster.msgServerPorts) + 1;
  const wsPorts = cluster.msgServerWsPorts ?? [];
  const wsPort = portFromArgs(argv, 'ws-port', 0) ?? (wsPorts.length > 0 ? Math.max(...wsPorts) + 1 : 0);
  const local = reachable(cluster.host);
  if (await portAcceptsConnections(local, port)) throw new Error(`port ${port} is already in use; pick another with --port`);
  if (wsPort > 0 && (await portAcceptsConnections(local, wsPort))) throw new Error(`port ${wsPort} is already in use; pick another with --ws-port (0 for none)`);
  const n = cluster.msgServerPorts.length + 1;
  const supervisor = new Supervisor({ output: (line) => process.stdout.write(line + '\n'), note: log, color: process.stdout.isTTY === true });
  supervisor.start({
    name: `msg-server-${port}`,
    script: 'dist/services/msg-server/main.js',
    env: {
      ...msgServerEnv(cluster.host, cluster.publicIp, port, n, process.env.TT_MSG_LOG_LEVEL ?? 'info', {
        login: `${local}:${cluster.loginMsgServerPort}`,
        route: `${local}:${cluster.routePort}`,
        db: `${local}:${cluster.dbProxyPort}`,
      }),
      ...webSocketEnv(cluster.host, wsPort, cluster.webOrigins ?? []),
    },
  });
  const web = wsPort > 0 ? ` and ws://${cluster.publicIp}:${wsPort}/ (browsers)` : '';
  log(`msg server on ${local}:${port}${web} joining the cluster of pid ${cluster.pid} (${cluster.loginUrl}); Ctrl-C stops it`);
  const stop = () => void supervisor.stopAll().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err) => {
  log(errorMessage(err));
  process.exit(1);
});
