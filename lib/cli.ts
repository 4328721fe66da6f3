/**
 * What every command line shares: node:util parseArgs in strict mode (an unknown
 * flag or a missing value is an error), value checks that name the option, and
 * one way to exit (usage errors: 2 with the usage text; other failures: 1).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseHostPort, type HostPort } from './host-port';

/** A wrong command line: the CLI prints the message and its usage, and exits 2 (an empty message: just the usage, exit 0). */
export class UsageError extends Error {
  override name = 'UsageError';
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * How a value is named in errors: a lowercase name is a flag ("seconds" ->
 * "--seconds"), an uppercase one a positional placeholder ("PORT").
 */
function label(name: string): string {
  return /^[a-z]/.test(name) ? `--${name}` : name;
}

/**
 * Strict parseArgs over `argv`: unknown flags, missing values and (unless
 * `positionals` allows them) extra words are UsageErrors.
 */
export function parseCommandLine<T extends Options>(argv: string[], options: T, opts: { positionals?: boolean } = {}) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: opts.positionals ?? true, strict: true });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

/** "HOST:PORT", "[v6]:PORT" or (with `defaultHost`) just "PORT"; ports 1-65535, or 0 with `allowZero`. */
export function parseHostPortOption(option: string, text: string, opts: { defaultHost?: string; allowZero?: boolean } = {}): HostPort {
  const parsed = parseHostPort(text, opts);
  if (parsed === null) {
    const ports = opts.allowZero ? '0 to 65535' : '1 to 65535';
    throw new UsageError(`${label(option)} must be HOST:PORT${opts.defaultHost !== undefined ? ' or PORT' : ''} with a port from ${ports}, got "${text}"`);
  }
  return parsed;
}

/** A port number 1-65535 (`min` 0: also "pick a free one"). */
export function parsePortOption(option: string, text: string | undefined, min = 1): number | undefined {
  return parseIntOption(option, text, min, 65535);
}

/** A whole number from min to max; undefined stays undefined (the option was not given). */
export function parseIntOption(option: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`${label(option)} must be a whole number from ${min} to ${max}, got "${text}"`);
  }
  return Number(text);
}

/** A decimal number from min to max (e.g. seconds, a rate). */
export function parseNumberOption(option: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = text.trim() === '' ? NaN : Number(text);
  if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`${label(option)} must be a number from ${min} to ${max}, got "${text}"`);
  return n;
}

/** One of a fixed set of words. */
export function parseChoiceOption<const V extends string>(option: string, text: string | undefined, choices: readonly V[]): V | undefined {
  if (text === undefined) return undefined;
  if (!(choices as readonly string[]).includes(text)) throw new UsageError(`${label(option)} must be one of ${choices.join(', ')}, got "${text}"`);
  return text as V;
}

/** `--config FILE` of a service or `npm start` (the only option they take). */
export function configFileFromArgs(argv: string[]): string | null {
  const { values } = parseCommandLine(argv, { config: { type: 'string' } }, { positionals: false });
  return values.config ?? null;
}

/** Runs a CLI's main: usage errors exit 2 with the usage text, other errors exit 1 with their message. */
export function runMain(name: string, usage: string, main: () => Promise<number>): void {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      if (err instanceof UsageError) {
        if (err.message) process.stderr.write(`${name}: ${err.message}\n\n`);
        process.stderr.write(usage + '\n');
        process.exitCode = err.message ? 2 : 0;
        return;
      }
      process.stderr.write(`${name}: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
