/**
 * TeamTalk text-message encryption (done by clients; behaviour.md §16):
 * AES-256-ECB with the 32 ASCII bytes of a shared key, TeamTalk's own padding
 * (zero fill, plaintext length as a big-endian uint32 in the last 4 bytes),
 * then Base64. msg_data carries the Base64 text. Servers store it as received.
 *
 * The key below is compiled into every TeamTalk client; it is a protocol
 * constant, not a secret (deployments that change it rebuild their clients).
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';

export const TEAMTALK_DEFAULT_AES_KEY = '12345678901234567890123456789012';

function keyBytes(key: string): Buffer {
  const bytes = Buffer.from(key, 'latin1');
  if (bytes.length !== 32) throw new Error('the TeamTalk AES key must be exactly 32 characters');
  return bytes;
}

export function encryptMessageText(plain: string | Buffer, key = TEAMTALK_DEFAULT_AES_KEY): Buffer {
  const data = typeof plain === 'string' ? Buffer.from(plain, 'utf8') : plain;
  const n = data.length;
  const blocks = Math.ceil(n / 16) + (n % 16 === 0 || n % 16 > 12 ? 1 : 0);
  const padded = Buffer.alloc(blocks * 16);
  data.copy(padded, 0);
  padded.writeUInt32BE(n, padded.length - 4);
  const cipher = createCipheriv('aes-256-ecb', keyBytes(key), null);
  cipher.setAutoPadding(false);
  const encrypted = Buffer.concat([cipher.update(padded), cipher.final()]);
  return Buffer.from(encrypted.toString('base64'), 'ascii');
}

/** Null when the bytes are not a TeamTalk-encrypted text (bad Base64, size, or length field). */
export function decryptMessageText(msgData: Uint8Array, key = TEAMTALK_DEFAULT_AES_KEY): Buffer | null {
  const text = Buffer.from(msgData).toString('ascii');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  const encrypted = Buffer.from(text, 'base64');
  if (encrypted.length === 0 || encrypted.length % 16 !== 0) return null;
  const decipher = createDecipheriv('aes-256-ecb', keyBytes(key), null);
  decipher.setAutoPadding(false);
  const padded = Buffer.concat([decipher.update(encrypted), decipher.final()]);
  const n = padded.readUInt32BE(padded.length - 4);
  if (n > padded.length - 4) return null;
  return padded.subarray(0, n);
}
