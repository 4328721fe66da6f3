/**
 * Lines in, lines out. Piped, it is plain line-by-line I/O. On a terminal it
 * shows a prompt, and a line printed while the person is typing (a message
 * arriving) is put above the half-typed input instead of through it.
 */
import readline from 'node:readline';

export interface Output {
  line(text: string): void;
}

export class Terminal implements Output {
  /** Created by start(): a readline reads at once, and lines typed before anyone listens would be lost. */
  private rl: readline.Interface | null = null;
  private readonly interactive: boolean;
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly input: NodeJS.ReadStream,
    private readonly output: NodeJS.WriteStream,
  ) {
    this.interactive = input.isTTY === true && output.isTTY === true;
  }

  line(text: string): void {
    if (!this.interactive) {
      this.output.write(text + '\n');
      return;
    }
    readline.clearLine(this.output, 0);
    readline.cursorTo(this.output, 0);
    this.output.write(text + '\n');
    if (!this.closed) this.rl?.prompt(true);
  }

  /**
   * Runs `handle` for every line, one at a time in the order typed; `onEnd`
   * after the last line once input ends (Ctrl-D or end of the pipe).
   */
  start(handle: (line: string) => Promise<void>, onEnd: () => void): void {
    const rl = readline.createInterface({ input: this.input, output: this.interactive ? this.output : undefined, terminal: this.interactive });
    this.rl = rl;
    rl.setPrompt('> ');
    rl.on('line', (line) => {
      this.queue = this.queue
        .then(() => handle(line))
        .catch((err: unknown) => this.line(`error: ${err instanceof Error ? err.message : String(err)}`))
        .then(() => this.prompt());
    });
    // On a terminal Ctrl-C reaches us as a key, not a signal: leave the way Ctrl-D does (logging out).
    rl.on('SIGINT', () => rl.close());
    rl.on('close', () => {
      this.closed = true;
      void this.queue.then(onEnd);
    });
    this.prompt();
  }

  close(): void {
    this.closed = true;
    this.rl?.close();
  }

  private prompt(): void {
    if (this.interactive && !this.closed) this.rl?.prompt();
  }
}
