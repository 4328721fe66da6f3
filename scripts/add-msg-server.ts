/**
 * `npm run msg-server -- --port 8002 [--ws-port 8402]`: one more msg server for
 * the cluster that `npm start` runs. It registers with the login server (new
 * logins start landing on it once it is the least loaded) and the route server.
 * It gets a WebSocket port for the web chat when the cluster's msg servers have
 * them (--ws-port, default the highest one + 1; --ws-port 0 for none). Ctrl-C
 * stops it; its users leave the route map at once.
 */
import { parseArgs } from 'node:util';
import { errorMessage } from '../lib/errors';
import { localPki } from './cluster/pki';
import { reachable, readRunningCluster } from './cluster/running';
import { Supervisor } from './cluster/supervisor';
import { msgServerEnv } from './start';
import { portAcceptsConnections } from './infra/system';

const log = (line: string) => process.stderr.write(`[msg-server] ${line}\n`);

/** A port option's value (null when absent); `min` 0 allows "none". */
function portOption(name: string, raw: string | undefined, min = 1): number | null {
  if (raw === undefined) return null;
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port < min || port > 65535) throw new Error(`--${name} must be a port number from ${min} to 65535, got "${raw}"`);
  return port;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string' }, 'ws-port': { type: 'string' } }, strict: true, allowPositionals: false });
  const cluster = readRunningCluster();
  if (cluster === null) throw new Error('no running cluster: start one with "npm start" first');
  const port = portOption('port', values.port) ?? Math.max(...cluster.msgServerPorts) + 1;
  const wsPorts = cluster.msgServerWsPorts ?? [];
  const wsPort = portOption('ws-port', values['ws-port'], 0) ?? (wsPorts.length > 0 ? Math.max(...wsPorts) + 1 : 0);
  const client = reachable(cluster.clientHost);
  if (await portAcceptsConnections(client, port)) throw new Error(`port ${port} is already in use; pick another with --port`);
  if (wsPort > 0 && (await portAcceptsConnections(client, wsPort))) throw new Error(`port ${wsPort} is already in use; pick another with --ws-port (0 for none)`);
  const n = cluster.msgServerPorts.length + 1;
  const supervisor = new Supervisor({ output: (line) => process.stdout.write(line + '\n'), note: log, color: process.stdout.isTTY === true });
  supervisor.start({
    name: `msg-server-${port}`,
    script: 'dist/services/msg-server/main.js',
    env: msgServerEnv({ ...cluster, logLevel: process.env.TT_MSG_LOG_LEVEL ?? 'info' }, localPki(), port, n, wsPort),
  });
  const web = wsPort > 0 ? ` and ws://${cluster.publicIp}:${wsPort}/ (browsers)` : '';
  log(`msg server on ${client}:${port}${web} joining the cluster of pid ${cluster.pid} (${cluster.loginUrl}); Ctrl-C stops it`);
  const stop = () => void supervisor.stopAll().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err) => {
  log(errorMessage(err));
  process.exit(1);
});
