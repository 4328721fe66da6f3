/** Small helpers shared by the capture, pcap-import and replay command lines. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseHostPort as splitHostPort } from '../../lib/host-port';

/** A wrong command line: the CLI prints the message and its usage, and exits 2. */
export class UsageError extends Error {}

export function parseCommandLine<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

/** "HOST:PORT", "[v6]:PORT" or just "PORT" (then `defaultHost`). */
export function parseHostPort(option: string, text: string, defaultHost?: string): { host: string; port: number } {
  const parsed = splitHostPort(text, { defaultHost, allowZero: true });
  if (parsed === null) throw new UsageError(`--${option} must be HOST:PORT${defaultHost !== undefined ? ' or PORT' : ''}, got "${text}"`);
  return parsed;
}

export function parseIntOption(option: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`--${option} must be a whole number from ${min} to ${max}, got "${text}"`);
  }
  return Number(text);
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
