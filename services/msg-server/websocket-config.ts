/**
 * The msg server's keys for its WebSocket port (websocket-listener.ts): the same
 * PDUs, one per binary message, through the same login, limits and handlers as
 * the TCP port. Part of the one msg-server config (config.ts). What a single
 * value cannot show (a URL scheme, an origin's form, TLS files that go
 * together) is checked when the port opens, by checkWebSocketConfig.
 */
import { field } from '../../lib/config';
import { ConfigError } from '../../lib/errors';

export const webSocketSpec = {
  wsListenHost: field.host('127.0.0.1', 'address the WebSocket port binds to (0.0.0.0 to accept remote browsers)'),
  wsListenPort: field.port(0, 'WebSocket port for browsers (one binary message per PDU); 0 = no WebSocket port (npm start opens one)'),
  wsPublicUrl: field.string('', 'WebSocket URL browsers are given (through the login server); empty = ws://publicIp1:port/ (wss:// with TLS)'),
  wsAllowedOrigins: field.stringList(
    ['http://127.0.0.1:8080', 'http://localhost:8080'],
    'web page origins allowed to open a WebSocket (the login server\'s /chat/ origins, like https://chat.example.com; "*" = any); connections without an Origin header (non-browser clients) are allowed',
  ),
  wsTlsCertFile: field.string('', 'PEM certificate chain for wss:// (with wsTlsKeyFile); empty = plain ws://'),
  wsTlsKeyFile: field.string('', 'PEM private key for wss:// (with wsTlsCertFile)'),
};

export interface WebSocketConfig {
  wsPublicUrl: string;
  wsAllowedOrigins: string[];
  wsTlsCertFile: string;
  wsTlsKeyFile: string;
}

/** Throws a ConfigError naming the key for what the field types cannot check. */
export function checkWebSocketConfig(config: WebSocketConfig): void {
  if (config.wsPublicUrl !== '' && !/^wss?:\/\/[^/\s]+/i.test(config.wsPublicUrl)) {
    throw new ConfigError(`msg-server config: key "wsPublicUrl" must be a ws:// or wss:// URL (or empty), got ${JSON.stringify(config.wsPublicUrl)}`);
  }
  const bad = config.wsAllowedOrigins.find((o) => o !== '*' && !isOrigin(o));
  if (bad !== undefined) {
    throw new ConfigError(
      `msg-server config: key "wsAllowedOrigins" must list origins like https://chat.example.com (scheme, host and port only, as browsers send them) or "*", got ${JSON.stringify(bad)}`,
    );
  }
  if ((config.wsTlsCertFile === '') !== (config.wsTlsKeyFile === '')) {
    throw new ConfigError('msg-server config: keys "wsTlsCertFile" and "wsTlsKeyFile" go together: set both for wss://, or neither');
  }
}

/** scheme://host[:port] and nothing else, as browsers send it in the Origin header. */
function isOrigin(s: string): boolean {
  try {
    const url = new URL(s);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === s.replace(/\/$/, '').toLowerCase();
  } catch {
    return false;
  }
}
