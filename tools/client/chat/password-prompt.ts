/**
 * Asks for the password on the terminal without echoing it.
 */

export class PromptCancelled extends Error {}

export function askPassword(input: NodeJS.ReadStream, output: NodeJS.WriteStream, question = 'password: '): Promise<string> {
  if (!input.isTTY) {
    return Promise.reject(new Error('no password given: use --password P, set TT_PASSWORD, or run on a terminal to be asked'));
  }
  output.write(question);
  input.setRawMode(true);
  input.setEncoding('utf8');
  input.resume();
  return new Promise((resolve, reject) => {
    let typed = '';
    const finish = (result: () => void) => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      output.write('\n');
      result();
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return finish(() => resolve(typed));
        // Ctrl-C and Ctrl-D give up, as they do at a shell prompt.
        if (ch === '\u0003' || ch === '\u0004') return finish(() => reject(new PromptCancelled('cancelled')));
        if (ch === '\u007f' || ch === '\b') typed = [...typed].slice(0, -1).join('');
        else if (ch >= ' ') typed += ch;
      }
    };
    input.on('data', onData);
  });
}
