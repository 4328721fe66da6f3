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
  private readonly rl: readline.Interface;
  private readonly interactive: boolean;
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    input: NodeJS.ReadStream,
    private readonly output: NodeJS.WriteStream,
  ) {
    this.interactive = input.isTTY === true && output.isTTY === true;
    this.rl = readline.createInterface({ input, output: this.interactive ? output : undefined, terminal: this.interactive });
    this.rl.setPrompt('> ');
  }

  line(text: string): void {
    if (!this.interactive) {
      this.output.write(text + '\n');
      return;
    }
    readline.clearLine(this.output, 0);
    readline.cursorTo(this.output, 0);
    this.output.write(text + '\n');
    if (!this.closed) this.rl.prompt(true);
  }

  /**
   * Runs `handle` for every line, one at a time in the order typed; `onEnd`
   * after the last line once input ends (Ctrl-D or end of the pipe).
   */
  start(handle: (line: string) => Promise<void>, onEnd: () => void): void {
    this.rl.on('line', (line) => {
      this.queue = this.queue
        .then(() => handle(line))
        .catch((err: unknown) => this.line(`error: ${err instanceof Error ? err.message : String(err)}`))
        .then(() => this.prompt());
    });
    // On a terminal Ctrl-C reaches us as a key, not a signal: leave the way Ctrl-D does (logging out).
    this.rl.on('SIGINT', () => this.rl.close());
    this.rl.on('close', () => {
      this.closed = true;
      void this.queue.then(onEnd);
    });
    this.prompt();
  }

  close(): void {
    this.closed = true;
    this.rl.close();
  }

  private prompt(): void {
    if (this.interactive && !this.closed) this.rl.prompt();
  }
}
