/**
 * One input line -> one action of the chat session. The table below is also
 * what /help prints, so the two cannot drift apart.
 */
import type { ChatSession } from './chat-session';
import type { Output } from './terminal';
import { table } from './render';

export type CommandResult = 'continue' | 'quit';

interface Command {
  usage: string;
  summary: string;
  /** `arg` is the rest of the line after the command, trimmed. */
  run(session: ChatSession, arg: string, out: Output): Promise<CommandResult | void> | CommandResult | void;
}

const MAX_HISTORY_PAGE = 100;

const COMMANDS: Record<string, Command> = {
  '/sessions': { usage: '/sessions', summary: 'recent conversations with unread counts', run: (s) => s.showSessions() },
  '/users': { usage: '/users', summary: 'everyone, with who is online', run: (s) => s.showUsers(false) },
  '/online': { usage: '/online', summary: 'who is online', run: (s) => s.showUsers(true) },
  '/open': {
    usage: '/open NAME',
    summary: 'open a conversation (shows the last 20 messages, marks them read)',
    run: (s, arg) => s.open(required(arg, '/open NAME')),
  },
  '/group': {
    usage: '/group NAME|ID',
    summary: 'open a group conversation',
    run: (s, arg) => s.openGroup(required(arg, '/group NAME|ID')),
  },
  '/groups': { usage: '/groups', summary: 'your groups', run: (s) => s.showGroups() },
  '/newgroup': {
    usage: '/newgroup NAME a,b,c',
    summary: 'create a group with these people (and you)',
    run: (s, arg) => {
      const m = /^(.+)\s+(\S+)$/.exec(arg);
      if (!m) throw new Error('usage: /newgroup NAME user1,user2');
      return s.newGroup(m[1], m[2].split(',').filter(Boolean));
    },
  },
  '/history': {
    usage: '/history [N]',
    summary: `N more (older) messages of the open conversation (default 20, at most ${MAX_HISTORY_PAGE})`,
    run: async (s, arg) => {
      const n = arg ? Number(arg) : 20;
      if (!Number.isInteger(n) || n < 1 || n > MAX_HISTORY_PAGE) throw new Error(`usage: /history [1-${MAX_HISTORY_PAGE}]`);
      await s.showHistory(n);
    },
  },
  '/msg': {
    usage: '/msg NAME TEXT',
    summary: 'send one message without opening the conversation',
    run: (s, arg) => s.sendToName(...nameAndRest(arg, '/msg NAME TEXT')),
  },
  '/send-file': {
    usage: '/send-file NAME PATH',
    summary: 'send a file (online if NAME is at a computer, else it waits for them on the file server)',
    run: (s, arg) => s.files.send(...nameAndRest(arg, '/send-file NAME PATH')),
  },
  '/get-file': {
    usage: '/get-file [N]',
    summary: 'files offered to you; with N, fetch that one into the download folder',
    run: (s, arg) => s.files.get(arg),
  },
  '/close': { usage: '/close', summary: 'leave the open conversation', run: (s) => s.close() },
  '/help': {
    usage: '/help',
    summary: 'this list',
    run: (_s, _arg, out) => {
      out.line('commands:');
      for (const line of helpLines()) out.line(line);
    },
  },
  '/quit': { usage: '/quit', summary: 'log out and exit (Ctrl-D too)', run: () => 'quit' },
};

function helpLines(): string[] {
  const rows = Object.values(COMMANDS).map((c) => [c.usage, c.summary]);
  rows.push(['anything else', 'is sent to the open conversation (start it with // to send a leading /)']);
  return table(rows);
}

function required(arg: string, usage: string): string {
  if (!arg) throw new Error(`usage: ${usage}`);
  return arg;
}

/** "NAME REST": the first word and the rest of the line (which may have spaces). */
function nameAndRest(arg: string, usage: string): [string, string] {
  const m = /^(\S+)\s+(.+)$/.exec(arg);
  if (!m) throw new Error(`usage: ${usage}`);
  return [m[1], m[2]];
}

export async function runCommand(session: ChatSession, input: string, out: Output): Promise<CommandResult> {
  const line = input.trim();
  if (line === '') return 'continue';
  if (!line.startsWith('/') || line.startsWith('//')) {
    await session.send(line.startsWith('//') ? line.slice(1) : line);
    return 'continue';
  }
  const name = line.split(/\s/, 1)[0].toLowerCase();
  const command = Object.prototype.hasOwnProperty.call(COMMANDS, name) ? COMMANDS[name] : name === '/exit' ? COMMANDS['/quit'] : undefined;
  if (!command) throw new Error(`unknown command ${name} (try /help)`);
  return (await command.run(session, line.slice(name.length).trim(), out)) ?? 'continue';
}
