/**
 * How the chat client shows things: one event per line, stable prefixes, colour
 * only on a terminal (and never with NO_COLOR).
 */
import { IM } from '../../../pdu/commands';
import { decryptMessageText } from '../../../lib/message-crypto';

const { MsgType } = IM.BaseDefine;

export interface Style {
  name(s: string): string;
  dim(s: string): string;
  error(s: string): string;
  notice(s: string): string;
}

export function makeStyle(color: boolean): Style {
  const wrap = (code: number) => (s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
  return { name: wrap(36), dim: wrap(90), error: wrap(31), notice: wrap(33) };
}

export function clock(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

/** The text of a message as a person reads it: decrypted text, or a description of audio. */
export function messageText(msgType: number, data: Uint8Array): string {
  if (msgType === MsgType.MSG_TYPE_SINGLE_AUDIO || msgType === MsgType.MSG_TYPE_GROUP_AUDIO) {
    const seconds = data.length >= 4 ? Buffer.from(data).readUInt32BE(0) : 0;
    return `[voice message, ${seconds} s]`;
  }
  const plain = decryptMessageText(data);
  return plain === null ? '[message that cannot be decrypted]' : plain.toString('utf8');
}

/** "[14:02] bob: hello" */
export function messageLine(style: Style, time: number, sender: string, text: string): string {
  return `${style.dim(`[${clock(time)}]`)} ${style.name(sender)}: ${text}`;
}

export function table(rows: string[][]): string[] {
  if (rows.length === 0) return [];
  const widths = rows[0].map((_, col) => Math.max(...rows.map((r) => (r[col] ?? '').length)));
  return rows.map((r) => '  ' + r.map((cell, col) => (col === r.length - 1 ? cell : cell.padEnd(widths[col]))).join('  '));
}

export const HELP = `commands:
  /sessions              recent conversations with unread counts
  /users                 everyone, with who is online
  /online                who is online
  /open NAME             open a conversation (shows the last messages, marks them read)
  /group NAME|ID         open a group conversation
  /groups                your groups
  /newgroup NAME a,b,c   create a group with these people
  /history [N]           N more older messages of the open conversation (default 20)
  /msg NAME TEXT         send one message without opening the conversation
  /close                 leave the open conversation
  /help                  this list
  /quit                  log out and exit (Ctrl-D too)
  anything else          is sent to the open conversation`;
