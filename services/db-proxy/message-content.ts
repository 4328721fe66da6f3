/**
 * What a message's bytes may be, and how audio travels: on the wire msg_data
 * is a 4-byte big-endian duration followed by the audio bytes; in storage the
 * bytes go to IMAudio and the message row's content holds the IMAudio id.
 */
import { isUtf8 } from 'node:buffer';
import { IM } from '../../pdu/commands';

const { MsgType } = IM.BaseDefine;

/** IMMessage_N.content / IMGroupMessage_N.content are varchar(4096). */
export const MAX_TEXT_CHARACTERS = 4096;
/** IMAudio.data is a mediumblob. */
export const MAX_AUDIO_BYTES = 16 * 1024 * 1024 - 1;

export function isSingleType(type: number): boolean {
  return type === MsgType.MSG_TYPE_SINGLE_TEXT || type === MsgType.MSG_TYPE_SINGLE_AUDIO;
}

export function isGroupType(type: number): boolean {
  return type === MsgType.MSG_TYPE_GROUP_TEXT || type === MsgType.MSG_TYPE_GROUP_AUDIO;
}

export function isAudioType(type: number): boolean {
  return type === MsgType.MSG_TYPE_SINGLE_AUDIO || type === MsgType.MSG_TYPE_GROUP_AUDIO;
}

export interface AudioClip {
  duration: number;
  data: Buffer;
}

/** Duration + bytes of an audio msg_data; null when there are no audio bytes after the duration. */
export function splitAudio(msgData: Uint8Array): AudioClip | null {
  if (msgData.length <= 4) return null;
  const buf = Buffer.from(msgData.buffer, msgData.byteOffset, msgData.length);
  return { duration: buf.readUInt32BE(0), data: buf.subarray(4) };
}

export function joinAudio(duration: number, data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(4 + data.length);
  out.writeUInt32BE(duration >>> 0, 0);
  out.set(data, 4);
  return out;
}

/**
 * The text stored for a text message, or why it cannot be stored. Clients
 * send Base64 of the encrypted text; anything that is valid UTF-8 within the
 * column's 4096 characters is accepted (the golden captures hold plain text).
 */
export function textContent(msgData: Uint8Array): { text: string } | { problem: string } {
  if (!isUtf8(msgData)) return { problem: 'text message is not valid UTF-8' };
  const text = Buffer.from(msgData.buffer, msgData.byteOffset, msgData.length).toString('utf8');
  // MariaDB counts characters (code points); JS length counts UTF-16 units, so only long texts need the exact count.
  if (text.length > MAX_TEXT_CHARACTERS && [...text].length > MAX_TEXT_CHARACTERS) {
    return { problem: `text message longer than ${MAX_TEXT_CHARACTERS} characters` };
  }
  return { text };
}
