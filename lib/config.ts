/**
 * Typed service configuration: one spec per service lists every key with its
 * type, default and meaning. Values come from (lowest to highest priority) the
 * defaults, a JSON file, environment variables, and programmatic overrides.
 * Everything is validated at start; an error names the key and where the bad
 * value came from.
 *
 * Environment variable for key `listenPort` of a service with prefix TT_MSG:
 * TT_MSG_LISTEN_PORT. Some keys also accept a shared variable (MYSQL_URL...).
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { ConfigError } from './errors';
import { isValidHost, parseHostPort as splitHostPort, type HostPort } from './host-port';
import { projectRoot } from './paths';

export type { HostPort } from './host-port';

export interface Field<T> {
  readonly doc: string;
  readonly default: T;
  /** Extra environment variables read for this key (after the prefixed one). */
  readonly aliases: readonly string[];
  /** Turns a raw value (JSON value or env string) into T, or throws a message. */
  parse(raw: unknown): T;
  /** Human description of the accepted values, for error messages. */
  readonly expects: string;
}

export type Spec = Record<string, Field<unknown>>;
export type ConfigOf<S extends Spec> = { -readonly [K in keyof S]: S[K] extends Field<infer T> ? T : never };

class Invalid extends Error {}
/** Invalid, with a message saying which part is wrong (record fields). */
class InvalidEntry extends Invalid {}

/** The URL `text` spells, or null when it spells none (for config checks that then name the key). */
export function urlOrNull(text: string): URL | null {
  try {
    return new URL(text);
  } catch {
    return null;
  }
}

function urlHasProtocol(raw: string, protocols: readonly string[]): boolean {
  const url = urlOrNull(raw);
  return url !== null && protocols.includes(url.protocol.replace(/:$/, ''));
}

function make<T>(expects: string, def: T, doc: string, parse: (raw: unknown) => T, aliases: string[] = []): Field<T> {
  return { expects, default: def, doc, parse, aliases };
}

function parseInteger(raw: unknown, min: number, max: number): number {
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw new Invalid();
  return n;
}

/** A list as a JSON array, or as a comma-separated env string. */
function listItems(raw: unknown): unknown {
  return typeof raw === 'string' ? raw.split(',').map((s) => s.trim()).filter(Boolean) : raw;
}

function parseHostPort(raw: unknown): HostPort {
  if (raw && typeof raw === 'object' && 'host' in raw && 'port' in raw) {
    const o = raw as { host: unknown; port: unknown };
    if (typeof o.host !== 'string' || !isValidHost(o.host)) throw new Invalid();
    return { host: o.host, port: parseInteger(o.port, 1, 65535) };
  }
  if (typeof raw !== 'string') throw new Invalid();
  const parsed = splitHostPort(raw);
  if (parsed === null) throw new Invalid();
  return parsed;
}

export const field = {
  string(def: string, doc: string, opts: { nonEmpty?: boolean; aliases?: string[] } = {}): Field<string> {
    return make(opts.nonEmpty ? 'a non-empty string' : 'a string', def, doc, (raw) => {
      if (typeof raw !== 'string' || (opts.nonEmpty && raw === '')) throw new Invalid();
      return raw;
    }, opts.aliases);
  },
  int(def: number, doc: string, opts: { min?: number; max?: number; aliases?: string[] } = {}): Field<number> {
    const min = opts.min ?? 0;
    const max = opts.max ?? Number.MAX_SAFE_INTEGER;
    return make(`an integer from ${min} to ${max}`, def, doc, (raw) => parseInteger(raw, min, max), opts.aliases);
  },
  /** An address to bind to or connect to: an IPv4 or IPv6 address or a DNS name; `optional`: also "" (none). */
  host(def: string, doc: string, opts: { optional?: boolean } = {}): Field<string> {
    return make(opts.optional ? 'an IP address, a host name or ""' : 'an IP address or a host name', def, doc, (raw) => {
      if (typeof raw !== 'string') throw new Invalid();
      if (raw === '' && opts.optional) return raw;
      if (!isValidHost(raw)) throw new Invalid();
      return raw;
    });
  },
  /** A TCP port; 0 means "pick a free one" (tests). */
  port(def: number, doc: string, opts: { aliases?: string[] } = {}): Field<number> {
    return make('a port number from 0 to 65535', def, doc, (raw) => parseInteger(raw, 0, 65535), opts.aliases);
  },
  bool(def: boolean, doc: string): Field<boolean> {
    return make('true or false', def, doc, (raw) => {
      if (typeof raw === 'boolean') return raw;
      if (raw === 'true' || raw === '1') return true;
      if (raw === 'false' || raw === '0') return false;
      throw new Invalid();
    });
  },
  oneOf<const V extends string>(values: readonly V[], def: V, doc: string): Field<V> {
    return make(`one of ${values.join(', ')}`, def, doc, (raw) => {
      if (typeof raw !== 'string' || !values.includes(raw as V)) throw new Invalid();
      return raw as V;
    });
  },
  /** A list of host:port, as a JSON array or a comma-separated env string. */
  hostPortList(def: HostPort[], doc: string, opts: { min?: number } = {}): Field<HostPort[]> {
    const min = opts.min ?? 0;
    return make(`a list of host:port (at least ${min})`, def, doc, (raw) => {
      const items = listItems(raw);
      if (!Array.isArray(items) || items.length < min) throw new Invalid();
      return items.map(parseHostPort);
    });
  },
  /** A list of ports, as a JSON array or a comma-separated env string. */
  portList(def: number[], doc: string, opts: { min?: number } = {}): Field<number[]> {
    const min = opts.min ?? 0;
    return make(`a list of port numbers (at least ${min})`, def, doc, (raw) => {
      const items = listItems(raw);
      if (!Array.isArray(items) || items.length < min) throw new Invalid();
      return items.map((p) => parseInteger(p, 1, 65535));
    });
  },
  /** A list of non-empty words (addresses, names), as a JSON array or a comma-separated env string. */
  stringList(def: string[], doc: string): Field<string[]> {
    return make('a list of non-empty strings without spaces', def, doc, (raw) => {
      const items = listItems(raw);
      if (!Array.isArray(items) || !items.every((i) => typeof i === 'string' && i !== '' && !/\s/.test(i))) throw new Invalid();
      return items as string[];
    });
  },
  /** A list of URLs (JSON array, or comma-separated in the environment). */
  urlList(def: string[], doc: string, opts: { protocols: string[] }): Field<string[]> {
    return make(`a list of URLs (${opts.protocols.join(' or ')})`, def, doc, (raw) => {
      const items = typeof raw === 'string' ? raw.split(',').map((s) => s.trim()).filter(Boolean) : raw;
      if (!Array.isArray(items)) throw new Invalid();
      return items.map((item) => {
        if (typeof item !== 'string' || !urlHasProtocol(item, opts.protocols)) throw new Invalid();
        return item;
      });
    });
  },
  /**
   * A JSON object whose values `parseValue` checks (it throws a message naming
   * what is wrong); in the environment, the object as a JSON string.
   */
  record<V>(def: Record<string, V>, doc: string, expects: string, parseValue: (key: string, value: unknown) => V): Field<Record<string, V>> {
    return make(expects, def, doc, (raw) => {
      let value = raw;
      if (typeof raw === 'string') {
        try {
          value = JSON.parse(raw);
        } catch {
          throw new Invalid();
        }
      }
      if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Invalid();
      const out: Record<string, V> = {};
      for (const [k, v] of Object.entries(value)) {
        try {
          out[k] = parseValue(k, v);
        } catch (err) {
          if (err instanceof Invalid) throw err;
          throw new InvalidEntry(`entry "${k}": ${(err as Error).message}`);
        }
      }
      return out;
    });
  },
  /** A list of hosts (IP addresses or DNS names), as a JSON array or a comma-separated env string. */
  hostList(def: string[], doc: string): Field<string[]> {
    return make('a list of IP addresses or host names', def, doc, (raw) => {
      const items = listItems(raw);
      if (!Array.isArray(items) || !items.every((i) => typeof i === 'string' && isValidHost(i))) throw new Invalid();
      return items as string[];
    });
  },
  /** A file path; a relative one is taken from the project's top folder (not the working directory). */
  file(def: string, doc: string): Field<string> {
    return make('a file path', def, doc, (raw) => {
      if (typeof raw !== 'string' || raw === '') throw new Invalid();
      return isAbsolute(raw) ? raw : resolve(projectRoot, raw);
    });
  },
  url(def: string, doc: string, opts: { protocols: string[]; aliases?: string[] }): Field<string> {
    return make(`a URL (${opts.protocols.join(' or ')})`, def, doc, (raw) => {
      if (typeof raw !== 'string' || !urlHasProtocol(raw, opts.protocols)) throw new Invalid();
      return raw;
    }, opts.aliases);
  },
  logLevel(def = 'info'): Field<string> {
    return field.oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], def as 'info', 'pino log level (SIGHUP re-reads it)');
  },
};

export function envName(prefix: string, key: string): string {
  return `${prefix}_${key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`;
}

export interface ConfigSources<S extends Spec> {
  /** JSON file with a subset of the keys. */
  file?: string | null;
  env?: NodeJS.ProcessEnv;
  /** Programmatic values (tests, the cluster supervisor); highest priority. */
  overrides?: Partial<ConfigOf<S>>;
}

/** A rule that spans keys: throws ConfigError naming them. */
export type ConfigRule<S extends Spec> = (config: ConfigOf<S>) => void;

export interface ServiceConfig<S extends Spec> {
  readonly service: string;
  readonly envPrefix: string;
  readonly spec: S;
  load(sources?: ConfigSources<S>): ConfigOf<S>;
  /** Markdown table of the keys, for the README. */
  describe(): string;
}

/** `rules` (cross-key checks) run after every load, whatever the values came from. */
export function defineConfig<S extends Spec>(service: string, envPrefix: string, spec: S, rules: ReadonlyArray<ConfigRule<S>> = []): ServiceConfig<S> {
  return {
    service,
    envPrefix,
    spec,
    load(sources = {}) {
      const env = sources.env ?? process.env;
      const file = sources.file ?? env[`${envPrefix}_CONFIG`] ?? null;
      const fromFile = file ? readConfigFile(service, file) : {};
      for (const key of Object.keys(fromFile)) {
        if (!(key in spec)) {
          throw new ConfigError(
            `${service} config: unknown key "${key}" in ${file} (known keys: ${Object.keys(spec).join(', ')})`,
          );
        }
      }
      const overrides: Record<string, unknown> = sources.overrides ?? {};
      for (const key of Object.keys(overrides)) {
        if (!(key in spec)) throw new ConfigError(`${service} config: unknown key "${key}" in overrides`);
      }
      const result: Record<string, unknown> = {};
      for (const [key, f] of Object.entries(spec)) {
        let value: unknown = f.default;
        let where = 'the default';
        if (key in fromFile) {
          value = fromFile[key];
          where = `${file}`;
        }
        for (const name of [envName(envPrefix, key), ...f.aliases].reverse()) {
          // The prefixed variable wins over shared aliases, so it is applied last.
          if (env[name] !== undefined) {
            value = env[name];
            where = `environment variable ${name}`;
          }
        }
        if (overrides[key] !== undefined) {
          value = overrides[key];
          where = 'overrides';
        }
        try {
          result[key] = f.parse(value);
        } catch (err) {
          if (!(err instanceof Invalid)) throw err;
          const detail = err instanceof InvalidEntry ? ` (${err.message})` : '';
          throw new ConfigError(
            `${service} config: key "${key}" must be ${f.expects}${detail}, got ${redactUrls(JSON.stringify(value))} (from ${where})`,
          );
        }
      }
      const config = result as ConfigOf<S>;
      for (const rule of rules) rule(config);
      return config;
    },
    describe() {
      const rows = Object.entries(spec).map(([key, f]) => {
        const env = [envName(envPrefix, key), ...f.aliases].join(', ');
        return `| \`${key}\` | \`${env}\` | \`${JSON.stringify(f.default)}\` | ${f.doc} |`;
      });
      return ['| key | env | default | meaning |', '|---|---|---|---|', ...rows].join('\n');
    },
  };
}

/**
 * The cross-key rule of every service that heartbeats its links: the heartbeat
 * must come well within the link timeout (at most half of it), or a quiet but
 * healthy link is closed as dead between two heartbeats.
 */
export function heartbeatWithinTimeout<K extends string>(service: string, heartbeatKey: K, timeoutKey: K) {
  return (config: Record<K, unknown>): void => {
    const heartbeat = Number(config[heartbeatKey]);
    const timeout = Number(config[timeoutKey]);
    if (heartbeat * 2 > timeout) {
      throw new ConfigError(
        `${service} config: key "${heartbeatKey}" (${heartbeat}) must be at most half of "${timeoutKey}" (${timeout}), or idle links are closed between heartbeats`,
      );
    }
  };
}

function readConfigFile(service: string, file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${service} config: cannot read ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${service} config: ${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`${service} config: ${file} must hold a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

/** Passwords in URLs of a bad value are not echoed into error messages. */
function redactUrls(text: string | undefined): string {
  return String(text).replace(/(\w+:\/\/[^:/@\s"]*:)[^@\s"]*@/g, '$1***@');
}
