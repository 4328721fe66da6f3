/** "host:port" and "[v6]:port" as every config key and command line writes them. */
import { isIP, isIPv6 } from 'node:net';

export interface HostPort {
  host: string;
  port: number;
}

/**
 * Parses "HOST:PORT", "[V6]:PORT", or just "PORT" when `defaultHost` is given.
 * Ports 1-65535 (0 with `allowZero`: pick a free one). Null when malformed.
 */
export function parseHostPort(text: string, opts: { defaultHost?: string; allowZero?: boolean } = {}): HostPort | null {
  const t = text.trim();
  const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(t) ?? (opts.defaultHost !== undefined ? /^()()(\d{1,5})$/.exec(t) : null);
  if (m === null) return null;
  if (m[1] && !isIPv6(m[1])) return null;
  const host = m[1] || m[2] || opts.defaultHost;
  const port = Number(m[3]);
  if (!host || !isValidHost(host) || port > 65535 || port < (opts.allowZero ? 0 : 1)) return null;
  return { host, port };
}

const HOST_NAME = /^(?=.{1,253}\.?$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i;

/** An IPv4 or IPv6 address, or a DNS host name (labels of letters, digits, "-" and "_"). */
export function isValidHost(host: string): boolean {
  return isIP(host) !== 0 || HOST_NAME.test(host);
}

/** Whether `host` is only reachable from this machine. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
