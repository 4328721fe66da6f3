/**
 * One input line -> one action of the chat session.
 */
import type { ChatSession } from './chat-session';
import { HELP } from './render';

export type CommandResult = 'continue' | 'quit';

export async function runCommand(session: ChatSession, input: string, say: (line: string) => void): Promise<CommandResult> {
  const line = input.trim();
  if (line === '') return 'continue';
  if (!line.startsWith('/')) {
    await session.send(line);
    return 'continue';
  }
  const [command, ...rest] = line.split(/\s+/);
  const arg = line.slice(command.length).trim();
  switch (command) {
    case '/help':
      for (const l of HELP.split('\n')) say(l);
      return 'continue';
    case '/sessions':
      await session.showSessions();
      return 'continue';
    case '/users':
      await session.showUsers(false);
      return 'continue';
    case '/online':
      await session.showUsers(true);
      return 'continue';
    case '/open':
      if (!arg) throw new Error('usage: /open NAME');
      await session.open(arg);
      return 'continue';
    case '/group':
      if (!arg) throw new Error('usage: /group NAME|ID');
      await session.openGroup(arg);
      return 'continue';
    case '/groups':
      await session.showGroups();
      return 'continue';
    case '/newgroup': {
      const [name, members] = rest;
      if (!name || !members) throw new Error('usage: /newgroup NAME user1,user2');
      await session.newGroup(name, members.split(',').filter(Boolean));
      return 'continue';
    }
    case '/history': {
      const n = arg ? Number(arg) : 20;
      if (!Number.isInteger(n) || n < 1 || n > 100) throw new Error('usage: /history [1-100]');
      await session.showHistory(n);
      return 'continue';
    }
    case '/msg': {
      const [name] = rest;
      const text = arg.slice(name?.length ?? 0).trim();
      if (!name || !text) throw new Error('usage: /msg NAME TEXT');
      await session.sendToName(name, text);
      return 'continue';
    }
    case '/close':
      session.close();
      return 'continue';
    case '/quit':
    case '/exit':
      return 'quit';
    default:
      throw new Error(`unknown command ${command} (try /help)`);
  }
}
