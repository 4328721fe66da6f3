/**
 * Runs the services as child processes: prefixes their log lines, restarts a
 * crashed one with backoff, and stops them all (SIGTERM, then SIGKILL) on request.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from '../../lib/paths';
import { LineSplitter, formatLogLine } from './log-format';

export interface ChildSpec {
  /** Shown in front of every log line, e.g. "msg-server-1". */
  name: string;
  /** Compiled entry point relative to the project root, e.g. dist/services/route-server/main.js. */
  script: string;
  env: Record<string, string>;
  /** Extra node flags, e.g. V8 heap sizing. */
  nodeArgs?: string[];
}

export interface SupervisorOptions {
  /** Where the children's (formatted) log lines go. */
  output(line: string): void;
  /** Supervisor's own messages. */
  note(line: string): void;
  color: boolean;
}

const MIN_BACKOFF_MS = 1_000;
const MAX_BACKOFF_MS = 30_000;
/** A child that ran this long before crashing is restarted quickly again. */
const STABLE_AFTER_MS = 60_000;
const STOP_GRACE_MS = 10_000;

class SupervisedChild {
  proc: ChildProcess | null = null;
  restarts = 0;
  private backoffMs = MIN_BACKOFF_MS;
  private startedAt = 0;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly spec: ChildSpec,
    private readonly options: SupervisorOptions,
  ) {}

  start(): void {
    this.startedAt = Date.now();
    const proc = spawn(process.execPath, [...(this.spec.nodeArgs ?? []), join(projectRoot, this.spec.script)], {
      cwd: projectRoot,
      env: { ...process.env, ...this.spec.env, TT_SUPERVISED: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group: a Ctrl-C in the terminal reaches only the
      // supervisor, which stops the children in order (and a child that crashes
      // is one we restart, never one the terminal interrupted).
      detached: true,
    });
    this.proc = proc;
    for (const stream of [proc.stdout, proc.stderr]) {
      const lines = new LineSplitter();
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => lines.push(chunk, (l) => this.options.output(formatLogLine(this.spec.name, l, this.options.color))));
      stream?.on('end', () => lines.flush((l) => this.options.output(formatLogLine(this.spec.name, l, this.options.color))));
    }
    proc.on('exit', (code, signal) => this.exited(code, signal));
  }

  private exited(code: number | null, signal: NodeJS.Signals | null): void {
    this.proc = null;
    if (this.stopping) return;
    if (Date.now() - this.startedAt > STABLE_AFTER_MS) this.backoffMs = MIN_BACKOFF_MS;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(MAX_BACKOFF_MS, this.backoffMs * 2);
    this.restarts++;
    this.options.note(`${this.spec.name} exited (${signal ?? `code ${code}`}); restarting in ${Math.round(delay / 1000)} s`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (!this.stopping) this.start();
    }, delay);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const proc = this.proc;
    if (proc === null || proc.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  }
}

export class Supervisor {
  private readonly children: SupervisedChild[] = [];

  constructor(private readonly options: SupervisorOptions) {}

  start(spec: ChildSpec): void {
    const child = new SupervisedChild(spec, this.options);
    this.children.push(child);
    child.start();
  }

  /** Stops in reverse start order (msg servers first, storage gateway last). */
  async stopAll(): Promise<void> {
    for (const child of [...this.children].reverse()) await child.stop();
  }

  pids(): Record<string, number | undefined> {
    return Object.fromEntries(this.children.map((c) => [c.spec.name, c.proc?.pid]));
  }

  /** How often each child exited unasked and was restarted (a crash, for tools that watch: bench, fuzz). */
  restarts(): Record<string, number> {
    return Object.fromEntries(this.children.map((c) => [c.spec.name, c.restarts]));
  }
}
