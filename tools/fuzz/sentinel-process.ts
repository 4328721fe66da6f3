/**
 * The sentinel in a process of its own (forked by run.ts): the fuzzer's event
 * loop is busy generating and writing PDUs, and a sentinel sharing it would
 * measure the fuzzer's own stalls. Talks to its parent over the IPC channel:
 *   parent -> { type: 'start', options }   child -> { type: 'started' } | { type: 'error', message }
 *   child  -> { type: 'failures', count }  (whenever the count changes)
 *   parent -> { type: 'stop' }             child -> { type: 'result', result }, then exits
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { errorMessage } from '../../lib/errors';
import { Sentinel, type SentinelOptions, type SentinelResult } from './sentinel';

type ToChild = { type: 'start'; options: SentinelOptions } | { type: 'stop' };
type ToParent =
  | { type: 'started' }
  | { type: 'error'; message: string }
  | { type: 'failures'; count: number }
  | { type: 'result'; result: SentinelResult };

/** The parent's handle on a sentinel process. */
export class SentinelProcess {
  failureCount = 0;
  private readonly child: ChildProcess;
  private exited = false;

  private constructor() {
    this.child = fork(join(__dirname, 'sentinel-process.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m: ToParent) => {
      if (m.type === 'failures') this.failureCount = m.count;
    });
    this.child.once('exit', () => {
      this.exited = true;
    });
  }

  static async start(options: SentinelOptions): Promise<SentinelProcess> {
    const sentinel = new SentinelProcess();
    const reply = await sentinel.request({ type: 'start', options }, (m) => m.type === 'started' || m.type === 'error');
    if (reply.type === 'error') {
      sentinel.kill();
      throw new Error(`the sentinel could not start: ${reply.message}`);
    }
    return sentinel;
  }

  /** Stops sending, waits for the messages in flight and the final checks. */
  async stop(): Promise<SentinelResult> {
    const reply = await this.request({ type: 'stop' }, (m) => m.type === 'result');
    return (reply as { type: 'result'; result: SentinelResult }).result;
  }

  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }

  private request(message: ToChild, match: (m: ToParent) => boolean): Promise<ToParent> {
    return new Promise((resolve, reject) => {
      const onMessage = (m: ToParent) => {
        if (!match(m)) return;
        cleanup();
        resolve(m);
      };
      const onExit = (code: number | null) => {
        cleanup();
        reject(new Error(`the sentinel process exited (code ${code}) before answering`));
      };
      const cleanup = () => {
        this.child.off('message', onMessage);
        this.child.off('exit', onExit);
      };
      this.child.on('message', onMessage);
      this.child.once('exit', onExit);
      this.child.send(message);
    });
  }
}

function serve(): void {
  const send = (m: ToParent) => process.send?.(m);
  let sentinel: Sentinel | null = null;
  let reported = 0;
  const report = setInterval(() => {
    const count = sentinel?.failureCount ?? 0;
    if (count !== reported) send({ type: 'failures', count: (reported = count) });
  }, 500);
  process.on('message', (m: ToChild) => {
    if (m.type === 'start') {
      sentinel = new Sentinel(m.options);
      sentinel.start().then(
        () => send({ type: 'started' }),
        (err: unknown) => send({ type: 'error', message: errorMessage(err) }),
      );
    } else if (m.type === 'stop' && sentinel !== null) {
      clearInterval(report);
      sentinel.stop().then(
        (result) => {
          send({ type: 'result', result });
          process.disconnect();
        },
        (err: unknown) => send({ type: 'error', message: errorMessage(err) }),
      );
    }
  });
  // The parent went away: nothing left to report to.
  process.on('disconnect', () => process.exit(0));
}

if (require.main === module) serve();
