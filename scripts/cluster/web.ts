/**
 * The web chat's part of `npm start` (and `npm run msg-server`, the bench): each
 * msg server's WebSocket port (msgServerWsPorts), the web page origins those
 * ports accept (the login server's, by the addresses people may use), and the
 * banner lines that say where to open it.
 */
import { ConfigError } from '../../lib/errors';
import type { ClusterConfig } from './config';
import { reachable } from './running';

type WebConfig = Pick<ClusterConfig, 'clientHost' | 'publicIp' | 'loginHttpPort' | 'msgServerPorts' | 'msgServerWsPorts'>;

/** One WebSocket port per msg server, or none at all. */
export function checkWebSocketPorts(config: WebConfig): void {
  const ws = config.msgServerWsPorts;
  if (ws.length !== 0 && ws.length !== config.msgServerPorts.length) {
    throw new ConfigError(
      `cluster config: key "msgServerWsPorts" lists ${ws.length} WebSocket ports for ${config.msgServerPorts.length} msg servers: give one per msg server (in the order of msgServerPorts), or [] for none`,
    );
  }
}

/** Where people open the web chat: the login server's HTTP port, by the addresses they may use. */
export function webOrigins(config: Pick<ClusterConfig, 'clientHost' | 'publicIp' | 'loginHttpPort'>): string[] {
  const hosts = new Set([reachable(config.clientHost), config.publicIp]);
  if ([...hosts].some((h) => h === '127.0.0.1' || h === 'localhost')) {
    hosts.add('127.0.0.1');
    hosts.add('localhost');
  }
  return [...hosts].map((h) => `http://${h.includes(':') ? `[${h}]` : h}:${config.loginHttpPort}`);
}

/** A msg server's WebSocket settings (none for port 0). */
export function webSocketEnv(host: string, wsPort: number, origins: string[]): Record<string, string> {
  if (wsPort === 0) return {};
  return { TT_MSG_WS_LISTEN_HOST: host, TT_MSG_WS_LISTEN_PORT: String(wsPort), TT_MSG_WS_ALLOWED_ORIGINS: origins.join(',') };
}

/** Banner lines: the web chat URL, and the URL each msg server gives browsers. */
export function webBannerLines(config: WebConfig): { chat: string; msgServers: string[] } {
  const host = reachable(config.clientHost);
  if (config.msgServerWsPorts.length === 0) return { chat: '  web chat: off (no msgServerWsPorts in config/cluster.json)', msgServers: [] };
  return {
    chat: `  web chat: http://${host}:${config.loginHttpPort}/chat/    (open it in a browser)`,
    msgServers: [`  msg servers for browsers: ${config.msgServerWsPorts.map((p) => `ws://${config.publicIp}:${p}/`).join(', ')}`],
  };
}
