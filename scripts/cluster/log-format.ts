/**
 * Turns the services' pino JSON lines into one readable line each, prefixed
 * with the process name: "12:00:01.123 INFO  [msg-server-1] user logged in userId=5 conn=12".
 */
const LEVEL_WIDTH = 5;
const SKIP = new Set(['level', 'time', 'msg', 'service', 'pid', 'hostname']);

export function formatLogLine(name: string, line: string, color: boolean): string {
  if (!line.startsWith('{')) return `[${name}] ${line}`;
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return `[${name}] ${line}`;
  }
  const time = typeof entry.time === 'string' ? entry.time.slice(11, 23) : '';
  const level = String(entry.level ?? '').toUpperCase().padEnd(LEVEL_WIDTH);
  const fields = Object.entries(entry)
    .filter(([k]) => !SKIP.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const paint = color ? levelColor(String(entry.level)) : (s: string) => s;
  return `${time} ${paint(level)} [${name}] ${String(entry.msg ?? '')}${fields ? ' ' + fields : ''}`;
}

function levelColor(level: string): (s: string) => string {
  const code = level === 'error' || level === 'fatal' ? 31 : level === 'warn' ? 33 : level === 'info' ? 32 : 90;
  return (s) => `\x1b[${code}m${s}\x1b[0m`;
}

/** Splits a stream of chunks into lines (keeps the partial last line for the next chunk). */
export class LineSplitter {
  private rest = '';
  push(chunk: string, onLine: (line: string) => void): void {
    const text = this.rest + chunk;
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    for (const line of lines) if (line !== '') onLine(line);
  }
  flush(onLine: (line: string) => void): void {
    if (this.rest !== '') onLine(this.rest);
    this.rest = '';
  }
}
