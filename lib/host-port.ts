/** "host:port" and "[v6]:port" as every config key and command line writes them. */
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
  const host = m[1] || m[2] || opts.defaultHost;
  const port = Number(m[3]);
  if (!host || port > 65535 || port < (opts.allowZero ? 0 : 1)) return null;
  return { host, port };
}

/** Whether `host` is only reachable from this machine. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
