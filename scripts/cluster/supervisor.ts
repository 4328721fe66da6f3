/**
 * Runs the services as child processes: prefixes their log lines, restarts a
 * crashed one with backoff, and stops them all (SIGTERM, then SIGKILL) on
 * request. A child that exits with code 2 stopped on a configuration error
 * (lib/service.ts): starting it again cannot help, so it is not restarted and
 * onConfigError is told, with the child's last lines (which name the bad key).
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
  /** A child exited with code 2 (configuration error) and is not restarted; `lines` are its last output lines. */
  onConfigError?(name: string, lines: string[]): void;
}

/** Exit code of a service that refused its configuration (lib/service.ts). */
export const CONFIG_ERROR_EXIT_CODE = 2;
/** Output lines kept per child, for the message when it stops on a configuration error. */
const LAST_LINES = 10;

const MIN_BACKOFF_MS = 1_000;
const MAX_BACKOFF_MS = 30_000;
/** A child that ran this long before crashing is restarted quickly again. */
const STABLE_AFTER_MS = 60_000;
const STOP_GRACE_MS = 10_000;

/**
 * TT_CPU_PROFILE=db-proxy,msg-server (names or name prefixes; "all" for every
 * child): those children run with V8's --cpu-prof and write a .cpuprofile to
 * .run/profiles/<name>/ when they stop (open it in Chrome DevTools' Performance tab).
 * NODE_OPTIONS cannot carry --cpu-prof, hence this switch.
 */
function profileArgs(name: string): string[] {
  const wanted = (process.env.TT_CPU_PROFILE ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '');
  if (!wanted.some((p) => p === 'all' || name.startsWith(p))) return [];
  return ['--cpu-prof', `--cpu-prof-dir=${join(projectRoot, '.run', 'profiles', name)}`];
}

class SupervisedChild {
  proc: ChildProcess | null = null;
  restarts = 0;
  /** The child's last output lines (raw). */
  private readonly lastLines: string[] = [];
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
    const proc = spawn(process.execPath, [...(this.spec.nodeArgs ?? []), ...profileArgs(this.spec.name), join(projectRoot, this.spec.script)], {
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
      const onLine = (l: string) => {
        this.lastLines.push(l);
        if (this.lastLines.length > LAST_LINES) this.lastLines.shift();
        this.options.output(formatLogLine(this.spec.name, l, this.options.color));
      };
      stream?.on('data', (chunk: string) => lines.push(chunk, onLine));
      stream?.on('end', () => lines.flush(onLine));
    }
    // 'close' comes after the output streams ended: the last lines are in.
    proc.on('close', (code, signal) => this.exited(code, signal));
  }

  private exited(code: number | null, signal: NodeJS.Signals | null): void {
    this.proc = null;
    if (this.stopping) return;
    if (code === CONFIG_ERROR_EXIT_CODE) {
      this.stopping = true;
      this.options.note(`${this.spec.name} stopped on a configuration error (exit code 2); not restarting it`);
      this.options.onConfigError?.(this.spec.name, [...this.lastLines]);
      return;
    }
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
    if (proc === null || proc.exitCode !== null || proc.signalCode !== null) return;
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

  /**
   * Sends `signal` to one child (`npm run chaos`: SIGKILL); an exit that follows
   * is a crash like any other and the child is restarted. The pid signalled, or
   * null when that child is not running now.
   */
  signal(name: string, signal: NodeJS.Signals): number | null {
    const proc = this.children.find((c) => c.spec.name === name)?.proc;
    if (proc === null || proc === undefined || proc.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) return null;
    proc.kill(signal);
    return proc.pid;
  }
}
