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

const two = (n: number) => String(n).padStart(2, '0');

/** "14:02" for today, "2026-11-20 14:02" for other days (local time). */
export function clock(unixSeconds: number, now = new Date()): string {
  const d = new Date(unixSeconds * 1000);
  const time = `${two(d.getHours())}:${two(d.getMinutes())}`;
  const sameDay = d.getFullYear() === now.getFullYear() && d.getMonth() === now.getMonth() && d.getDate() === now.getDate();
  return sameDay ? time : `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${time}`;
}

export function isGroupMessageType(msgType: number): boolean {
  return msgType === MsgType.MSG_TYPE_GROUP_TEXT || msgType === MsgType.MSG_TYPE_GROUP_AUDIO;
}

/** The text of a message as a person reads it: decrypted text, or a description of audio. */
export function messageText(msgType: number, data: Uint8Array): string {
  if (msgType === MsgType.MSG_TYPE_SINGLE_AUDIO || msgType === MsgType.MSG_TYPE_GROUP_AUDIO) {
    const seconds = data.length >= 4 ? Buffer.from(data).readUInt32BE(0) : 0;
    return `[voice message, ${seconds} s]`;
  }
  const plain = decryptMessageText(data);
  // Control characters could move the cursor or fake other lines: one message, one line.
  return plain === null ? '[message that cannot be decrypted]' : withPictureLinks(plain.toString('utf8')).replace(/[\x00-\x1f\x7f]+/g, ' ');
}

const PICTURE_PREFIX = '&$#@~^@[{:';
const PICTURE_SUFFIX = ':}]&$~@#@';

/** Pictures travel as URLs between TeamTalk's markers (files.md §2.2); shown as "[picture: URL]". */
export function withPictureLinks(text: string): string {
  let out = '';
  let rest = text;
  for (;;) {
    const start = rest.indexOf(PICTURE_PREFIX);
    const end = start < 0 ? -1 : rest.indexOf(PICTURE_SUFFIX, start + PICTURE_PREFIX.length);
    if (end < 0) return out + rest;
    out += `${rest.slice(0, start)}[picture: ${rest.slice(start + PICTURE_PREFIX.length, end)}]`;
    rest = rest.slice(end + PICTURE_SUFFIX.length);
  }
}

/** "[14:02] bob: hello" */
export function messageLine(style: Style, time: number, sender: string, text: string): string {
  return `${style.dim(`[${clock(time)}]`)} ${style.name(sender)}: ${text}`;
}

/** A short one-line preview of a message. */
export function preview(text: string, width = 40): string {
  return text.length > width ? `${text.slice(0, width - 1)}…` : text;
}

/** Rows as aligned columns, each line indented by two spaces. */
export function table(rows: string[][]): string[] {
  if (rows.length === 0) return [];
  const columns = Math.max(...rows.map((r) => r.length));
  const widths = Array.from({ length: columns }, (_, col) => Math.max(...rows.map((r) => (r[col] ?? '').length)));
  return rows.map((r) => ('  ' + r.map((cell, col) => (col === r.length - 1 ? cell : cell.padEnd(widths[col]))).join('  ')).trimEnd());
}
