/**
 * The terminal chat client as a child process, driven through stdin and read
 * from stdout as a person would (shared by the chat-client tests).
 */
import type { Test } from 'tap';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from '../../lib/paths';
import { waitFor } from '../helpers/wait';

/** Generous: the CI machine may be slow; nothing here measures time. */
export const WAIT_MS = 20_000;
/** "[14:02]", or "[2026-11-20 14:02]" when a test runs across midnight. */
export const TIME = String.raw`\[[-\d :]+\]`;
export const time = (pattern: string, flags = '') => new RegExp(pattern.replace('TIME', TIME), flags);

export interface ChatProcess {
  proc: ChildProcessWithoutNullStreams;
  output(): string;
  /** Index into the output: expectations after it only see newer lines. */
  mark(): number;
  type(line: string): void;
  /** Waits for `pattern` in the output after `from`; returns the index just after the match. */
  expect(pattern: RegExp, from?: number): Promise<number>;
  exited: Promise<number>;
}

export function chat(t: Test, args: string[], env: NodeJS.ProcessEnv = {}): ChatProcess {
  const proc = spawn(process.execPath, [join(projectRoot, 'dist/tools/client/cli.js'), ...args], {
    cwd: projectRoot,
    env: { ...process.env, TT_PASSWORD: '', NO_COLOR: '1', ...env },
  });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number>((resolve) => proc.on('exit', (code) => resolve(code ?? -1)));
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  return {
    proc,
    output: () => out,
    mark: () => out.length,
    type: (line) => proc.stdin.write(line + '\n'),
    async expect(pattern, from = 0) {
      let index = -1;
      await waitFor(
        () => {
          const m = pattern.exec(out.slice(from));
          if (m) index = from + m.index + m[0].length;
          return m !== null;
        },
        WAIT_MS,
        `${pattern} in:\n${out.slice(from)}`,
      );
      return index;
    },
    exited,
  };
}

