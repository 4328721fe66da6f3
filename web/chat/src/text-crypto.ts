/**
 * What every TeamTalk client does to message text (behaviour.md §16, the same as
 * lib/message-crypto.ts on the server side): AES-256-ECB with the 32 ASCII bytes
 * of the shared key, TeamTalk's padding (zero fill, the plaintext length as a
 * big-endian uint32 in the last 4 bytes, one extra block when n mod 16 is 0 or
 * above 12), then Base64; msg_data carries the Base64 text. And the login
 * password, sent as the md5 hex of the plain password.
 */

/** Compiled into every TeamTalk client: a protocol constant, not a secret. */
export const TEAMTALK_AES_KEY = '12345678901234567890123456789012';

const cipher = new aesjs.ModeOfOperation.ecb(asciiBytes(TEAMTALK_AES_KEY));
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8');

function asciiBytes(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
}

export function encryptText(plain: string): Uint8Array {
  const data = utf8.encode(plain);
  const n = data.length;
  const blocks = Math.ceil(n / 16) + (n % 16 === 0 || n % 16 > 12 ? 1 : 0);
  const padded = new Uint8Array(blocks * 16);
  padded.set(data, 0);
  new DataView(padded.buffer).setUint32(padded.length - 4, n);
  return asciiBytes(toBase64(cipher.encrypt(padded)));
}

/** The text, or null when msg_data is not TeamTalk-encrypted text (bad Base64, size or length field). */
export function decryptText(msgData: Uint8Array): string | null {
  const text = String.fromCharCode(...msgData);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  let encrypted: Uint8Array;
  try {
    encrypted = fromBase64(text);
  } catch {
    return null;
  }
  if (encrypted.length === 0 || encrypted.length % 16 !== 0) return null;
  const padded = cipher.decrypt(encrypted);
  const n = new DataView(padded.buffer, padded.byteOffset, padded.byteLength).getUint32(padded.length - 4);
  if (n > padded.length - 4) return null;
  return fromUtf8.decode(padded.subarray(0, n));
}

/** IMLoginReq.password: md5 of the plain password, 32 lowercase hex digits. */
export function passwordDigest(plain: string): string {
  return md5(plain);
}

function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}
